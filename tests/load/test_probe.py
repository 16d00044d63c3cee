"""The rate-limit probe against the docs-shaped server's limiters: a token bucket, a fixed window and a sliding
window, from 1 s to 60 s, each read in its own run.

Time is simulated: the server's clock is the probe's, and the probe's pauses and its pace move it on, so a
probe that watches two minute-long windows runs in a second. Every request still goes through the server's
HTTP app (the Retry-After it sends is whole seconds, rounded up, as a real gateway's)."""

from __future__ import annotations

import email.utils
import heapq
import json
import math
import random
import time
from collections.abc import Callable

import pytest
from starlette.testclient import TestClient

from slowcheck.load.probe import Reading, probe
from slowcheck.load.probe_answer import ProbeAnswer, answer_from, reset_seconds
from tests.docs_server import MODELS, Habits, create_app

pytestmark = pytest.mark.slow  # most tests are whole probe runs of simulated minutes: about a second of CPU each
BODY = json.dumps({"model": MODELS[0], "messages": [{"role": "user", "content": "hi"}], "max_tokens": 1})


class Clock:
    def __init__(self, start: float) -> None:
        self.t = start

    def __call__(self) -> float:
        return self.t


class SimulatedWire:
    """Sends one request at a time through the server's app; time moves only as the probe's pace says, each gap
    drawn from 60 to 140 % of it when ``jitter`` (a real sender's timers and network are never exact)."""

    def __init__(self, client: TestClient, clock: Clock, key: str = "sk-docs-one", *, jitter: bool = True) -> None:
        self.client, self.clock, self.key, self.sent = client, clock, key, 0
        self.rng = random.Random(7) if jitter else None
        self.stall: tuple[float, float] | None = None
        """``(at, seconds)``: the sender's machine stalls once, at the first send from ``at`` on (the clock's time),
        and sends nothing for ``seconds``."""

    def now(self) -> float:
        return self.clock.t

    def sleep(self, seconds: float) -> None:
        self.clock.t += seconds

    def send_until(
        self, rate: Callable[[], float], stop: Callable[[ProbeAnswer], bool], deadline: float
    ) -> list[ProbeAnswer]:
        answers = []
        while self.clock.t < deadline:
            if self.stall is not None and self.clock.t >= self.stall[0]:
                self.clock.t += self.stall[1]
                self.stall = None
            at = self.clock.t
            response = self.client.post(
                "/v1/slow/chat/completions", content=BODY,
                headers={"Authorization": f"Bearer {self.key}", "Content-Type": "application/json"},
            )  # fmt: skip
            self.sent += 1
            answer = answer_from(at, at, response.status_code, {k.lower(): v for k, v in response.headers.items()})
            answers.append(answer)
            self.clock.t += (1 / rate()) * (self.rng.uniform(0.6, 1.4) if self.rng else 1.0)
            if stop(answer):
                break
        return answers


class ConcurrentWire(SimulatedWire):
    """Open-loop sending with a network between: each request reaches the server ``latency`` (drawn) after it
    is sent and its answer comes back as long again, so requests overlap and answers land out of order."""

    def __init__(self, client: TestClient, clock: Clock, latency: tuple[float, float], seed: int) -> None:
        super().__init__(client, clock)
        self.latency, self.rng = latency, random.Random(seed)

    def send_until(
        self, rate: Callable[[], float], stop: Callable[[ProbeAnswer], bool], deadline: float
    ) -> list[ProbeAnswer]:
        answers: list[ProbeAnswer] = []
        landing: list[tuple[float, int, float, int, dict[str, str]]] = []
        due, stopped, order = self.clock.t, False, 0
        while True:
            send = due if not stopped and due < deadline else math.inf
            land = landing[0][0] if landing else math.inf
            if send == land == math.inf:
                return sorted(answers, key=lambda a: a.sent)
            if send <= land:
                sent = self.clock.t = max(self.clock.t, send)
                self.clock.t = sent + self.rng.uniform(*self.latency)  # the server's clock when it arrives
                response = self.client.post("/v1/slow/chat/completions", content=BODY,
                                            headers={"Authorization": f"Bearer {self.key}"})  # fmt: skip
                self.sent += 1
                headers = {k.lower(): v for k, v in response.headers.items()}
                back = self.clock.t + self.rng.uniform(*self.latency)
                order += 1
                heapq.heappush(landing, (back, order, sent, response.status_code, headers))
                self.clock.t = sent
                due += 1 / rate()
            else:
                back, _, sent, status, headers = heapq.heappop(landing)
                self.clock.t = max(self.clock.t, back)
                answers.append(answer_from(sent, back, status, headers))
                stopped = stopped or stop(answers[-1])


def read(
    kind: str, limit: int, window: float, *, phase: float = 0.37, pace: float = 50.0, duration: float = 600.0,
    jitter: bool = True, used: int = 0, latency: tuple[float, float] | None = None, seed: int = 0,
    stall: tuple[float, float] | None = None,
) -> tuple[Reading, int, dict[str, int]]:  # fmt: skip
    """``stall``: ``(seconds into the probe, for how long)`` the sender sends nothing."""
    clock = Clock(1_000_000 * window + phase * window)  # the probe starts part-way into a fixed window
    app = create_app(Habits(rate_limit=limit, rate_window=window, rate_kind=kind, clock=clock))  # type: ignore[arg-type]
    with TestClient(app) as client:
        wire = (SimulatedWire(client, clock, jitter=jitter) if latency is None
                else ConcurrentWire(client, clock, latency, seed))  # fmt: skip
        for _ in range(used):  # what came before the probe (slowcheck's own preflight sends one submission)
            wire.send_until(lambda: 1.0, lambda _: True, clock.t + 1)
        clock.t += 1.5 if used else 0.0
        if stall is not None:  # (the concurrent wire sends through no stall)
            wire.stall = (clock.t + stall[0], stall[1])
        reading = probe(wire, ceiling=pace, deadline=clock.t + duration)
    return reading, wire.sent, app.state.sent


@pytest.mark.parametrize("kind", ["bucket", "fixed", "sliding"])
def test_a_published_per_minute_limit_is_read_within_ten_percent(kind: str) -> None:
    """250 a minute (inference.net's paid tier): as a bucket of 250 refilled at 4.17/s, a fixed window, a
    sliding window, sent with a real sender's jitter (benchmarks/rate_limit_probe.py --exact: without)."""
    reading, sent, counted = read(kind, 250, 60.0)
    assert reading.conclusive, reading.reason
    assert reading.sustained_per_s == pytest.approx(250 / 60, rel=0.10)
    assert reading.burst == pytest.approx(250, rel=0.10)
    assert reading.window_s == pytest.approx(60, rel=0.10)
    assert reading.per_minute == pytest.approx(250, rel=0.10)
    assert reading.watched_s >= 2 * 60 * 0.9, "two windows watched"
    assert counted["429"] > 0
    assert sent == counted["requests"]
    assert reading.kind == {"bucket": "token bucket", "fixed": "fixed window", "sliding": "sliding window"}[kind]


@pytest.mark.parametrize("kind", ["bucket", "fixed", "sliding"])
@pytest.mark.parametrize(("limit", "window"), [(20, 1.0), (100, 10.0)])
def test_limits_from_one_second_to_a_minute(kind: str, limit: int, window: float) -> None:
    reading, _, _ = read(kind, limit, window, pace=200.0 if window == 1 else 50.0)
    assert reading.conclusive, reading.reason
    assert reading.sustained_per_s == pytest.approx(limit / window, rel=0.10)
    assert reading.burst == pytest.approx(limit, rel=0.10)


@pytest.mark.parametrize("phase", [0.0, 0.5, 0.95])
def test_a_fixed_window_reads_the_same_wherever_the_probe_starts_in_it(phase: float) -> None:
    reading, _, _ = read("fixed", 30, 60.0, phase=phase)
    assert reading.sustained_per_s == pytest.approx(30 / 60, rel=0.10)
    assert reading.burst == pytest.approx(30, rel=0.10)


@pytest.mark.parametrize("seed", [1])
@pytest.mark.parametrize("kind", ["bucket", "fixed", "sliding"])
def test_answers_that_overlap_and_land_out_of_order_read_the_same(kind: str, seed: int) -> None:
    """20 to 300 ms each way: a poll sent before capacity came back lands after an acceptance."""
    reading, _, _ = read(kind, 250, 60.0, latency=(0.02, 0.3), seed=seed)
    assert reading.conclusive, reading.reason
    assert reading.sustained_per_s == pytest.approx(250 / 60, rel=0.10)
    assert reading.burst == pytest.approx(250, rel=0.10)


@pytest.mark.parametrize("kind", ["fixed", "sliding"])
def test_a_sender_that_stalls_amid_a_lump_reads_the_same_window(kind: str) -> None:
    """A busy machine or a network blip holds the sender for 0.3 s while a window's allowance comes back: a gap
    in what was accepted, with nothing refused in it, is the sender's, not a silence between lumps. 20 every 2 s
    (whose silence was cut at 0.2 s), with the stall at every 0.2 s of the first 3 s (where the old cut misread
    it: 2 of these 15 starts for a fixed window, 3 for a sliding one)."""
    misread = {}
    for fifth in range(15):
        reading, _, _ = read(kind, 20, 2.0, stall=(fifth / 5, 0.3), duration=60.0)
        right = (
            reading.conclusive
            and reading.burst == pytest.approx(20, rel=0.10)
            and reading.window_s == pytest.approx(2, rel=0.10)
            and reading.sustained_per_s == pytest.approx(10, rel=0.10)
        )
        if not right:
            misread[fifth / 5] = (reading.burst, reading.window_s, reading.sustained_per_s, reading.reason)
    assert not misread, misread


@pytest.mark.parametrize("kind", ["bucket", "fixed", "sliding"])
def test_a_window_already_in_use_when_the_probe_starts_reads_the_same(kind: str) -> None:
    """A sliding window then gives back its capacity in two parts, one the probe did not take: still one window."""
    reading, _, _ = read(kind, 30, 60.0, used=1)
    assert reading.conclusive, reading.reason
    assert reading.sustained_per_s == pytest.approx(0.5, rel=0.10)
    assert reading.burst == pytest.approx(30, rel=0.10)


def test_the_old_two_second_steps_misreading_is_gone() -> None:
    """The issue's case: a fixed window of 250 a minute once read as 45.7/s, eleven times too high."""
    reading, _, _ = read("fixed", 250, 60.0, pace=100.0)
    assert reading.sustained_per_s is not None
    assert reading.sustained_per_s < 250 / 60 * 1.1


def test_a_run_too_short_for_two_windows_is_inconclusive_and_says_how_long_it_needs() -> None:
    reading, _, _ = read("fixed", 250, 60.0, duration=90.0)
    assert not reading.conclusive
    assert reading.sustained_per_s is None
    assert reading.burst is None
    assert "--duration" in (reading.reason or "")


def test_a_limit_above_the_pace_is_inconclusive() -> None:
    reading, sent, counted = read("bucket", 1000, 1.0, pace=50.0, duration=5.0)
    assert not reading.conclusive
    assert counted["429"] == 0
    assert "no 429" in (reading.reason or "")
    assert "--rate" in (reading.reason or "")
    assert reading.from_idle == sent


def test_a_whole_second_retry_after_is_read_as_rounded_up_and_an_exact_one_as_it_is() -> None:
    coarse = answer_from(0, 0, 429, {"retry-after": "2"})
    exact = answer_from(0, 0, 429, {"retry-after": "2", "retry-after-ms": "1500"})
    dated = answer_from(0, 0, 429, {"retry-after": email.utils.formatdate(time.time() + 30, usegmt=True)})
    assert (coarse.hint, coarse.exact) == (2, False)
    assert (exact.hint, exact.exact) == (1.5, True)
    assert dated.hint == pytest.approx(30, abs=2)
    assert not dated.exact
    assert answer_from(0, 0, 202, {"retry-after": "2"}).hint is None


def test_the_reset_header_says_when_the_limit_is_full_so_retry_after_comes_first() -> None:
    both = answer_from(0, 0, 429, {"retry-after": "1", "x-ratelimit-reset-requests": "6m0s",
                                   "x-ratelimit-limit-requests": "250"})  # fmt: skip
    alone = answer_from(0, 0, 429, {"x-ratelimit-reset-requests": "1.5s"})
    assert (both.hint, both.exact, both.limit) == (1, False, 250)
    assert (alone.hint, alone.exact) == (1.5, True)


@pytest.mark.parametrize(
    ("text", "seconds"), [("12ms", 0.012), ("1.5s", 1.5), ("6m0s", 360), ("1h2m3s", 3723), ("", None), ("5 s", None)]
)
def test_reset_headers_are_go_durations(text: str, seconds: float | None) -> None:
    assert reset_seconds(text) == (pytest.approx(seconds) if seconds is not None else None)


def test_a_target_that_answers_errors_is_not_read_as_a_limit() -> None:
    clock = Clock(1000.0)
    with TestClient(create_app(Habits(rate_limit=1000, rate_window=1, clock=clock))) as client:  # type: ignore[arg-type]
        wire = SimulatedWire(client, clock, key="sk-wrong")
        reading = probe(wire, ceiling=50, deadline=clock.t + 60)
    assert not reading.conclusive
    assert "HTTP 401" in (reading.reason or "")
    assert wire.sent < 50


class ShutWire:
    """A limiter that takes five requests and then refuses every one, saying each time to retry in a second
    (one that counts refused requests, polled, never reopens)."""

    def __init__(self) -> None:
        self.t, self.sent = 0.0, 0

    def now(self) -> float:
        return self.t

    def sleep(self, seconds: float) -> None:
        self.t += seconds

    def send_until(
        self, rate: Callable[[], float], stop: Callable[[ProbeAnswer], bool], deadline: float
    ) -> list[ProbeAnswer]:
        answers = []
        while self.t < deadline:
            self.sent += 1
            status = 202 if self.sent <= 5 else 429
            answers.append(answer_from(self.t, self.t, status, {"retry-after": "1"}))
            self.t += 1 / rate()
            if stop(answers[-1]):
                break
        return answers


def test_a_limit_that_never_reopens_is_given_up_on_not_polled_until_the_deadline() -> None:
    wire = ShutWire()
    reading = probe(wire, ceiling=50, deadline=3600)
    assert not reading.conclusive
    assert "count refused requests" in (reading.reason or "")
    assert wire.t < 200, "two minutes of polling, not an hour"
