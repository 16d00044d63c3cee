"""``slowcheck contract``: flags, the embedded mock, the run, the reports and the exit code."""

from __future__ import annotations

import argparse
import contextlib
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from slowcheck import api
from slowcheck.contract import batches, lifecycle, stateful
from slowcheck.contract.lifecycle import read_ledger
from slowcheck.contract.options import DEFAULT_COMPLETION_TIMEOUT, REMOTE_BUDGET, add_flags
from slowcheck.contract.receiver import Receiver
from slowcheck.contract.report import counts, verdict, write_junit, write_results
from slowcheck.contract.rules import Outcome, Result, Rule
from slowcheck.contract.runner import Suite, select
from slowcheck.contract.target import DEFAULT_WEBHOOK_WAIT, Target
from slowcheck.embedded import INSTANT, target_or_mock
from slowcheck.errors import ConfigError
from slowcheck.network import Network
from slowcheck.redaction import redact_folder
from slowcheck.report import add_report_dir, new_report_dir
from slowcheck.target_url import is_loopback, normalise

__all__ = [
    "DESCRIPTION",
    "HELP",
    "MARKS",
    "add_arguments",
    "main",
    "print_plan",
    "resolve",
    "target_for",
    "target_from",
]

HELP = "check an API (or the embedded mock) against the documented contract, rule by rule"
DESCRIPTION = (
    "Run the contract rules against --base-url, or against the embedded mock when no URL is given, after a budget "
    "plan and a preflight. Exit 0: every rule that should run held (deviations listed); 1: a rule is violated; 2: "
    "usage error, bad configuration or target unreachable; 3: inconclusive (a rule that should have run did not)."
)

_EMBEDDED_HOOK = "slowcheck-receiver"
_EMBEDDED_WEBHOOK_WAIT = 10.0
"""Seconds the suite waits for the embedded mock's webhooks (it retries within a second)."""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_flags(parser)
    add_report_dir(parser)
    parser.add_argument("--list-rules", action="store_true", help="print the rule catalogue and exit")
    parser.add_argument("--from-recording", type=Path, metavar="FILE.jsonl",
                        help="judge a recording of `slowcheck proxy --record` offline, with the proxy's checks, "
                        "instead of sending anything (--strict: deviations fail too)")  # fmt: skip


def main(args: argparse.Namespace) -> int:
    if args.list_rules:
        for item in select():
            print(f"{item.id:22} {item.source:10} {item.title}")
        return 0
    report_dir = args.report_dir or new_report_dir()
    if args.from_recording is not None:
        from slowcheck.proxy.offline import judge_recording

        judge, judged = judge_recording(
            args.from_recording, report_dir, fail_on="deviation" if args.strict else "violation"
        )
        findings = sum(judge.counts.values())
        print(f"slowcheck contract: {judge.exchanges} recorded exchanges judged, {findings} findings; "
              f"report: {report_dir}")  # fmt: skip
        print(f"verdict: {judged.line()}", flush=True)
        return judged.exit_code
    rules, base_url, ledger, resume = resolve(args, report_dir)
    with target_from(args, base_url=base_url) as (target, label, keys):
        target.ledger, target.resume = ledger, resume
        target.resume_batch = getattr(args, "resume_batch", None)
        suite = Suite(target, rules, lenient=args.lenient, strict=args.strict)
        print(f"slowcheck contract: {len(rules)} rules against {label}", flush=True)
        print_plan(suite, base_url)
        started = time.monotonic()
        suite.prepare()
        for note in suite.preflight.notes if suite.preflight else []:
            print(f"note: {note}", flush=True)
        results = suite.run(progress=_progress)
        duration = time.monotonic() - started
    report_dir.mkdir(parents=True, exist_ok=True)
    write_results(report_dir / "results.json", results, target=label, duration=duration, plan=suite.plan,
                  conditions=target.conditions())  # fmt: skip
    write_junit(report_dir / "junit.xml", results, duration=duration)
    redact_folder(report_dir, keys, announce="slowcheck contract")
    tally = counts(results)
    judged = verdict(results, suite.plan)
    print(
        f"{tally['held']} held, {tally['violated']} violated, {tally['deviation']} deviations, "
        f"{tally['skipped']} skipped, {tally['not run']} not run in {duration:.1f} s ({target.spent()}); "
        f"report: {report_dir}"
    )
    print(f"verdict: {judged.line()}", flush=True)
    return judged.exit_code


def resolve(
    args: argparse.Namespace, report_dir: Path
) -> tuple[list[Rule], str | None, Path | None, list[dict[str, Any]] | None]:
    """The rules, base URL, ledger and resumed probes the flags ask for (--resume keeps the lifecycle rules)."""
    rules = select(args.lenient)
    base_url = api.base_url(args.base_url)
    resume = None
    if args.resume is not None:
        ledger_target, resume, batch = read_ledger(args.resume)
        if base_url and normalise(base_url)[0] != ledger_target:
            raise ConfigError(f"--resume: the ledger is for {ledger_target}, not {base_url}")
        base_url = base_url or ledger_target + "/v1"
        resumed = {lifecycle.__name__, stateful.__name__} | ({batches.__name__} if batch is not None else set())
        rules = [r for r in rules if r.check.__module__ in resumed and r.id not in batches.FIRST_PHASE]
        if batch is not None:
            args.resume_batch = batch
            args.batch_base_url = args.batch_base_url or batch["root"] + "/v1"
    ledger = args.ledger or (report_dir / "ledger.json" if args.completion_timeout <= 0 and resume is None else None)
    return rules, base_url, ledger, resume


def print_plan(suite: Suite, base_url: str | None) -> None:
    """The base URL as understood, and the budget plan: printed before the first request."""
    note = normalise(base_url)[1] if base_url else None
    if note:
        print(f"note: {note}", flush=True)
    for line in suite.plan.lines():
        print(line, flush=True)
    paced = suite.target.pacer.seconds_for(suite.plan.planned)
    if paced is not None:
        per_minute = suite.target.pacer.per_minute
        print(f"  at --rate-limit {per_minute:g}/min these take at least {paced / 60:.1f} min", flush=True)


def target_from(
    options: Any, *, base_url: str | None = None, network: Network | None = None
) -> contextlib.AbstractContextManager[tuple[Target, str, list[str]]]:
    """:func:`target_for` from parsed options (the CLI's namespace or pytest's); the network from them too, unless
    given (checked already)."""
    return target_for(
        base_url or api.base_url(options.base_url),
        options.api_key,
        second_api_key=options.second_api_key,
        batch_base_url=options.batch_base_url,
        embedding_model=options.embedding_model,
        model=options.model,
        completion_timeout=options.completion_timeout,
        max_requests=options.max_requests,
        rate_limit=options.rate_limit,
        webhook_id=options.webhook_id,
        receiver_port=options.receiver_port,
        network=network or Network.from_args(options),
    )


@contextlib.contextmanager
def target_for(
    base_url: str | None,
    api_key: str | None,
    *,
    second_api_key: str | None = None,
    batch_base_url: str | None = None,
    embedding_model: str | None = None,
    model: str = api.DEFAULT_MODEL,
    completion_timeout: float = DEFAULT_COMPLETION_TIMEOUT,
    max_requests: int | None = None,
    rate_limit: float | None = None,
    webhook_id: str | None = None,
    receiver_port: int = api.DEFAULT_RECEIVER_PORT,
    network: Network | None = None,
) -> Iterator[tuple[Target, str, list[str]]]:
    """The target to check, its label for reports, and the secrets to keep out of them (the keys first, then
    the values of ``--header``).

    Without a base URL, the embedded mock (:func:`slowcheck.embedded.target_or_mock`) is started with two fresh
    keys, so isolation rules run, and a webhook that reaches the suite's own receiver. ``network`` says how the
    target is reached (the environment's trust and proxies when None).
    """
    network = network or Network()
    embedded = not api.base_url(base_url)
    with contextlib.ExitStack() as stack:
        receiver = None
        if embedded:
            receiver = stack.enter_context(Receiver())
            webhook_id = _EMBEDDED_HOOK
        elif webhook_id:
            receiver = stack.enter_context(_receiver(receiver_port))
        endpoint = stack.enter_context(
            target_or_mock(
                base_url,
                api_key,
                second_api_key=second_api_key,
                model=model,
                keys=2,
                timing=INSTANT,
                durable=False,
                webhooks={_EMBEDDED_HOOK: receiver.url} if embedded and receiver else None,
            )
        )
        budget = max_requests
        if budget is None and not embedded and not is_loopback(endpoint.root):
            budget = REMOTE_BUDGET
        target = Target(
            endpoint.root + "/v1",
            endpoint.key,
            second_api_key=endpoint.second_key,
            batch_base_url=endpoint.root + "/v1" if embedded else batch_base_url,
            embedding_model=api.EMBEDDING_MODEL if embedded else embedding_model,
            model=model,
            completion_timeout=completion_timeout,
            max_requests=budget,
            rate_limit=rate_limit,
            webhook_id=webhook_id,
            receiver=receiver,
            webhook_wait=_EMBEDDED_WEBHOOK_WAIT if embedded else DEFAULT_WEBHOOK_WAIT,
            reread_spacing=0.0 if embedded else 1.0,  # the embedded mock has no replica to lag
            client_options=network.httpx_options(),
        )
        stack.callback(target.close)
        yield target, endpoint.label, [*endpoint.keys, *network.secrets()]


def _receiver(port: int) -> Receiver:
    try:
        return Receiver(port=port)
    except OSError as exc:
        raise ConfigError(f"cannot listen for webhooks on 127.0.0.1:{port}: {exc.strerror or exc}") from None


MARKS = {
    Outcome.HELD: "held",
    Outcome.VIOLATED: "VIOLATED",
    Outcome.DEVIATION: "deviation",
    Outcome.SKIPPED: "skipped",
    Outcome.NOT_RUN: "NOT RUN",
}


def _progress(result: Result) -> None:
    print(f"  {MARKS[result.outcome]:9} {result.rule.id:22} {result.rule.title}", flush=True)
    if result.outcome is not Outcome.HELD and result.message:
        print(f"            {result.message}", flush=True)
