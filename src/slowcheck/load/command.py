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
import secrets
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
from slowcheck.load import (
    arrivals,
    batch as load_batch,
    jobs,
    journal,
    mix,
    outcome,
    plan,
    report,
    thresholds as threshold_rules,
)
from slowcheck.load.limits import Budget, plan_notes
from slowcheck.network import CLIENT_CERT_ENV, CLIENT_KEY_ENV, HEADERS_ENV, Network, add_arguments as add_network
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

HELP = "load the API (or the embedded mock): submit, rate-limit, poll, jobs or batch"
DESCRIPTION = (
    "Run a load scenario in locust's own process against --base-url, or against the embedded mock when no URL is "
    "given; writes summary.json, index.html and locust's CSVs. Exit 0: every threshold holds; 1: one is breached; "
    "2: usage error or target unreachable; 3: inconclusive (no submission accepted, no reading of the limit, a "
    "batch with no line done)."
)

SCENARIOS = {"submit": "submit.py", "rate-limit": "rate_limit.py", "poll": "poll.py", "jobs": "jobs.py"}
_MOCK_LIMIT = 10.0
"""The embedded mock's per-key submit limit in the rate-limit scenario: something for the probe to find."""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "scenario", choices=sorted([*SCENARIOS, "batch"]), help="submit, rate-limit, poll, jobs or batch"
    )
    add_target_arguments(parser, without="the embedded mock is started and loaded", model="model named in submissions")
    add_network(parser)
    parser.add_argument("--duration", type=float, metavar="SECONDS",
                        help=f"seconds of offered load (default: {_per_scenario(1)})")  # fmt: skip
    parser.add_argument(
        "--rate",
        metavar="PER_S",
        help="arrivals per second: 50, or stages 20@10,50 (rate@seconds); rate-limit: the probe's pace "
        f"(default: {_per_scenario(0)})",
    )
    parser.add_argument(
        "--rate-limit",
        metavar="RPM",
        help="the key's generation limit: free (30 a minute), paid (250) or requests a minute; the plan is checked "
        "against it and 429s are read by it (the embedded mock gets it as its tier)",
    )
    parser.add_argument(
        "--gateway-rps",
        type=float,
        metavar="N",
        help=f"the gateway's requests a second per key, polls included (inference.net: {api.GATEWAY_RPS}; default: "
        f"{api.GATEWAY_RPS} with --rate-limit); polls are held to what the submissions leave",
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
        help="batch: the input file to upload (default: --lines generated from the request schema); jobs: request "
        "bodies or Batch API lines to send, cycled (default: generated by --mix and the token lengths)",
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
    _add_job_arguments(parser)
    parser.add_argument(
        "--mock-limit",
        type=float,
        metavar="PER_S",
        help=f"the embedded mock's per-key submit limit (default: rate-limit {_MOCK_LIMIT:g}, otherwise none)",
    )


def _add_job_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("jobs", "the jobs scenario: every job tracked to its end, figures per job")
    group.add_argument("--arrival", choices=arrivals.PROCESSES, default="constant",
                      help="inter-arrival times at --rate (default: %(default)s)")  # fmt: skip
    group.add_argument("--burstiness", type=float, default=1.0, metavar="K",
                      help="gamma arrivals' shape: 1 is Poisson, below 1 burstier (default: %(default)g)")  # fmt: skip
    group.add_argument("--jobs", type=int, metavar="N", help="at most N jobs; with --rate inf, N sent at once")
    group.add_argument("--trace", type=Path, metavar="FILE.jsonl",
                      help="replay arrival times: a number of seconds, or {\"timestamp\": ...}, a line")  # fmt: skip
    group.add_argument("--seed", type=int, default=0, help="seed of random arrivals (default: %(default)s)")
    group.add_argument("--mix", default="chat", help="kinds and weights, e.g. chat=8,text=1,embedding=1 "
                      "(default: %(default)s)")  # fmt: skip
    group.add_argument("--prompt-tokens", default="64", metavar="MEAN[:SD]",
                      help="generated prompt length (default: %(default)s)")  # fmt: skip
    group.add_argument("--output-tokens", default="64", metavar="MEAN[:SD]",
                      help="generated max_tokens (default: %(default)s)")  # fmt: skip
    group.add_argument("--embedding-model", default=api.EMBEDDING_MODEL,
                      help="model of embedding jobs (default: %(default)s)")  # fmt: skip
    group.add_argument("--canaries", type=float, default=0.02, metavar="SHARE",
                      help="share of chat and text jobs asking for a known answer; 0: none, the echo checks stay "
                      "(default: %(default)g)")  # fmt: skip
    group.add_argument("--slo", action="append", default=[], metavar="EXPR",
                      help="goodput counts jobs within every SLO: e2e_s<=600, queue_s<=120 (repeatable)")  # fmt: skip
    group.add_argument("--slice", type=float, default=10.0, metavar="SECONDS",
                      help="width of the throughput slices (default: %(default)g)")  # fmt: skip
    group.add_argument("--warmup", type=float, default=0.0, metavar="SECONDS",
                      help="first seconds of arrivals left out of headline figures (default: %(default)g)")  # fmt: skip
    group.add_argument("--cooldown", type=float, default=0.0, metavar="SECONDS",
                      help="last seconds of arrivals left out of headline figures (default: %(default)g)")  # fmt: skip
    group.add_argument("--track", choices=("auto", "adaptive", "hinted", "backoff", "fixed", "webhook"),
                       default="auto", help="how jobs are followed: auto is webhook with --webhook-id, else "
                       "adaptive (the server's hints; without them backoff from --poll-interval/4 to 8x) "
                       "(default: %(default)s)")  # fmt: skip
    group.add_argument("--resume", type=Path, metavar="DIR",
                      help="continue a stopped jobs run from the journal in its report folder")  # fmt: skip
    group.add_argument("--mock-capacity", type=float, metavar="TOKENS_PER_S",
                      help="the embedded mock as a capacity model: tokens/s its workers decode")  # fmt: skip


def _per_scenario(index: int) -> str:
    return ", ".join(f"{name} {plan.DEFAULTS[name][index]:g}" if index else f"{name} {plan.DEFAULTS[name][0]}"
                     for name in SCENARIOS)  # fmt: skip


def main(args: argparse.Namespace) -> int:
    if args.scenario == "batch":
        return _batch(args)
    if args.resume is not None:
        args = _resumed(args)
    options = _checked(args)
    network = Network.from_args(args)
    report_dir: Path = args.report_dir or new_report_dir(args.scenario)
    limit = args.mock_limit if args.mock_limit is not None else (_MOCK_LIMIT if args.scenario == "rate-limit" else 0)
    tiered = args.rate_limit is not None
    with target_or_mock(
        args.base_url, args.api_key, model=args.model, submit_rate=0 if tiered else limit, capacity=args.mock_capacity,
        tier=args.rate_limit, gateway_rps=args.gateway_rps,
    ) as endpoint:  # fmt: skip
        root, label, key = endpoint.root, endpoint.label, endpoint.key
        check_reachable(root, key, args.model, network)
        budget = Budget(api.tier_rpm(args.rate_limit, flag="--rate-limit"), args.gateway_rps)
        peak = plan.peak_rate(args.scenario, options["rate"], options["duration"])
        if args.scenario != "rate-limit":  # the probe is there to meet the limit
            for note in plan_notes(args.scenario, peak, budget, polls=args.scenario in ("poll", "jobs")):
                print(note, flush=True)
        span = f"{options['duration']:g} s"
        if args.scenario == "rate-limit":
            span = f"up to {span} (it stops once it has watched two windows of the limit)"
        print(f"slowcheck load: {args.scenario} against {label} for {span}", flush=True)
        summary = run_scenario(args, root, label, key, report_dir, network=network)
    for line in describe(summary):
        print(line)
    print(f"report: {report_dir / 'index.html'}")
    judged = outcome.judge(summary)
    print(judged.line())
    return judged.exit_code


def _batch(args: argparse.Namespace) -> int:
    if args.input is None and args.lines < 1:
        raise ConfigError(f"--lines: expected 1 or more, got {args.lines}")
    if args.timeout <= 0 or args.poll_interval <= 0:
        raise ConfigError("--timeout and --poll-interval must be positive")
    for expr in args.threshold:  # checked before anything is uploaded
        threshold_rules.parse(expr, load_batch.skeleton())
    network = Network.from_args(args)
    report_dir: Path = args.report_dir or new_report_dir("batch")
    report_dir.mkdir(parents=True, exist_ok=True)
    # The embedded mock runs lines as fast as it can: the run measures the pipeline, not simulated time.
    with target_or_mock(args.base_url, args.api_key, model=args.model, timing=INSTANT) as endpoint:
        batch_root = endpoint.root if endpoint.embedded else (api_root(args.batch_base_url) if args.batch_base_url
                                                               else None)  # fmt: skip
        if batch_root is None:
            raise ConfigError("load batch: give --batch-base-url (inference.net: https://batch.inference.net/v1)")
        check_reachable(endpoint.root, endpoint.key, args.model, network)
        source = args.input
        if source is None:
            source = report_dir / "input.jsonl"
            load_batch.generated_file(source, args.lines, args.model)
        print(f"slowcheck load: batch of {source} against {endpoint.label}", flush=True)
        summary = load_batch.run(batch_root, endpoint.label, endpoint.key, input_file=source,
                                 poll_interval=args.poll_interval, timeout=args.timeout, thresholds=args.threshold,
                                 report_dir=report_dir, network=network)  # fmt: skip
        redact_folder(report_dir, [endpoint.key, *network.secrets()], announce="slowcheck load")
    for line in describe(summary):
        print(line)
    print(f"report: {report_dir / 'index.html'}")
    judged = outcome.judge(summary)
    print(judged.line())
    return judged.exit_code


_REMEMBERED = (
    "rate", "duration", "model", "max_inflight", "validate_every", "webhook_id", "receiver_port", "input", "arrival",
    "burstiness", "jobs", "trace", "seed", "mix", "prompt_tokens", "output_tokens", "embedding_model", "canaries",
    "slo", "slice", "warmup", "cooldown", "track", "run_id", "threshold", "poll_interval", "rate_limit", "gateway_rps",
)  # fmt: skip
"""The options a jobs run writes to ``run.json``, for ``--resume`` to run the rest of it the same way (``--drain``
is the resumed run's own: how long to wait this time)."""


def _remember(args: argparse.Namespace, folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    args.run_id = getattr(args, "run_id", None) or secrets.token_hex(3)
    options = {name: getattr(args, name) for name in _REMEMBERED}
    options |= {k: str(v) for k, v in options.items() if isinstance(v, Path)}
    target = api.base_url(args.base_url) or None  # the URL only: the key stays in the environment
    (folder / "run.json").write_text(json.dumps({"options": options, "base_url": target}, indent=2) + "\n")


def _resumed(args: argparse.Namespace) -> argparse.Namespace:
    """The options of the run in ``--resume DIR``, its folder as the report folder; the key is asked anew."""
    if args.scenario != "jobs":
        raise ConfigError("--resume continues a jobs run: slowcheck load jobs --resume DIR")
    folder: Path = args.resume
    try:
        saved = json.loads((folder / "run.json").read_text(encoding="utf-8"))
        options = saved["options"]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ConfigError(f"--resume {folder}: no readable run.json of a jobs run there ({exc})") from None
    if not journal.files(folder):
        raise ConfigError(f"--resume {folder}: no journal to continue from")
    if saved.get("base_url") is None and not api.base_url(args.base_url):
        raise ConfigError(f"--resume {folder}: that run loaded the embedded mock, which kept nothing to resume")
    for name, value in options.items():
        setattr(args, name, Path(value) if name in ("input", "trace") and value else value)
    args.base_url = args.base_url or saved["base_url"]
    args.report_dir = folder
    return args


def namespace(scenario: str, **overrides: Any) -> argparse.Namespace:
    """The options of ``slowcheck load SCENARIO`` with their defaults, for callers other than the CLI."""
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    args = parser.parse_args([scenario])
    unknown = sorted(set(overrides) - set(vars(args)))
    if unknown:  # a misspelled option would otherwise be a silent default
        raise TypeError(f"no load option named {', '.join(unknown)}")
    for name, value in overrides.items():
        setattr(args, name, value)
    return args


def run_scenario(
    args: argparse.Namespace, root: str, label: str, key: str, report_dir: Path, *, network: Network | None = None
) -> dict[str, Any]:
    """One scenario in locust's own process, reaching the target as ``network`` says; its summary (the files are
    in ``report_dir``, keys and header values redacted)."""
    network = network or Network()
    options = _checked(args)
    report_dir.mkdir(parents=True, exist_ok=True)
    if args.scenario == "jobs" and args.resume is None:
        journal.clear(report_dir)
        _remember(args, report_dir)
    code = _run_locust(scenario_file(args.scenario), root, label, key, args, options, report_dir, network)
    redact_folder(report_dir, [key, *network.secrets()], announce="slowcheck load")
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
    if summary["scenario"] == "jobs":
        lines += _describe_jobs(summary["jobs"])
    if "limits" in summary:
        lines.append(f"  limit met: {summary['limits']['says']}")
    if summary["scenario"] == "rate-limit":
        lines += _describe_limit(summary["rate_limit"])
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


def _describe_limit(limits: dict[str, Any]) -> list[str]:
    if not limits["conclusive"]:
        return [f"  rate limit: inconclusive: {limits['reason'] or outcome.NO_READING}"]
    rate = f"{limits['sustained_per_s']}/s"
    if 50 <= limits["window_s"] <= 70:
        rate += f" ({limits['per_minute']:.0f} a minute)"
    declared = f"; the API says {limits['declared_limit']}" if limits["declared_limit"] is not None else ""
    return [
        f"  rate limit: {limits['kind']}: burst {limits['burst']}, sustained {rate}, window {limits['window_s']} s"
        f"{declared} (watched {limits['watched_s']} s)",
        f"  429s: Retry-After on every one {limits['retry_after_present']}, envelope {limits['envelope_ok']}, "
        f"waiting as it says clears it {limits['retry_after_clears']}",
    ]


def _checked(args: argparse.Namespace) -> dict[str, Any]:
    """Every option checked before anything starts; the scenario's defaults filled in."""
    defaults = plan.DEFAULTS[args.scenario]
    rate = args.rate or defaults[0]
    duration = args.duration if args.duration is not None else defaults[1]
    span = duration
    if args.scenario == "rate-limit":
        plan.parse_pace(rate)
        if not duration > 0:
            raise ConfigError(f"--duration: expected seconds > 0, got {duration:g}")
        if args.processes != 1:
            raise ConfigError("--processes: the rate-limit probe reads one limit with one clock; use 1")
    elif args.scenario == "jobs":
        span = _check_jobs(args, rate, duration)
    else:
        plan.parse_stages(rate, duration)
    if args.processes < 1:
        raise ConfigError(f"--processes: expected 1 or more, got {args.processes}")
    api.tier_rpm(args.rate_limit, flag="--rate-limit")
    if args.gateway_rps is not None and not 0 < args.gateway_rps < float("inf"):
        raise ConfigError(f"--gateway-rps: expected requests a second > 0, got {args.gateway_rps:g}")
    if args.rate_limit is not None and args.gateway_rps is None:
        args.gateway_rps = float(api.GATEWAY_RPS)  # the tiers and the gateway come together
    if not args.poll_interval > 0:
        raise ConfigError(f"--poll-interval: expected seconds > 0, got {args.poll_interval:g}")
    if args.max_inflight < 1:
        raise ConfigError(f"--max-inflight: expected 1 or more, got {args.max_inflight}")
    if args.validate_every < 0:
        raise ConfigError(f"--validate-every: expected 0 or more, got {args.validate_every}")
    if args.drain < 0:
        raise ConfigError(f"--drain: expected seconds >= 0, got {args.drain:g}")
    strategies = plan.parse_strategies(args.strategies)
    report.thresholds(args.threshold, args.scenario, strategies if args.scenario == "poll" else [])
    return {"rate": rate, "duration": duration, "strategies": ",".join(strategies), "span": span}


def _check_jobs(args: argparse.Namespace, rate: str, duration: float) -> float:
    """The jobs options checked (files read once here, so a bad line is a usage error); the plan's span."""
    planned = arrivals.parse(rate, duration, process=args.arrival, burstiness=args.burstiness, jobs=args.jobs,
                             trace=args.trace, seed=args.seed)  # fmt: skip
    mix.parse_mix(args.mix)
    mix.parse_length(args.prompt_tokens, "--prompt-tokens")
    mix.parse_length(args.output_tokens, "--output-tokens")
    if args.input is not None:
        mix.read_bodies(args.input)
    if not 0 <= args.canaries <= 1:
        raise ConfigError(f"--canaries: expected a share between 0 and 1, got {args.canaries:g}")
    for slo in args.slo:
        jobs.parse_slo(slo)
    for name in ("slice", "warmup", "cooldown"):
        value = getattr(args, name)
        if not (value >= 0 and value < float("inf")) or name == "slice" and value <= 0:
            raise ConfigError(f"--{name}: expected seconds {'> 0' if name == 'slice' else '>= 0'}, got {value:g}")
    if args.mock_capacity is not None and not args.mock_capacity > 0:
        raise ConfigError(f"--mock-capacity: expected tokens per second > 0, got {args.mock_capacity:g}")
    if planned.trace:
        return planned.trace[-1]
    return duration if planned.stages else 0.0


def _run_locust(
    script: Path,
    root: str,
    label: str,
    key: str,
    args: argparse.Namespace,
    options: dict[str, Any],
    out: Path,
    network: Network,
) -> int:
    users = args.processes
    cap = options["span"] + (args.drain if args.scenario in ("poll", "jobs") else 0) + 30
    command = [
        sys.executable, "-m", "locust", "-f", str(script), "--headless",
        "-u", str(users), "-r", str(users), "--host", root,
        "--run-time", f"{int(cap)}s", "--stop-timeout", "5", "--csv", str(out / "locust"),
        "--report-dir", str(out), "--target-label", label, "--rate", options["rate"],
        "--duration", str(options["duration"]), "--model", args.model,
        "--poll-interval", str(args.poll_interval), "--strategies", options["strategies"],
        "--drain", str(args.drain), "--rate-limit", str(args.rate_limit or ""),
        "--gateway-rps", str(args.gateway_rps or 0),
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
    if args.scenario == "jobs":
        command += _job_command(args)
    for expr in args.threshold:
        command += ["--threshold", expr]
    # The key travels in the environment, under the first name the harness looks for, and only there; so do the
    # headers and the trust of --header, --ca-bundle and --client-cert (slowcheck.network).
    own = {*api.KEY_ENV, HEADERS_ENV, CLIENT_CERT_ENV, CLIENT_KEY_ENV}
    env = {k: v for k, v in os.environ.items() if k not in own} | {api.KEY_ENV[0]: key, "PYTHONUNBUFFERED": "1"}
    started = time.monotonic()
    with network.environment() as reach, (out / "locust.log").open("wb") as log:
        process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=env | reach)
        try:
            _progress(process, started, options["duration"], args.scenario)
        finally:
            if process.poll() is None:
                process.terminate()
                process.wait(timeout=30)
    return process.returncode


def _job_command(args: argparse.Namespace) -> list[str]:
    command = [
        "--arrival", args.arrival, "--burstiness", str(args.burstiness), "--jobs", str(args.jobs or 0),
        "--seed", str(args.seed), "--mix", args.mix, "--prompt-tokens", args.prompt_tokens,
        "--output-tokens", args.output_tokens, "--embedding-model", args.embedding_model,
        "--canaries", str(args.canaries), "--slice", str(args.slice), "--warmup", str(args.warmup),
        "--cooldown", str(args.cooldown), "--track", args.track, "--run-id", args.run_id,
    ]  # fmt: skip
    for name in ("input", "trace"):
        if getattr(args, name) is not None:
            command += [f"--{name}", str(Path(getattr(args, name)).resolve())]
    for slo in args.slo:
        command += ["--slo", slo]
    if args.resume is not None:
        command.append("--resume")
    return command


def _progress(process: subprocess.Popen[bytes], started: float, duration: float, scenario: str) -> None:
    """Elapsed time while locust works: rewritten in place on a terminal, every 10 s otherwise."""
    tty = sys.stdout.isatty()
    shown = -10.0
    of = f"at most {duration:g} s" if scenario == "rate-limit" else f"about {duration:g} s"  # the probe stops itself
    while process.poll() is None:
        try:
            process.wait(timeout=1)
        except subprocess.TimeoutExpired:
            elapsed = time.monotonic() - started
            if tty:
                print(f"\r  {scenario}: {elapsed:5.0f} s of {of}", end="", flush=True)
            elif elapsed - shown >= 10:
                shown = elapsed
                print(f"  {scenario}: {elapsed:.0f} s of {of}", flush=True)
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


def _describe_jobs(figures: dict[str, Any]) -> list[str]:
    latency = figures["latency_s"]
    through, good, canaries = figures["throughput"], figures["goodput"], figures["canaries"]
    correct = figures["correctness"]
    lines = [
        f"  jobs: {figures['accepted']} accepted, {figures['completed']} completed, {figures['failed']} failed, "
        f"{figures['expired']} expired, {figures['open']} still open",
        "  latency p50/p99 (s): " + ", ".join(
            f"{name} {_seconds_pair(latency[name])}" for name in ("accept", "queue", "run", "e2e", "notice")
        ),
        f"  throughput: {_figure_2(through['jobs_per_s'])} jobs/s, {_figure_2(through['output_tokens_per_s'])} "
        "output tokens/s",
    ]  # fmt: skip
    if good["slo"]:
        share = "n/a" if good["share"] is None else f"{100 * good['share']:.1f} %"
        lines.append(f"  goodput ({', '.join(good['slo'])}): {_figure_2(good['jobs_per_s'])} jobs/s, {share} of jobs")
    lines.append(
        f"  answers: {correct['checked']} checked, {correct['mismatched']} not their job's; canaries "
        f"{canaries['correct']}/{canaries['sent']} correct, {canaries['mismatched']} mismatched"
    )
    lag = figures["dispatch"]["lag_ms"]
    lines.append(f"  dispatch: lag p50 {lag['p50']} ms, p99 {lag['p99']} ms, {figures['dispatch']['dropped']} dropped")
    return lines


def _seconds_pair(figures: dict[str, Any]) -> str:
    return f"{_figure_2(figures['p50'])}/{_figure_2(figures['p99'])}"


def _figure_2(value: float | None) -> str:
    return "n/a" if value is None else f"{value:,.2f}"


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
        f"  limit met: {summary['limits']['says']}",
    ]
    for threshold in summary["thresholds"]:
        verdict = "holds" if threshold["passed"] else "BREACHED"
        lines.append(f"  threshold {threshold['expr']}: {threshold['value']} ({verdict})")
    return lines


def _seconds(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.2f} s"


def _figure(value: float | None) -> str:
    return "n/a" if value is None else f"{value:,.0f}"
