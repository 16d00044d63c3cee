"""How well the rate-limit probe reads limits of known shape: burst, sustained rate and window, and their error.

Each case is a limiter of the docs-shaped test server (``tests/docs_server.py``: a token bucket, a fixed window
or a sliding window, answering 429 with a whole-second ``Retry-After`` and nothing else), probed at several
starting points within its window, its requests sent at the probe's pace give or take 40 % (``--exact``: at
it exactly). Time is simulated (the server's clock is the probe's), so a minute-long
window is watched twice in about a second; every request still goes through the server's HTTP app.

    python benchmarks/rate_limit_probe.py [--pace 50]
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
from collections.abc import Callable
from pathlib import Path

from starlette.testclient import TestClient

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from tests.docs_server import MODELS, Habits, create_app

from slowcheck.load.probe import Reading, probe
from slowcheck.load.probe_answer import ProbeAnswer, answer_from

CASES = [(kind, limit, window) for kind in ("bucket", "fixed", "sliding")
         for limit, window in ((30, 60.0), (250, 60.0), (100, 10.0), (20, 1.0))]  # fmt: skip
PHASES = (0.0, 0.13, 0.37, 0.61, 0.89)
BODY = json.dumps({"model": MODELS[0], "messages": [{"role": "user", "content": "hi"}], "max_tokens": 1})


class Wire:
    """One request at a time through the app; each gap 60 to 140 % of the pace's unless ``exact``."""

    def __init__(self, client: TestClient, clock: list[float], *, exact: bool) -> None:
        self.client, self.clock, self.sent = client, clock, 0
        self.rng = None if exact else random.Random(7)

    def now(self) -> float:
        return self.clock[0]

    def sleep(self, seconds: float) -> None:
        self.clock[0] += seconds

    def send_until(
        self, rate: Callable[[], float], stop: Callable[[ProbeAnswer], bool], deadline: float
    ) -> list[ProbeAnswer]:
        answers = []
        while self.clock[0] < deadline:
            at = self.clock[0]
            answer = self.client.post(
                "/v1/slow/chat/completions", content=BODY, headers={"Authorization": "Bearer sk-docs-one"}
            )
            self.sent += 1
            answers.append(answer_from(at, at, answer.status_code, {k.lower(): v for k, v in answer.headers.items()}))
            self.clock[0] += (1 / rate()) * (self.rng.uniform(0.6, 1.4) if self.rng else 1.0)
            if stop(answers[-1]):
                break
        return answers


def read(kind: str, limit: int, window: float, phase: float, pace: float, exact: bool) -> tuple[Reading, int]:
    """One probe of one limiter, started ``phase`` of a window in; the reading and the requests it took."""
    clock = [1_000_000 * window + phase * window]
    habits = Habits(rate_limit=limit, rate_window=window, rate_kind=kind, clock=lambda: clock[0])  # type: ignore[arg-type]
    with TestClient(create_app(habits)) as client:
        wire = Wire(client, clock, exact=exact)
        reading = probe(wire, ceiling=pace, deadline=clock[0] + 600)
    return reading, wire.sent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pace", type=float, default=50.0, help="the probe's --rate (1 s windows use 4x)")
    parser.add_argument("--exact", action="store_true", help="send at the exact pace (default: jittered, as in life)")
    args = parser.parse_args()
    print(
        f"{'limiter':<22} {'sustained err':>14} {'burst err':>10} {'window':>8} {'watched':>8} {'requests':>9}  shape"
    )
    worst = 0.0
    for kind, limit, window in CASES:
        errors_s, errors_b, windows, watched, sent, kinds = [], [], [], [], [], set()
        for phase in PHASES:
            reading, requests = read(kind, limit, window, phase, args.pace * (4 if window < 2 else 1), args.exact)
            if not (reading.conclusive and reading.sustained_per_s and reading.burst):
                raise SystemExit(f"{kind} {limit}/{window:g} s at {phase}: {reading.reason}")
            errors_s.append(reading.sustained_per_s / (limit / window) - 1)
            errors_b.append(reading.burst / limit - 1)
            windows.append(reading.window_s or 0)
            watched.append(reading.watched_s)
            sent.append(requests)
            kinds.add(str(reading.kind))
        worst = max(worst, *map(abs, errors_s + errors_b))
        name = f"{kind} {limit}/{window:g} s"
        figures = f"{statistics.median(watched):>7.0f}s {statistics.median(sent):>9.0f}  {', '.join(sorted(kinds))}"
        print(
            f"{name:<22} {_spread(errors_s):>14} {_spread(errors_b):>10} {statistics.median(windows):>7.1f}s {figures}"
        )
    print(f"\nworst error over {len(CASES)} limiters x {len(PHASES)} starting points: {worst:.1%}")
    print(f"reproduce: python benchmarks/rate_limit_probe.py --pace {args.pace:g}{' --exact' if args.exact else ''}")


def _spread(errors: list[float]) -> str:
    low, high = min(errors), max(errors)
    return f"{low:+.1%}" if abs(high - low) < 0.0005 else f"{low:+.1%}..{high:+.1%}"


if __name__ == "__main__":
    main()
