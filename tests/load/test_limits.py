"""Which published limit a run met, the gateway's room for polls, and what a plan is told before it starts."""

from __future__ import annotations

import pytest

from slowcheck.load.limits import Budget, Gate, met, named, plan_notes, tick
from slowcheck.load.samples import Samples

START = 1000.0


def traffic(per_second: float, seconds: float = 10.0) -> dict[str, int]:
    """The key's requests, evenly spread, per tenth of a second."""
    sent = Samples()
    for n in range(int(per_second * seconds)):
        sent.sent(START + n / per_second, "submit", 202)
    return dict(sent.per_tick)


def refused(*refusals: tuple[float, str, str]) -> dict[str, int]:
    samples = Samples()
    for at, what, said in refusals:
        samples.sent(at, what, 429, said)
    return dict(samples.refusals)


QUIET, BUSY = traffic(5), traffic(100)


def test_no_429_means_the_apis_own_capacity_was_measured() -> None:
    verdict = met({}, QUIET, Budget(250, 100))
    assert verdict["met"] == "none"
    assert "own capacity" in verdict["says"]


def test_a_refused_submission_in_a_quiet_second_is_the_generation_limit() -> None:
    verdict = met(refused((1003.2, "submit", ""), (1004.9, "submit", "")), QUIET, Budget(250, 100))
    assert verdict["met"] == "generation"
    assert verdict["counts"]["generation"] == 2
    assert "250 a minute" in verdict["says"]
    assert verdict["first_s"]["generation"] == 3.2


def test_a_refusal_after_a_second_at_the_gateways_rate_is_the_gateway() -> None:
    verdict = met(refused((1003.2, "submit", ""), (1004.1, "submit", "")), BUSY, Budget(250, 100))
    assert verdict["met"] == "gateway"
    assert verdict["counts"]["gateway"] == 2
    assert "measured the gateway, not the API" in verdict["says"]


def test_the_busy_second_is_the_one_before_the_429_not_the_clocks() -> None:
    """100 requests between 1003.5 and 1004.5: a 429 at 1004.45 follows a full second, though neither epoch
    second holds 100."""
    sent = Samples()
    for n in range(100):
        sent.sent(1003.5 + n / 100, "submit", 202)
    verdict = met(refused((1004.45, "submit", "")), dict(sent.per_tick), Budget(None, 100))
    assert verdict["met"] == "gateway"


def test_without_a_gateway_a_busy_second_is_no_gateway() -> None:
    """The embedded mock with no gateway, loaded at 150/s: its 429s are its submit limit's."""
    verdict = met(refused((1003.2, "submit", "")), traffic(150), Budget(None, None))
    assert verdict["met"] == "generation"


def test_what_the_429_says_comes_first() -> None:
    """The generation limit's 429s in a busy second: the message names them."""
    said = named("Rate limit reached for generation requests (250 a minute per API key): retry after 1.2s.")
    verdict = met(refused((1003.2, "submit", said), (1003.3, "submit", said)), BUSY, Budget(250, 100))
    assert (said, verdict["met"]) == ("generation", "generation")
    gateway = named("Rate limit reached: 100 requests a second per API key, across all endpoints: retry after 0.1s")
    assert gateway == "gateway"
    assert named("File uploads are limited to one every 60 s.") == "upload"
    assert named("slow down") == ""


def test_a_refused_poll_is_the_gateway_the_only_limit_that_counts_polls() -> None:
    verdict = met(refused((1003.0, "poll", ""), (1003.5, "poll", ""), (1004.0, "submit", "")), QUIET, Budget(250))
    assert verdict["met"] == "gateway"
    assert verdict["counts"]["generation"] == 1
    assert "also generation limit 1" in verdict["says"]


def test_counts_from_many_processes_add_up_whatever_their_number() -> None:
    first, second = Samples(), Samples()
    for n in range(30_000):
        (first if n % 2 else second).sent(START + n / 1000, "submit", 429)
    first.merge(second)
    assert met(dict(first.refusals), dict(first.per_tick), Budget())["counts"]["generation"] == 30_000


def test_the_gate_spaces_polls_to_its_rate_after_a_seconds_worth() -> None:
    gate = Gate(4.0)
    waits = [gate.wait(10.0) for _ in range(6)]
    assert waits[:4] == [0.0] * 4, "a second's worth goes at once"
    assert waits[4] == pytest.approx(0.25)
    assert waits[5] == pytest.approx(0.5)
    assert gate.wait(12.0) == 0.0, "refilled after a quiet while"


def test_polls_keep_a_tenth_of_the_gateway_when_the_submissions_fill_it() -> None:
    assert Budget(None, 100).poll_room(95) == pytest.approx(10)
    assert Budget(None, 100).poll_room(10) == pytest.approx(80)
    assert Budget(250, None).poll_room(95) is None


def test_a_plan_over_the_generation_limit_and_one_the_gateway_cannot_carry_are_told() -> None:
    notes = plan_notes("jobs", 10.0, Budget(250, 100), polls=True)
    assert any("600 a minute" in n and "generation limit is 250" in n for n in notes)
    assert any("polls are held to 80/s" in n for n in notes)
    bound = plan_notes("poll", 120.0, Budget(None, 100), polls=True)
    assert any("submissions alone meet it" in n and "no room left for polls" in n for n in bound)
    assert plan_notes("submit", 2.0, Budget(250, 100), polls=False) == []


def test_ticks_are_tenths_of_a_second() -> None:
    assert (tick(1003.99), tick(1004.0)) == ("10039", "10040")
