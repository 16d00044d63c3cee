"""``slowcheck contract``: flags, the embedded mock, the run, the reports and the exit code."""

from __future__ import annotations

import argparse
import contextlib
import os
import secrets
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from slowcheck.contract import lifecycle
from slowcheck.contract.lifecycle import read_ledger
from slowcheck.contract.options import DEFAULT_COMPLETION_TIMEOUT, DEFAULT_RECEIVER_PORT, REMOTE_BUDGET, add_flags
from slowcheck.contract.receiver import Receiver
from slowcheck.contract.report import counts, verdict, write_junit, write_results
from slowcheck.contract.rules import Outcome, Result, Rule
from slowcheck.contract.runner import Suite, select
from slowcheck.contract.target import Target
from slowcheck.embedded import DEFAULT_MODEL
from slowcheck.errors import ConfigError
from slowcheck.redaction import redact_folder
from slowcheck.report import new_report_dir
from slowcheck.target_url import is_loopback, normalise

__all__ = ["MARKS", "add_arguments", "main", "print_plan", "resolve", "target_for", "target_from"]

_EMBEDDED_HOOK = "slowcheck-receiver"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_flags(parser)
    parser.add_argument("--report-dir", type=Path, metavar="DIR", help="default: reports/<timestamp>/")
    parser.add_argument("--list-rules", action="store_true", help="print the rule catalogue and exit")


def main(args: argparse.Namespace) -> int:
    if args.list_rules:
        for item in select():
            print(f"{item.id:22} {item.source:10} {item.title}")
        return 0
    report_dir = args.report_dir or new_report_dir()
    rules, base_url, ledger, resume = resolve(args, report_dir)
    with target_from(args, base_url=base_url) as (target, label, keys):
        target.ledger, target.resume = ledger, resume
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
    write_results(report_dir / "results.json", results, target=label, duration=duration, plan=suite.plan)
    write_junit(report_dir / "junit.xml", results, duration=duration)
    redact_folder(report_dir, keys, announce="slowcheck contract")
    tally = counts(results)
    judged = verdict(results, suite.plan)
    print(
        f"{tally['held']} held, {tally['violated']} violated, {tally['deviation']} deviations, "
        f"{tally['skipped']} skipped, {tally['not run']} not run in {duration:.1f} s ({_spent(target)}); "
        f"report: {report_dir}"
    )
    print(f"verdict: {judged.line()}", flush=True)
    return judged.exit_code


def resolve(
    args: argparse.Namespace, report_dir: Path
) -> tuple[list[Rule], str | None, Path | None, list[dict[str, Any]] | None]:
    """The rules, base URL, ledger and resumed probes the flags ask for (--resume keeps the lifecycle rules)."""
    rules = select(args.lenient)
    base_url = _base_url(args)
    resume = None
    if args.resume is not None:
        ledger_target, resume = read_ledger(args.resume)
        if base_url and normalise(base_url)[0] != ledger_target:
            raise ConfigError(f"--resume: the ledger is for {ledger_target}, not {base_url}")
        base_url = base_url or ledger_target + "/v1"
        rules = [r for r in rules if r.check.__module__ == lifecycle.__name__]
    ledger = args.ledger or (report_dir / "ledger.json" if args.completion_timeout <= 0 and resume is None else None)
    return rules, base_url, ledger, resume


def _spent(target: Target) -> str:
    waited = f", and {len(target.rate_limited)} answered 429 and retried" if target.rate_limited else ""
    return f"{target.sent} requests{waited}"


def print_plan(suite: Suite, base_url: str | None) -> None:
    """The base URL as understood, and the budget plan: printed before the first request."""
    note = normalise(base_url)[1] if base_url else None
    if note:
        print(f"note: {note}", flush=True)
    for line in suite.plan.lines():
        print(line, flush=True)


def _base_url(options: Any) -> str | None:
    return options.base_url or os.environ.get("SLOWCHECK_BASE_URL")


def target_from(
    options: Any, *, base_url: str | None = None
) -> contextlib.AbstractContextManager[tuple[Target, str, list[str]]]:
    """:func:`target_for` from parsed options (the CLI's namespace or pytest's), with the environment fallbacks."""
    return target_for(
        base_url or _base_url(options),
        options.api_key or os.environ.get("SLOWCHECK_API_KEY") or os.environ.get("INFERENCE_API_KEY"),
        second_api_key=options.second_api_key,
        model=options.model,
        completion_timeout=options.completion_timeout,
        max_requests=options.max_requests,
        webhook_id=options.webhook_id,
        receiver_port=options.receiver_port,
    )


@contextlib.contextmanager
def target_for(
    base_url: str | None,
    api_key: str | None,
    *,
    second_api_key: str | None = None,
    model: str = DEFAULT_MODEL,
    completion_timeout: float = DEFAULT_COMPLETION_TIMEOUT,
    max_requests: int | None = None,
    webhook_id: str | None = None,
    receiver_port: int = DEFAULT_RECEIVER_PORT,
) -> Iterator[tuple[Target, str, list[str]]]:
    """The target to check, its label for reports, and the keys to keep out of them.

    Without a base URL, the embedded mock is started with two fresh keys (so isolation rules run).
    """
    if base_url:
        if not api_key:
            raise ConfigError("no API key: pass --api-key or set SLOWCHECK_API_KEY / INFERENCE_API_KEY")
        budget = max_requests if max_requests is not None else (None if is_loopback(base_url) else REMOTE_BUDGET)
        with contextlib.ExitStack() as stack:
            receiver = stack.enter_context(_receiver(receiver_port)) if webhook_id else None
            target = Target(
                base_url,
                api_key,
                second_api_key=second_api_key,
                model=model,
                completion_timeout=completion_timeout,
                max_requests=budget,
                webhook_id=webhook_id,
                receiver=receiver,
            )
            stack.callback(target.close)
            yield target, base_url, [k for k in (api_key, second_api_key) if k]
        return
    from slowcheck.mock import MockSettings, Span
    from slowcheck.mock.app import DEFAULT_MODELS
    from slowcheck.mock.server import mock_in_background

    keys = [f"sk-slowcheck-{secrets.token_hex(8)}" for _ in range(2)]
    with Receiver() as receiver:
        settings = MockSettings(
            port=0,
            db=":memory:",
            api_keys=keys,
            models=[*DEFAULT_MODELS, model],  # so the unknown-model rule has something to hold against
            queue_time=Span(0, 0.05),
            run_time=Span(0.01, 0.05),
            webhooks={_EMBEDDED_HOOK: receiver.url},
            webhook_retry_delays=[0.1, 0.2],
        )
        with mock_in_background(settings) as url:
            target = Target(
                url + "/v1",
                keys[0],
                second_api_key=keys[1],
                model=model,
                completion_timeout=completion_timeout,
                max_requests=max_requests,
                webhook_id=_EMBEDDED_HOOK,
                receiver=receiver,
                webhook_wait=10.0,
            )
            try:
                yield target, f"the embedded mock ({url})", keys
            finally:
                target.close()


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
