"""``slowcheck proxy``: the proxy in the foreground, a line per finding as it happens, the report at the end."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Coroutine, Iterator
from pathlib import Path
from typing import Any

from slowcheck import api, baseline as baselines, live
from slowcheck.errors import ConfigError
from slowcheck.github import publish
from slowcheck.network import Network, add_arguments as add_network
from slowcheck.proxy import report
from slowcheck.proxy.server import Proxy, ProxySettings
from slowcheck.proxy.tally import Finding
from slowcheck.proxy.wire import Upstream
from slowcheck.report import add_report_dir, new_report_dir
from slowcheck.target_url import api_root

__all__ = ["DESCRIPTION", "HELP", "add_arguments", "main"]

HELP = "a validating, recording proxy in front of the API: judge your application's real traffic"
DESCRIPTION = (
    "Relay every request of your application to --upstream (or to the embedded mock) unchanged, and judge both "
    "sides on the way: what the application sends and how it polls, what the API answers across each "
    "generation's life. A line per finding as it happens; at the end (Ctrl-C, SIGTERM or --duration) "
    "index.html, results.json, junit.xml and summary.json. Exit 0: nothing failed per --fail-on; 1: something "
    "did; 2: usage error; 3: no traffic passed."
)
_SHOWN = 3
"""Findings printed per check as they happen; the rest are counted (all are in the report)."""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--upstream", metavar="URL",
                        help="the API root, e.g. https://api.inference.net/v1 (default: an embedded mock)")  # fmt: skip
    add_network(parser)
    parser.add_argument("--host", default="127.0.0.1", help="where the proxy listens (default: %(default)s)")
    parser.add_argument("--port", type=int, default=8788, help="its port (default: %(default)s; 0 picks a free one)")
    parser.add_argument("--record", type=Path, metavar="FILE.jsonl",
                        help="write every exchange as JSON Lines, with no key in it (slowcheck contract "
                        "--from-recording judges it later)")  # fmt: skip
    add_report_dir(parser, "proxy")
    parser.add_argument("--fail-on", choices=report.FAIL_ON, default="violation",
                        help="what makes the exit code 1 (default: %(default)s)")  # fmt: skip
    baselines.add_arguments(parser)
    parser.add_argument("--webhook-forward", metavar="URL",
                        help="receive the API's webhooks on --webhook-port, judge them, forward them here")  # fmt: skip
    parser.add_argument("--webhook-port", type=int, default=8789, help="with --webhook-forward (default: %(default)s)")
    parser.add_argument("--upstream-timeout", type=float, default=600.0, metavar="SECONDS",
                        help="silence from the upstream before the proxy gives up on an answer "
                        "(default: %(default)g)")  # fmt: skip
    parser.add_argument("--duration", type=float, metavar="SECONDS", help="stop by itself after this long")
    live.add_argument(parser)


def main(args: argparse.Namespace) -> int:
    _check(args)
    network = Network.from_args(args)
    accepted = None
    if args.baseline is not None or args.update_baseline:
        from slowcheck.contract.command import known_ids  # the contract's catalogue only when a baseline is named

        accepted = baselines.from_args(args, known_ids())
    report_dir: Path = args.report_dir or new_report_dir("proxy")
    with _upstream(args.upstream) as (upstream, label):
        settings = ProxySettings(
            upstream, args.host, args.port, args.record, args.webhook_forward, args.webhook_port, args.upstream_timeout,
            args.metrics_port,
        )  # fmt: skip
        printer = _Printer()
        proxy = Proxy(settings, printer)
        # The upstream reached as --ca-bundle, --client-cert and --header say (connections open on first use).
        proxy.upstream = Upstream(api_root(upstream), timeout=args.upstream_timeout, network=network)
        printer.started = proxy.started
        _run(_serve(proxy, args.duration, label))
    duration = time.time() - proxy.started
    judged = report.write(
        report_dir, proxy.judge, target=label, duration=duration, fail_on=args.fail_on, baseline=accepted
    )
    sides = proxy.judge.by_side()
    print(f"{proxy.judge.exchanges} exchanges; {sides['client']} client-side and {sides['api']} API-side findings; "
          f"report: {report_dir}")  # fmt: skip
    if args.record is not None:
        print(f"recording: {args.record}")
    if accepted is not None:
        deviations = args.fail_on == "deviation"  # then a deviation fails the run: it is written too
        print("\n".join(accepted.finish(accepted.judged, update=args.update_baseline, deviations=deviations)))
    print(f"verdict: {judged.line()}", flush=True)
    publish(args, report_dir, "proxy", judged)
    return judged.exit_code


def _check(args: argparse.Namespace) -> None:
    if args.upstream is not None:
        api_root(args.upstream)  # a one-line error for a URL that is no API root
    for name in ("port", "webhook_port"):
        value = getattr(args, name)
        if not 0 <= value <= 65535:
            raise ConfigError(f"--{name.replace('_', '-')}: expected a port 0-65535, got {value}")
    if args.webhook_forward is not None and not args.webhook_forward.startswith(("http://", "https://")):
        raise ConfigError(f"--webhook-forward: expected an http(s) URL, got {args.webhook_forward!r}")
    if not args.upstream_timeout > 0 or args.duration is not None and not args.duration > 0:
        raise ConfigError("--upstream-timeout and --duration take seconds > 0")
    if args.metrics_port is not None:
        live.parse_address(args.metrics_port)


@contextlib.contextmanager
def _upstream(given: str | None) -> Iterator[tuple[str, str]]:
    """The upstream named, or an embedded mock (any non-empty key accepted, so the application keeps its own)."""
    if given:
        yield given, given
        return
    from slowcheck.mock import MockSettings
    from slowcheck.mock.app import DEFAULT_MODELS
    from slowcheck.mock.server import mock_in_background

    with tempfile.TemporaryDirectory(prefix="slowcheck-proxy-mock-") as folder:
        models = [*DEFAULT_MODELS, api.DEFAULT_MODEL]
        settings = MockSettings(port=0, db=str(Path(folder) / "mock.sqlite3"), models=models)
        with mock_in_background(settings) as url:
            yield url + "/v1", f"the embedded mock ({url})"


def _run(main: Coroutine[Any, Any, None]) -> None:
    """On uvloop where it is installed (uvicorn[standard] brings it): a third of the proxy's cost per exchange."""
    try:
        import uvloop
    except ImportError:
        asyncio.run(main)
        return
    uvloop.run(main)


async def _serve(proxy: Proxy, duration: float | None, label: str) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    await proxy.start()
    sdk_base = proxy.url + api.SLOW_PREFIXES[0]
    print(f"slowcheck proxy: {proxy.url}/v1 -> {label}; SDKs take base_url={sdk_base}", flush=True)
    if proxy.webhook_port is not None:
        print(f"webhooks: point the API at http://{proxy.settings.host}:{proxy.webhook_port}/ "
              f"(forwarded to {proxy.settings.webhook_forward})", flush=True)  # fmt: skip
    if proxy.metrics_url is not None:
        print(f"live figures: {proxy.metrics_url}", flush=True)
    print("Ctrl-C to stop and write the report", flush=True)
    try:
        await asyncio.wait_for(stop.wait(), duration)
    except asyncio.TimeoutError:
        pass
    finally:
        await proxy.stop()


class _Printer:
    """A line per finding as it happens: the first few of each check, then a count."""

    def __init__(self) -> None:
        self.shown: Counter[str] = Counter()
        self.started = time.time()

    def __call__(self, finding: Finding) -> None:
        self.shown[finding.check] += 1
        count = self.shown[finding.check]
        if count > _SHOWN:
            return
        side = "client" if finding.side == "client" else "API   "
        clock = finding.at - self.started
        more = " (further ones are counted, not printed)" if count == _SHOWN else ""
        print(f"[{clock:7.1f} s] {side} {finding.outcome.value:9} {finding.check}: {finding.message}{more}",
              file=sys.stdout, flush=True)  # fmt: skip
