"""Which published limit a run met, the gateway's room for polls, and what a plan is told before it starts."""

from __future__ import annotations

import pytest

from slowcheck.load.limits import Budget, Gate, met, plan_notes

BUSY = {str(s): 100 for s in range(1000, 1010)}
QUIET = {str(s): 5 for s in range(1000, 1010)}


def test_no_429_means_the_apis_own_capacity_was_measured() -> None:
    verdict = met([], QUIET, Budget(250, 100))
    assert verdict["met"] == "none"
    assert "own capacity" in verdict["says"]


def test_a_refused_submission_in_a_quiet_second_is_the_generation_limit() -> None:
    verdict = met([(1003.2, "submit"), (1004.9, "submit")], QUIET, Budget(250, 100))
    assert verdict["met"] == "generation"
    assert verdict["counts"]["generation"] == 2
    assert "250 a minute" in verdict["says"]
    assert verdict["first_s"]["generation"] == 3.2


def test_a_refusal_in_a_second_at_the_gateways_rate_is_the_gateway() -> None:
    verdict = met([(1003.2, "submit"), (1004.1, "submit"), (1005.0, "poll")], BUSY, Budget(250, 100))
    assert verdict["met"] == "gateway"
    assert verdict["counts"]["gateway"] == 3
    assert "measured the gateway, not the API" in verdict["says"]


def test_a_refused_poll_is_the_gateway_the_only_limit_that_counts_polls() -> None:
    verdict = met([(1003.0, "poll"), (1003.5, "poll"), (1004.0, "submit")], QUIET, Budget(250, None))
    assert verdict["met"] == "gateway"
    assert verdict["counts"]["generation"] == 1
    assert "also generation limit 1" in verdict["says"]


def test_a_refused_upload_is_the_upload_limit() -> None:
    assert met([(1001.0, "upload")], QUIET, Budget())["met"] == "upload"


def test_the_gate_spaces_polls_to_its_rate_after_a_seconds_worth() -> None:
    gate = Gate(4.0)
    waits = [gate.wait(10.0) for _ in range(6)]
    assert waits[:4] == [0.0] * 4, "a second's worth goes at once"
    assert waits[4] == pytest.approx(0.25)
    assert waits[5] == pytest.approx(0.5)
    assert gate.wait(12.0) == 0.0, "refilled after a quiet while"


def test_a_plan_over_the_generation_limit_and_one_the_gateway_cannot_carry_are_told() -> None:
    notes = plan_notes("jobs", 10.0, Budget(250, 100), polls=True)
    assert any("600 a minute" in n and "generation limit is 250" in n for n in notes)
    assert any("polls are held to 80/s" in n for n in notes)
    bound = plan_notes("poll", 120.0, Budget(None, 100), polls=True)
    assert any("submissions alone meet it" in n and "no room left for polls" in n for n in bound)
    assert plan_notes("submit", 2.0, Budget(250, 100), polls=False) == []
