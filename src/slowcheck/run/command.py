"""``slowcheck run``: the contract suite, a short load phase and the SDK check, then one report.

Against the embedded mock by default (started, used by every phase, stopped), or ``--base-url`` and keys as
elsewhere. A target that is not this machine is not load-tested unless ``--load-seconds`` asks for it: the
real API bills every submission.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from slowcheck import __version__, baseline as baselines
from slowcheck.checks.report import counts, verdict as contract_verdict, write_junit, write_results
from slowcheck.contract.command import judged_line, known_ids, print_plan
from slowcheck.contract.options import add_flags
from slowcheck.contract.plan import plan_from
from slowcheck.contract.runner import Suite, open_suite
from slowcheck.embedded import Endpoint
from slowcheck.errors import ConfigError
from slowcheck.findings import Outcome, Result
from slowcheck.github import one_line, publish
from slowcheck.load import command as load_command
from slowcheck.load.console import describe
from slowcheck.load.options import LoadPlan
from slowcheck.load.process import run_scenario
from slowcheck.load.validation import Checked, check
from slowcheck.network import Network
from slowcheck.prices import combine as combine_spends
from slowcheck.redaction import redact_folder
from slowcheck.report import add_report_dir, new_report_dir
from slowcheck.run.page import write_page
from slowcheck.sdk.console import finished, table
from slowcheck.sdk.matrix import Row, SdkRun, SdkTarget, run_plan
from slowcheck.sdk.pins import INSTALLED
from slowcheck.sdk.plan import SdkPlan
from slowcheck.target_url import is_loopback
from slowcheck.verdict import Verdict, combine

__all__ = ["DESCRIPTION", "HELP", "add_arguments", "main"]

HELP = "the main job: contract suite, a short load phase and the SDK check, then one HTML report"
DESCRIPTION = (
    "Against the embedded mock by default (or --base-url): the contract rules, short submit, poll and jobs load "
    "phases, and the SDK check, with progress; writes reports/<timestamp>/ (index.html, summary.json, junit.xml, "
    "results.json, the load CSVs) and points reports/latest at it. Exit 0: all good; 1: something checked is "
    "wrong; 2: usage error, bad configuration or target unreachable; 3: inconclusive (something that should have "
    "run did not)."
)

_LOCAL_LOAD_SECONDS = 30.0
_DEFAULT_THRESHOLDS = ["submit.errors==0"]
"""Without --threshold, a submission that fails under light load fails the run."""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_flags(parser)
    parser.add_argument(
        "--load-seconds",
        type=float,
        metavar="SECONDS",
        help="length of the submit, poll and jobs load phases together; 0 skips them; a target that is not this "
        f"machine is loaded only when this is given (default: {_LOCAL_LOAD_SECONDS:g} on this machine, else 0)",
    )
    parser.add_argument("--threshold", action="append", default=[], metavar="EXPR",
                        help="a load threshold on the submit phase, e.g. 'submit.latency_ms.p95<250' (default: "
                        f"{', '.join(_DEFAULT_THRESHOLDS)})")  # fmt: skip
    parser.add_argument("--sdk-matrix", action="store_true", help="every pinned SDK version, not just the installed")
    add_report_dir(parser)
    baselines.add_arguments(parser)  # the contract phase's findings


def main(args: argparse.Namespace) -> int:
    report_dir: Path = args.report_dir or new_report_dir()
    plan = plan_from(args, report_dir)
    base_url = plan.base_url
    load_seconds = args.load_seconds
    if load_seconds is None:
        load_seconds = _LOCAL_LOAD_SECONDS if not base_url or is_loopback(base_url) else 0.0
    if load_seconds < 0:
        raise ConfigError(f"--load-seconds: expected seconds >= 0, got {load_seconds:g}")
    phases = _load_plans(args, load_seconds)  # a typo fails now, not after the contract phase
    sdk_plan = _sdk_plan(args.sdk_matrix, model=plan.model, network=plan.network)
    accepted = baselines.from_args(args, known_ids())
    network = plan.network
    started = time.monotonic()
    clock = Clock(started)
    with open_suite(plan) as suite:
        target, label, keys = suite.target, suite.label, suite.secrets
        key = keys[0]
        print(f"slowcheck run against {label}; report in {report_dir}", flush=True)
        print_plan(suite, base_url)
        suite.prepare()  # the key, the model and the URL are checked before the report folder exists
        report_dir.mkdir(parents=True, exist_ok=True)
        for note in suite.preflight.notes if suite.preflight else []:
            print(f"note: {note}", flush=True)
        results = _contract(suite, clock, report_dir, accepted, update=args.update_baseline)
        endpoint = Endpoint(target.root, label, tuple(keys), embedded=not base_url)
        loads = _load(args, phases, endpoint, load_seconds, clock, report_dir, network)
        sdk = _sdk(sdk_plan, SdkTarget(target.root, key, target.batch_root), clock)
    judged = _judge(results, suite, loads, sdk.verdict)
    summary = _summary(label, results, loads, sdk.document, time.monotonic() - started, args, load_seconds, judged)
    summary["settings"] |= network.settings()  # header names only: their values are credentials
    summary["contract"]["conditions"] = target.conditions()
    summary["spend"] = combine_spends(target.session.spend.to_json(), loads.get("jobs", {}).get("spend"))  # estimates
    (report_dir / "summary.json").write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
    sdk.write(report_dir, page=False)  # the run's page includes the matrix
    write_page(report_dir / "index.html", summary, results_path=report_dir / "results.json")
    redact_folder(report_dir, keys, announce="slowcheck run")
    _link_latest(report_dir)
    print(f"report: {report_dir / 'index.html'}")
    print(f"verdict: {judged.line()} ({summary['duration_s']} s)", file=sys.stdout, flush=True)
    publish(args, report_dir, "run", judged)
    return judged.exit_code


class Clock:
    def __init__(self, started: float) -> None:
        self.started = started

    def __str__(self) -> str:
        return f"{time.monotonic() - self.started:6.1f} s"


def _contract(
    suite: Suite, clock: Clock, folder: Path, accepted: baselines.Baseline | None, *, update: bool
) -> list[Result]:
    total = len(suite.rules)
    print(f"[{clock}] contract: {total} rules", flush=True)
    done: list[Result] = []

    def progress(result: Result) -> None:
        done.append(result)
        mark, message = judged_line(result, accepted)
        print(f"[{clock}] contract {len(done):>2}/{total} {mark:9} {result.rule.id}", flush=True)
        if result.outcome is not Outcome.HELD and message:
            print(f"           {one_line(message)}", flush=True)

    began = time.monotonic()
    results = suite.run(progress=progress)
    seconds = time.monotonic() - began
    write_results(folder / "results.json", results, target=str(suite.target.root), duration=seconds, plan=suite.plan,
                  conditions=suite.target.conditions())  # fmt: skip
    write_junit(folder / "junit.xml", results, duration=seconds)
    if accepted is not None:
        accepted.record(folder / "results.json")
        for line in accepted.finish(results, update=update):
            print(f"[{clock}] {line}", flush=True)
    tally = counts(results)
    print(
        f"[{clock}] contract: {tally['held']} held, {tally['violated']} violated, {tally['deviation']} deviations, "
        f"{tally['skipped']} skipped, {tally['not run']} not run ({suite.target.spent()})"
    )
    return results


def _load_plans(args: argparse.Namespace, seconds: float) -> dict[str, Checked]:
    """A third of ``seconds`` each: acks under an open model, polling strategies compared, and jobs followed to
    their end; checked even when no load runs (a typo is a typo)."""
    share = max(2.0, seconds / 3)
    submit = LoadPlan.for_scenario("submit")
    poll = LoadPlan.for_scenario("poll")
    jobs = LoadPlan.for_scenario("jobs")
    plans = (
        replace(submit, duration=share, model=args.model, threshold=tuple(args.threshold or _DEFAULT_THRESHOLDS)),
        replace(poll, duration=share, model=args.model, drain=30.0),
        replace(jobs, duration=share, model=args.model, drain=30.0, rate="10", mix="chat=3,text=1,embedding=1",
                canaries=0.1, prices=args.prices),
    )  # fmt: skip
    return {plan.scenario: check(plan) for plan in plans}


def _load(
    args: argparse.Namespace,
    phases: dict[str, Checked],
    endpoint: Endpoint,
    seconds: float,
    clock: Clock,
    folder: Path,
    network: Network,
) -> dict[str, dict[str, Any]]:
    if seconds <= 0:
        asked = args.load_seconds is not None
        why = "--load-seconds 0" if asked else "pass --load-seconds to load a target that is not this machine"
        print(f"[{clock}] load: skipped ({why})")
        return {}
    summaries = {}
    for scenario, checked in phases.items():
        print(f"[{clock}] load: {scenario} for {checked.plan.duration:g} s", flush=True)
        with load_command.progress(checked.plan, folder / f"load-{scenario}") as tick:
            summaries[scenario] = run_scenario(
                checked, endpoint, folder / f"load-{scenario}", network=network, progress=tick
            )
        for line in describe(summaries[scenario]):
            print(f"           {line.strip()}", flush=True)
    return summaries


def _sdk_plan(matrix: bool, *, model: str, network: Network) -> SdkPlan:
    """With ``--sdk-matrix`` every pinned version (Node's where it is installed), else the openai installed beside
    slowcheck; the contract's model and network, the plan's defaults otherwise."""
    if matrix:
        return SdkPlan(model=model, network=network)
    return SdkPlan(python=(INSTALLED,), node=(), model=model, network=network)


def _sdk(plan: SdkPlan, target: SdkTarget, clock: Clock) -> SdkRun:
    python, node = plan.versions()
    print(f"[{clock}] sdk: {', '.join([*python, *(f'node {v}' for v in node)])}", flush=True)

    def progress(row: Row) -> None:
        print(f"[{clock}] sdk: {finished(row)}", flush=True)

    run = run_plan(plan, target, progress=progress)
    for line in table(run.document):
        print(f"           {line}", flush=True)
    print(f"[{clock}] sdk: {run.verdict.line()}", flush=True)
    return run


def _judge(results: list[Result], suite: Suite, loads: dict[str, dict[str, Any]], sdk: Verdict | None) -> Verdict:
    breached = [t for s in loads.values() for t in s["thresholds"] if not t["passed"]]
    contract = contract_verdict(results, suite.plan)
    parts = [Verdict(contract.status, tuple(f"contract: {r}" for r in contract.reasons))]
    if breached:
        parts.append(Verdict("fail", (f"{len(breached)} load thresholds breached",)))
    if sdk is not None:  # the matrix's own verdict, inconclusive included: a version that could not run
        parts.append(Verdict(sdk.status, tuple(f"sdk: {r}" for r in sdk.reasons)))
    return combine(*parts)


def _summary(
    label: str,
    results: list[Result],
    loads: dict[str, dict[str, Any]],
    sdk: dict[str, Any] | None,
    duration: float,
    args: argparse.Namespace,
    load_seconds: float,
    judged: Verdict,
) -> dict[str, Any]:
    return {
        "verdict": judged.status,
        "reasons": list(judged.reasons),
        "target": label,
        "generated_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "duration_s": round(duration, 1),
        "contract": {"counts": counts(results), "rules": len(results)},
        "load": loads,
        "sdk": sdk,
        "settings": {
            "model": args.model,
            "completion_timeout_s": args.completion_timeout,
            "max_requests": args.max_requests,
            "rate_limit_per_minute": args.rate_limit,
            "load_seconds": load_seconds,
            "thresholds": args.threshold,
            "lenient": args.lenient,
            "strict": bool(args.strict),
            "sdk_matrix": bool(args.sdk_matrix),
            "second_key": "given" if args.second_api_key else "not given",
        },
        "slowcheck": __version__,
    }


def _link_latest(folder: Path) -> None:
    """``reports/latest`` points at the newest run (a symlink; a small text file where links are refused)."""
    latest = folder.parent / "latest"
    if latest.is_symlink() or latest.is_file():
        latest.unlink()
    elif latest.exists():
        return  # a real folder someone made: leave it alone
    try:
        latest.symlink_to(folder.name, target_is_directory=True)
    except OSError:
        latest.write_text(folder.name + "\n", encoding="utf-8")
