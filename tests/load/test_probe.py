"""The rate-limit probe against the docs-shaped server's limiters: a token bucket, a fixed window and a sliding
window, from 1 s to 60 s, each read in its own run.

Time is simulated: the server's clock is the probe's, and the probe's pauses and its pace move it on, so a
probe that watches two minute-long windows runs in a second. Every request still goes through the server's
HTTP app (the Retry-After it sends is whole seconds, rounded up, as a real gateway's)."""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest
from starlette.testclient import TestClient

from slowcheck.load.probe import Answer, Reading, answer_from, probe, reset_seconds
from tests.docs_server import MODELS, Habits, create_app

BODY = json.dumps({"model": MODELS[0], "messages": [{"role": "user", "content": "hi"}], "max_tokens": 1})


class Clock:
    def __init__(self, start: float) -> None:
        self.t = start

    def __call__(self) -> float:
        return self.t


class SimulatedWire:
    """Sends one request at a time through the server's app; time moves only as the probe's pace says."""

    def __init__(self, client: TestClient, clock: Clock, key: str = "sk-docs-one") -> None:
        self.client, self.clock, self.key, self.sent = client, clock, key, 0

    def now(self) -> float:
        return self.clock.t

    def sleep(self, seconds: float) -> None:
        self.clock.t += seconds

    def send_until(self, rate: Callable[[], float], stop: Callable[[Answer], bool], deadline: float) -> list[Answer]:
        answers = []
        while self.clock.t < deadline:
            at = self.clock.t
            response = self.client.post(
                "/v1/slow/chat/completions", content=BODY,
                headers={"Authorization": f"Bearer {self.key}", "Content-Type": "application/json"},
            )  # fmt: skip
            self.sent += 1
            answer = answer_from(at, at, response.status_code, {k.lower(): v for k, v in response.headers.items()})
            answers.append(answer)
            self.clock.t += 1 / rate()
            if stop(answer):
                break
        return answers


def read(kind: str, limit: int, window: float, *, phase: float = 0.37, pace: float = 50.0,
         duration: float = 600.0) -> tuple[Reading, int, dict[str, int]]:  # fmt: skip
    clock = Clock(1_000_000 * window + phase * window)  # the probe starts part-way into a fixed window
    app = create_app(Habits(rate_limit=limit, rate_window=window, rate_kind=kind, clock=clock))  # type: ignore[arg-type]
    with TestClient(app) as client:
        wire = SimulatedWire(client, clock)
        reading = probe(wire, ceiling=pace, deadline=clock.t + duration)
    return reading, wire.sent, app.state.sent


@pytest.mark.parametrize("kind", ["bucket", "fixed", "sliding"])
def test_a_published_per_minute_limit_is_read_within_ten_percent(kind: str) -> None:
    """250 a minute (inference.net's paid tier): as a bucket of 250 refilled at 4.17/s, a fixed window, a
    sliding window."""
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
@pytest.mark.parametrize(("limit", "window"), [(20, 1.0), (100, 10.0), (30, 60.0)])
def test_limits_from_one_second_to_a_minute(kind: str, limit: int, window: float) -> None:
    reading, _, _ = read(kind, limit, window, pace=200.0 if window == 1 else 50.0)
    assert reading.conclusive, reading.reason
    assert reading.sustained_per_s == pytest.approx(limit / window, rel=0.10)
    assert reading.burst == pytest.approx(limit, rel=0.10)


@pytest.mark.parametrize("phase", [0.0, 0.5, 0.95])
def test_a_fixed_window_reads_the_same_wherever_the_probe_starts_in_it(phase: float) -> None:
    reading, _, _ = read("fixed", 250, 60.0, phase=phase)
    assert reading.sustained_per_s == pytest.approx(250 / 60, rel=0.10)
    assert reading.burst == pytest.approx(250, rel=0.10)


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
    reset = answer_from(0, 0, 429, {"retry-after": "1", "x-ratelimit-reset-requests": "6m0s",
                                    "x-ratelimit-limit-requests": "250"})  # fmt: skip
    assert (coarse.hint, coarse.exact) == (2, False)
    assert (exact.hint, exact.exact) == (1.5, True)
    assert (reset.hint, reset.exact, reset.limit) == (360, True, 250)
    assert answer_from(0, 0, 202, {"retry-after": "2"}).hint is None


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
