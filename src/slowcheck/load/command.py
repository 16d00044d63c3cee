"""``slowcheck load SCENARIO``: the flags made a plan, the target (or the embedded mock), the run, the verdict.

The plan is checked once before anything starts (``load.validation``); the locust scenarios run in locust's own
process (``load.process``), which writes ``summary.json`` and ``index.html`` itself; ``batch`` runs here. This
process shows progress and the summary's lines, and turns the verdict into the exit code.
"""

from __future__ import annotations

import argparse
import contextlib
import shutil
import sys
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

from slowcheck import api
from slowcheck.contract.preflight import check_reachable
from slowcheck.embedded import INSTANT, add_target_arguments, target_or_mock
from slowcheck.errors import ConfigError
from slowcheck.github import publish
from slowcheck.live import last_line
from slowcheck.load import batch as load_batch, journal, outcome, repeat as load_repeat
from slowcheck.load.console import describe
from slowcheck.load.limits import plan_notes
from slowcheck.load.options import RUN_FILE, LoadPlan, add_flags, read_run
from slowcheck.load.process import SCENARIOS, run_scenario
from slowcheck.load.validation import Checked, check
from slowcheck.network import Network, add_arguments as add_network
from slowcheck.redaction import redact_folder
from slowcheck.report import add_report_dir, new_report_dir
from slowcheck.target_url import api_root
from slowcheck.verdict import Verdict

__all__ = ["DESCRIPTION", "HELP", "add_arguments", "main", "progress"]

HELP = "load the API (or the embedded mock): submit, rate-limit, poll, jobs or batch"
DESCRIPTION = (
    "Run a load scenario in locust's own process against --base-url, or against the embedded mock when no URL is "
    "given; writes summary.json, index.html and locust's CSVs. Exit 0: every threshold holds; 1: one is breached; "
    "2: usage error or target unreachable; 3: inconclusive (no submission accepted, no reading of the limit, a "
    "batch with no line done)."
)

_MOCK_LIMIT = 10.0
"""The embedded mock's per-key submit limit in the rate-limit scenario: something for the probe to find."""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "scenario", choices=sorted([*SCENARIOS, "batch"]), help="submit, rate-limit, poll, jobs or batch"
    )
    add_target_arguments(parser, without="the embedded mock is started and loaded", model="model named in submissions")
    add_network(parser)
    add_report_dir(parser, "<scenario>")
    add_flags(parser, cli=True)


def main(args: argparse.Namespace) -> int:
    plan = LoadPlan.from_options(args.scenario, args)
    base_url: str | None = args.base_url
    _check_repeat(plan)
    if plan.resume is not None:
        plan, base_url = _resumed(plan, base_url)
        plan = replace(plan, repeat=1)  # one run of a repeat continues alone
    checked = check(plan)
    network = Network.from_args(args)
    report_dir: Path = plan.resume or args.report_dir or new_report_dir(plan.scenario)
    if plan.repeat > 1:
        return _repeated(args, checked, base_url, report_dir, network)
    summary = (_batch if plan.scenario == "batch" else _locust)(checked, base_url, args.api_key, report_dir, network)
    for line in describe(summary):
        print(line)
    print(f"report: {report_dir / 'index.html'}")
    judged = outcome.judge(summary)
    print(judged.line())
    publish(args, report_dir, f"load {plan.scenario}", judged)
    return judged.exit_code


def _check_repeat(plan: LoadPlan) -> None:
    """``--repeat N`` runs the plan anew N times: N is 1 or more, and a resumed run is one run."""
    if plan.repeat < 1:
        raise ConfigError(f"--repeat {plan.repeat}: give 1 or more runs")
    if plan.repeat > 1 and plan.resume is not None:
        raise ConfigError("--repeat runs the plan anew each time; it does not combine with --resume")


def _repeated(
    args: argparse.Namespace, checked: Checked, base_url: str | None, report_dir: Path, network: Network
) -> int:
    """``--repeat N``: each run's line as it ends, the headline figures' median and spread, the worst verdict
    (``load.repeat``)."""
    count = checked.plan.repeat
    run = _batch if checked.plan.scenario == "batch" else _locust

    def done(index: int, folder: Path, summary: dict[str, Any], judged: Verdict) -> None:
        print(f"run {index}/{count}: {judged.line()} ({folder / 'index.html'})", flush=True)
        publish(args, folder, f"load {checked.plan.scenario} run {index}", judged)

    repeated = load_repeat.repeat(
        count, report_dir, lambda folder: run(checked, base_url, args.api_key, folder, network), done
    )
    print(f"{count} runs of {checked.plan.scenario}: median and spread (max - min) of the headline figures")
    for line in load_repeat.headline(repeated.document):
        print(line)
    print(f"report: {report_dir / load_repeat.REPEAT_FILE}")
    print(repeated.verdict.line())
    return repeated.verdict.exit_code


def _locust(
    checked: Checked, base_url: str | None, api_key: str | None, report_dir: Path, network: Network
) -> dict[str, Any]:
    plan = checked.plan
    limit = plan.mock_limit if plan.mock_limit is not None else (_MOCK_LIMIT if plan.scenario == "rate-limit" else 0)
    with target_or_mock(
        base_url, api_key, model=plan.model, submit_rate=0 if plan.rate_limit is not None else limit,
        capacity=plan.mock_capacity, tier=plan.rate_limit, gateway_rps=plan.gateway_rps,
    ) as endpoint:  # fmt: skip
        check_reachable(endpoint.root, endpoint.key, plan.model, network)
        if plan.scenario != "rate-limit":  # the probe is there to meet the limit
            for note in plan_notes(
                plan.scenario, plan.peak_rate(), plan.budget(), polls=plan.scenario in ("poll", "jobs")
            ):
                print(note, flush=True)
        span = f"{plan.duration:g} s"
        if plan.scenario == "rate-limit":
            span = f"up to {span} (it stops once it has watched two windows of the limit)"
        print(f"slowcheck load: {plan.scenario} against {endpoint.label} for {span}", flush=True)
        with progress(plan, report_dir) as tick:
            return run_scenario(checked, endpoint, report_dir, network=network, progress=tick)


def _batch(
    checked: Checked, base_url: str | None, api_key: str | None, report_dir: Path, network: Network
) -> dict[str, Any]:
    plan = checked.plan
    report_dir.mkdir(parents=True, exist_ok=True)
    # The embedded mock runs lines as fast as it can: the run measures the pipeline, not simulated time.
    with target_or_mock(base_url, api_key, model=plan.model, timing=INSTANT) as endpoint:
        batch_root = endpoint.root if endpoint.embedded else (api_root(plan.batch_base_url) if plan.batch_base_url
                                                               else None)  # fmt: skip
        if batch_root is None:
            raise ConfigError("load batch: give --batch-base-url (inference.net: https://batch.inference.net/v1)")
        check_reachable(endpoint.root, endpoint.key, plan.model, network)
        source = plan.input
        if source is None:
            source = report_dir / "input.jsonl"
            load_batch.generated_file(source, plan.lines, plan.model)
        print(f"slowcheck load: batch of {source} against {endpoint.label}", flush=True)
        summary = load_batch.run(batch_root, endpoint.label, endpoint.key, input_file=source,
                                 poll_interval=plan.poll_interval, timeout=plan.timeout,
                                 thresholds=list(plan.threshold), report_dir=report_dir, network=network,
                                 metrics_port=plan.metrics_port,
                                 progress=lambda line: print(f"  batch: {line}", flush=True))  # fmt: skip
        redact_folder(report_dir, [*endpoint.keys, *network.secrets()], announce="slowcheck load")
    return summary


def _resumed(given: LoadPlan, base_url: str | None) -> tuple[LoadPlan, str | None]:
    """The plan in ``--resume DIR``'s ``run.json``, with this run's own ``--drain`` and ``--processes``, and the
    target it loaded (unless ``--base-url`` names one); the key is asked anew."""
    if given.scenario != "jobs":
        raise ConfigError("--resume continues a jobs run: slowcheck load jobs --resume DIR")
    folder = given.resume
    assert folder is not None
    try:
        saved, saved_url = read_run(folder / RUN_FILE)
    except (OSError, ValueError, TypeError) as exc:
        raise ConfigError(f"--resume {folder}: no readable {RUN_FILE} of a jobs run there ({exc})") from None
    if saved.scenario != "jobs":
        raise ConfigError(f"--resume {folder}: that was a {saved.scenario} run; only a jobs run continues")
    if not journal.files(folder):
        raise ConfigError(f"--resume {folder}: no journal to continue from")
    if saved_url is None and not api.base_url(base_url):
        raise ConfigError(f"--resume {folder}: that run loaded the embedded mock, which kept nothing to resume")
    return replace(saved, drain=given.drain, processes=given.processes, resume=folder), base_url or saved_url


@contextlib.contextmanager
def progress(plan: LoadPlan, folder: Path | None = None) -> Iterator[Callable[[float], None]]:
    """Elapsed time while locust works, and the run's live line (``live.json`` in ``folder``) once it has one:
    rewritten in place on a terminal, every 10 s otherwise."""
    tty = sys.stdout.isatty()
    shown = -10.0
    of = f"at most {plan.duration:g} s" if plan.scenario == "rate-limit" else f"about {plan.duration:g} s"

    def tick(elapsed: float) -> None:
        nonlocal shown
        live = last_line(folder) if folder is not None else None
        text = f"{plan.scenario}: {elapsed:.0f} s of {of}" + (f" | {live}" if live else "")
        if tty:
            width = shutil.get_terminal_size().columns - 3
            print(f"\r  {text[:width]:<{width}}", end="", flush=True)
        elif elapsed - shown >= 10:
            shown = elapsed
            print(f"  {text}", flush=True)

    try:
        yield tick
    finally:
        if tty:
            print("\r" + " " * (shutil.get_terminal_size().columns - 1) + "\r", end="", flush=True)
