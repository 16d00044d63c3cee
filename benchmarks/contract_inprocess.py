"""The whole contract catalogue against the mock: over a loopback socket (uvicorn in a thread, as the embedded mock
is served) and in this process (``slowcheck.inprocess``: the same app behind an httpx transport, no socket).

Each run starts a fresh mock with the embedded mock's timing and judges every rule but the webhook ones (they need
a receiver either way); the figure is the wall time of the suite (preflight to last rule), mock start excluded.
The suite's time is mostly waiting for generations (a poll's backoff is a second where the mock sends no hint),
so the transport's own cost is measured too: the median of ``--requests`` reads of ``GET /v1/models``.

python benchmarks/contract_inprocess.py [--runs 5] [--requests 500]
"""

from __future__ import annotations

import argparse
import contextlib
import statistics
import time
from collections.abc import Iterator

import httpx

from slowcheck import api
from slowcheck.contract.runner import Judgement, Suite, select
from slowcheck.contract.target import Target
from slowcheck.embedded import INSTANT
from slowcheck.inprocess import ROOT, in_process
from slowcheck.mock import MockSettings, Span, create_app
from slowcheck.mock.app import DEFAULT_MODELS
from slowcheck.mock.server import mock_in_background

KEYS = ["sk-bench-inprocess-one", "sk-bench-inprocess-two"]


def settings() -> MockSettings:
    return MockSettings(
        port=0,
        db=":memory:",
        api_keys=KEYS,
        models=list(DEFAULT_MODELS),
        queue_time=Span(*INSTANT.queued),
        run_time=Span(*INSTANT.running),
    )


@contextlib.contextmanager
def over_socket() -> Iterator[tuple[str, httpx.BaseTransport | None]]:
    with mock_in_background(settings()) as url:
        yield url, None


@contextlib.contextmanager
def in_this_process() -> Iterator[tuple[str, httpx.BaseTransport | None]]:
    with in_process(create_app(settings())) as transport:
        yield ROOT, transport


def judged(served: contextlib.AbstractContextManager[tuple[str, httpx.BaseTransport | None]]) -> Judgement:
    with served as (root, transport):
        target = Target(root + "/v1", KEYS[0], second_api_key=KEYS[1], batch_base_url=root + "/v1",
                        embedding_model=api.EMBEDDING_MODEL, reread_spacing=0.0, transport=transport)  # fmt: skip
        try:
            return Suite(target, select()).judge()
        finally:
            target.close()


def latency(served: contextlib.AbstractContextManager[tuple[str, httpx.BaseTransport | None]], count: int) -> float:
    """The median milliseconds of one authenticated read, through the client the suite uses."""
    with served as (root, transport), httpx.Client(base_url=root, transport=transport) as client:
        seconds = []
        for _ in range(count):
            started = time.perf_counter()
            client.get(api.MODELS, headers={"Authorization": f"Bearer {KEYS[0]}"}).raise_for_status()
            seconds.append(time.perf_counter() - started)
    return statistics.median(seconds) * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--requests", type=int, default=500)
    args = parser.parse_args()
    modes = {"loopback socket": over_socket, "in process": in_this_process}
    times: dict[str, list[float]] = {mode: [] for mode in modes}
    last: dict[str, Judgement] = {}
    for _ in range(args.runs):
        for mode, serve in modes.items():  # alternated, so that a slow spell of the machine hits both
            last[mode] = judged(serve())
            times[mode].append(last[mode].duration)
            if last[mode].verdict.status != "pass":
                raise SystemExit(f"{mode}: the suite did not pass: {last[mode].verdict.line()}")
    medians = {mode: statistics.median(seconds) for mode, seconds in times.items()}
    for mode, seconds in times.items():
        tally = last[mode].counts()
        print(
            f"{mode:16} median {medians[mode]:6.2f} s (min {min(seconds):.2f}, max {max(seconds):.2f}) over "
            f"{args.runs} runs; last: {tally['held']} held, {tally['skipped']} skipped, {last[mode].spent}"
        )
    print(f"whole catalogue, in process / loopback: {medians['in process'] / medians['loopback socket']:.2f}")
    reads = {mode: latency(serve(), args.requests) for mode, serve in modes.items()}
    for mode, ms in reads.items():
        print(f"{mode:16} one GET {api.MODELS}: median {ms:.3f} ms of {args.requests}")
    print(f"one request, in process / loopback: {reads['in process'] / reads['loopback socket']:.2f}")
    print(f"reproduce: python benchmarks/contract_inprocess.py --runs {args.runs} --requests {args.requests}")


if __name__ == "__main__":
    main()
