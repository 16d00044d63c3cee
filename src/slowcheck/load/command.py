"""``slowcheck load SCENARIO``: the target (or the embedded mock), locust in its own process, the verdict.

locust patches the standard library on import, so it never runs in this process: the scenario's locustfile
runs under ``python -m locust``, with the API key in its environment (never on its command line), and
writes ``summary.json`` and ``index.html`` itself. This process waits, shows progress, redacts, and turns
the thresholds into the exit code.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from slowcheck import api
from slowcheck.contract.preflight import check_reachable
from slowcheck.embedded import INSTANT, add_target_arguments, target_or_mock
from slowcheck.errors import ConfigError
from slowcheck.load import batch as load_batch, plan, report, thresholds as threshold_rules
from slowcheck.redaction import redact_folder
from slowcheck.report import add_report_dir, new_report_dir
from slowcheck.target_url import api_root

__all__ = [
    "DESCRIPTION",
    "HELP",
    "SCENARIOS",
    "add_arguments",
    "describe",
    "main",
    "namespace",
    "run_scenario",
    "scenario_file",
]

HELP = "load the API (or the embedded mock) with a locust scenario: submit, rate-limit or poll"
DESCRIPTION = (
    "Run a load scenario in locust's own process against --base-url, or against the embedded mock when no URL is "
    "given; writes summary.json, index.html and locust's CSVs. Exit 0: every threshold holds; 1: one is breached; "
    "2: usage error or target unreachable."
)

SCENARIOS = {"submit": "submit.py", "rate-limit": "rate_limit.py", "poll": "poll.py"}
_MOCK_LIMIT = 100.0
"""The embedded mock's per-key submit limit in the rate-limit scenario: something for the probe to find."""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("scenario", choices=sorted([*SCENARIOS, "batch"]), help="submit, rate-limit, poll or batch")
    add_target_arguments(parser, without="the embedded mock is started and loaded", model="model named in submissions")
    parser.add_argument("--duration", type=float, metavar="SECONDS",
                        help=f"seconds of offered load (default: {_per_scenario(1)})")  # fmt: skip
    parser.add_argument(
        "--rate",
        metavar="PER_S",
        help="arrivals per second: 50, or stages 20@10,50 (rate@seconds); rate-limit: START or START..MAX "
        f"(default: {_per_scenario(0)})",
    )
    parser.add_argument(
        "--processes", type=int, default=1, metavar="N", help="locust worker processes (default: %(default)s)"
    )
    parser.add_argument(
        "--threshold",
        action="append",
        default=[],
        metavar="EXPR",
        help="pass/fail on a summary.json figure, e.g. 'submit.latency_ms.p95<250' (repeatable)",
    )
    add_report_dir(parser, "<scenario>")
    parser.add_argument(
        "--poll-interval", type=float, default=1.0, metavar="SECONDS", help="poll: the unit (default: %(default)g)"
    )
    parser.add_argument(
        "--strategies", default=",".join(plan.STRATEGIES), help="poll: which strategies (default: %(default)s)"
    )
    parser.add_argument(
        "--drain", type=float, default=60.0, metavar="SECONDS", help="poll: wait for results (default: %(default)g)"
    )
    parser.add_argument(
        "--step-seconds", type=float, default=2.0, metavar="SECONDS", help="rate-limit: step (default: %(default)g)"
    )
    parser.add_argument("--max-inflight", type=int, default=plan.MAX_INFLIGHT, metavar="N",
                        help="submissions in flight per process; an arrival finding none free is dropped and "
                        "counted (default: %(default)s)")  # fmt: skip
    parser.add_argument("--validate-every", type=int, default=plan.VALIDATE_EVERY, metavar="N",
                        help="check the first ack and every Nth after it against the schema; 0 checks none "
                        "(default: %(default)s)")  # fmt: skip
    parser.add_argument("--webhook-id", metavar="ID", help="poll against a real API: a webhook reaching the receiver")
    parser.add_argument("--receiver-port", type=int, default=api.DEFAULT_RECEIVER_PORT, metavar="PORT",
                        help="with --webhook-id (default: %(default)s)")  # fmt: skip
    parser.add_argument(
        "--input",
        type=Path,
        metavar="FILE.jsonl",
        help="batch: the input file to upload (default: --lines generated from the request schema)",
    )
    parser.add_argument(
        "--lines",
        type=int,
        default=load_batch.DEFAULT_LINES,
        metavar="N",
        help="batch: lines to generate without --input (default: %(default)s)",
    )
    parser.add_argument(
        "--batch-base-url",
        metavar="URL",
        help="batch: the Batch API's root (inference.net: https://batch.inference.net/v1)",
    )
    parser.add_argument("--timeout", type=float, default=600.0, metavar="SECONDS",
                        help="batch: how long to wait for the batch to end (default: %(default)g)")  # fmt: skip
    parser.add_argument(
        "--mock-limit",
        type=float,
        metavar="PER_S",
        help=f"the embedded mock's per-key submit limit (default: rate-limit {_MOCK_LIMIT:g}, otherwise none)",
    )


def _per_scenario(index: int) -> str:
    return ", ".join(f"{name} {plan.DEFAULTS[name][index]:g}" if index else f"{name} {plan.DEFAULTS[name][0]}"
                     for name in SCENARIOS)  # fmt: skip


def main(args: argparse.Namespace) -> int:
    if args.scenario == "batch":
        return _batch(args)
    options = _checked(args)
    report_dir: Path = args.report_dir or new_report_dir(args.scenario)
    limit = args.mock_limit if args.mock_limit is not None else (_MOCK_LIMIT if args.scenario == "rate-limit" else 0)
    with target_or_mock(args.base_url, args.api_key, model=args.model, submit_rate=limit) as endpoint:
        root, label, key = endpoint.root, endpoint.label, endpoint.key
        check_reachable(root, key, args.model)
        print(f"slowcheck load: {args.scenario} against {label} for {options['duration']:g} s", flush=True)
        summary = run_scenario(args, root, label, key, report_dir)
    for line in describe(summary):
        print(line)
    print(f"report: {report_dir / 'index.html'}")
    return 1 if any(not t["passed"] for t in summary["thresholds"]) else 0


def _batch(args: argparse.Namespace) -> int:
    if args.input is None and args.lines < 1:
        raise ConfigError(f"--lines: expected 1 or more, got {args.lines}")
    if args.timeout <= 0 or args.poll_interval <= 0:
        raise ConfigError("--timeout and --poll-interval must be positive")
    for expr in args.threshold:  # checked before anything is uploaded
        threshold_rules.parse(expr, load_batch.skeleton())
    report_dir: Path = args.report_dir or new_report_dir("batch")
    report_dir.mkdir(parents=True, exist_ok=True)
    # The embedded mock runs lines as fast as it can: the run measures the pipeline, not simulated time.
    with target_or_mock(args.base_url, args.api_key, model=args.model, timing=INSTANT) as endpoint:
        batch_root = endpoint.root if endpoint.embedded else (api_root(args.batch_base_url) if args.batch_base_url
                                                               else None)  # fmt: skip
        if batch_root is None:
            raise ConfigError("load batch: give --batch-base-url (inference.net: https://batch.inference.net/v1)")
        check_reachable(endpoint.root, endpoint.key, args.model)
        source = args.input
        if source is None:
            source = report_dir / "input.jsonl"
            load_batch.generated_file(source, args.lines, args.model)
        print(f"slowcheck load: batch of {source} against {endpoint.label}", flush=True)
        summary = load_batch.run(batch_root, endpoint.label, endpoint.key, input_file=source,
                                 poll_interval=args.poll_interval, timeout=args.timeout, thresholds=args.threshold,
                                 report_dir=report_dir)  # fmt: skip
        redact_folder(report_dir, [endpoint.key], announce="slowcheck load")
    for line in describe(summary):
        print(line)
    print(f"report: {report_dir / 'index.html'}")
    return 1 if any(not t["passed"] for t in summary["thresholds"]) else 0


def namespace(scenario: str, **overrides: Any) -> argparse.Namespace:
    """The options of ``slowcheck load SCENARIO`` with their defaults, for callers other than the CLI."""
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    args = parser.parse_args([scenario])
    for name, value in overrides.items():
        setattr(args, name, value)
    return args


def run_scenario(args: argparse.Namespace, root: str, label: str, key: str, report_dir: Path) -> dict[str, Any]:
    """One scenario in locust's own process; its summary (the files are in ``report_dir``, keys redacted)."""
    options = _checked(args)
    report_dir.mkdir(parents=True, exist_ok=True)
    code = _run_locust(scenario_file(args.scenario), root, label, key, args, options, report_dir)
    redact_folder(report_dir, [key], announce="slowcheck load")
    summary_path = report_dir / "summary.json"
    if not summary_path.exists():
        raise ConfigError(f"the load run wrote no summary (locust exit {code}): {_last_line(report_dir)}")
    summary: dict[str, Any] = json.loads(summary_path.read_text(encoding="utf-8"))
    return summary


def scenario_file(name: str) -> Path:
    """The locustfile of a scenario: the checkout's ``load/`` or the copy inside the wheel."""
    file_name = SCENARIOS[name]
    package = Path(__file__).resolve().parent.parent
    for folder in (package / "_load", package.parent.parent / "load"):
        if (folder / file_name).is_file():
            return folder / file_name
    raise ConfigError(f"the {name!r} scenario's locustfile is missing from this installation")


def describe(summary: dict[str, Any]) -> list[str]:
    """The terminal summary: one line per part the scenario measured, then the thresholds."""
    if summary["scenario"] == "batch":
        return _describe_batch(summary)
    submit = summary["submit"]
    latency = submit["latency_ms"]
    lines = [
        f"  submit: {submit['count']} sent, {submit['ok']} accepted, {submit['rate_limited']} 429, "
        f"{submit['errors']} errors; {submit['throughput_per_s']}/s; ack p50 {latency['p50']} ms, "
        f"p95 {latency['p95']} ms, p99 {latency['p99']} ms"
    ]
    limits = summary["rate_limit"]
    if summary["scenario"] == "rate-limit":
        lines.append(
            f"  rate limit: sustainable {limits['sustainable_per_s']}/s, first 429 at {limits['first_429_per_s']}/s, "
            f"Retry-After {limits['retry_after_present']}, envelope {limits['envelope_ok']}, "
            f"recovery {limits['recovery_s']} s"
        )
    for name, strategy in summary["poll"].items():
        if strategy["not_run"]:
            lines.append(f"  poll {name}: not run ({strategy['not_run']})")
            continue
        lines.append(
            f"  poll {name}: {strategy['completions']} completions, {strategy['polls_per_completion']} polls each, "
            f"latency p50 {strategy['latency_s']['p50']} s, detection lag p50 {strategy['detection_lag_s']['p50']} s"
        )
    for threshold in summary["thresholds"]:
        verdict = "holds" if threshold["passed"] else "BREACHED"
        lines.append(f"  threshold {threshold['expr']}: {verdict} (measured {threshold['value']})")
    return lines


def _checked(args: argparse.Namespace) -> dict[str, Any]:
    """Every option checked before anything starts; the scenario's defaults filled in."""
    defaults = plan.DEFAULTS[args.scenario]
    rate = args.rate or defaults[0]
    duration = args.duration if args.duration is not None else defaults[1]
    if args.scenario == "rate-limit":
        plan.parse_ladder(rate)
        if args.processes != 1:
            raise ConfigError("--processes: the rate-limit probe steps one rate with one clock; use 1")
    else:
        plan.parse_stages(rate, duration)
    if args.processes < 1:
        raise ConfigError(f"--processes: expected 1 or more, got {args.processes}")
    for name, value in (("--poll-interval", args.poll_interval), ("--step-seconds", args.step_seconds)):
        if not value > 0:
            raise ConfigError(f"{name}: expected seconds > 0, got {value:g}")
    if args.max_inflight < 1:
        raise ConfigError(f"--max-inflight: expected 1 or more, got {args.max_inflight}")
    if args.validate_every < 0:
        raise ConfigError(f"--validate-every: expected 0 or more, got {args.validate_every}")
    if args.drain < 0:
        raise ConfigError(f"--drain: expected seconds >= 0, got {args.drain:g}")
    strategies = plan.parse_strategies(args.strategies)
    report.thresholds(args.threshold, args.scenario, strategies if args.scenario == "poll" else [])
    return {"rate": rate, "duration": duration, "strategies": ",".join(strategies)}


def _run_locust(
    script: Path, root: str, label: str, key: str, args: argparse.Namespace, options: dict[str, Any], out: Path
) -> int:
    users = args.processes
    cap = options["duration"] + (args.drain if args.scenario == "poll" else 0) + 30
    command = [
        sys.executable, "-m", "locust", "-f", str(script), "--headless",
        "-u", str(users), "-r", str(users), "--host", root,
        "--run-time", f"{int(cap)}s", "--stop-timeout", "5", "--csv", str(out / "locust"),
        "--report-dir", str(out), "--target-label", label, "--rate", options["rate"],
        "--duration", str(options["duration"]), "--model", args.model,
        "--poll-interval", str(args.poll_interval), "--strategies", options["strategies"],
        "--drain", str(args.drain), "--step-seconds", str(args.step_seconds),
        "--max-inflight", str(args.max_inflight), "--validate-every", str(args.validate_every),
    ]  # fmt: skip
    if users > 1:
        # Locust's master otherwise binds port 5557 on every interface: loopback only, and a free port, so two
        # runs at once do not collide.
        port = str(_free_port())
        command += ["--processes", str(users), "--master-bind-host", "127.0.0.1", "--master-bind-port", port,
                    "--master-host", "127.0.0.1", "--master-port", port]  # fmt: skip
    if args.webhook_id:
        command += ["--webhook-id", args.webhook_id, "--receiver-port", str(args.receiver_port)]
    for expr in args.threshold:
        command += ["--threshold", expr]
    # The key travels in the environment, under the first name the harness looks for, and only there.
    env = {k: v for k, v in os.environ.items() if k not in api.KEY_ENV} | {api.KEY_ENV[0]: key, "PYTHONUNBUFFERED": "1"}
    started = time.monotonic()
    with (out / "locust.log").open("wb") as log:
        process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=env)
        try:
            _progress(process, started, options["duration"], args.scenario)
        finally:
            if process.poll() is None:
                process.terminate()
                process.wait(timeout=30)
    return process.returncode


def _progress(process: subprocess.Popen[bytes], started: float, duration: float, scenario: str) -> None:
    """Elapsed time while locust works: rewritten in place on a terminal, every 10 s otherwise."""
    tty = sys.stdout.isatty()
    shown = -10.0
    while process.poll() is None:
        try:
            process.wait(timeout=1)
        except subprocess.TimeoutExpired:
            elapsed = time.monotonic() - started
            if tty:
                print(f"\r  {scenario}: {elapsed:5.0f} s of about {duration:g} s", end="", flush=True)
            elif elapsed - shown >= 10:
                shown = elapsed
                print(f"  {scenario}: {elapsed:.0f} s of about {duration:g} s", flush=True)
    if tty:
        print("\r" + " " * 60 + "\r", end="", flush=True)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _last_line(folder: Path) -> str:
    log = folder / "locust.log"
    lines = [line for line in log.read_text(encoding="utf-8", errors="replace").splitlines() if line.strip()]
    return lines[-1].strip() if lines else "locust printed nothing"


def _describe_batch(summary: dict[str, Any]) -> list[str]:
    b = summary["batch"]
    up = b["upload"]
    answered = b["answered"]
    lines = [
        f"  upload: {b['lines']:,} lines, {b['bytes'] / 1e6:.1f} MB in {up['seconds']:.2f} s "
        f"({up['lines_per_s']:,.0f} lines/s, {up['mb_per_s']:.1f} MB/s)",
        f"  batch {b['id']}: {b['status']}; create to in_progress {_seconds(b['to_in_progress_s'])}, to completed "
        f"{_seconds(b['to_completed_s'])}; {_figure(b['completed_per_s'])} lines completed/s",
        f"  results: {answered['output_lines']} output and {answered['error_lines']} error lines; "
        f"{answered['missing']} custom_ids missing, {answered['repeated']} answered twice",
    ]
    for threshold in summary["thresholds"]:
        verdict = "holds" if threshold["passed"] else "BREACHED"
        lines.append(f"  threshold {threshold['expr']}: {threshold['value']} ({verdict})")
    return lines


def _seconds(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.2f} s"


def _figure(value: float | None) -> str:
    return "n/a" if value is None else f"{value:,.0f}"
