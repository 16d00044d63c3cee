"""The open-model schedule: how many arrivals, when, and how users share them."""

from __future__ import annotations

import pytest

from slowcheck.errors import ConfigError
from slowcheck.load.offered import Stage, arrivals, parse_pace, parse_stages


def test_a_constant_rate_fills_the_duration() -> None:
    stages = parse_stages("50", 30)
    assert stages == [Stage(50, 30)]
    times = list(arrivals(stages))
    assert len(times) == 1500
    assert times[1] - times[0] == pytest.approx(0.02)
    assert max(times) < 30


def test_stages_run_in_order_and_the_last_takes_the_rest() -> None:
    stages = parse_stages("10@2,40@1,5", 5)
    assert stages == [Stage(10, 2), Stage(40, 1), Stage(5, 2)]
    times = list(arrivals(stages))
    assert len(times) == 20 + 40 + 10
    assert sum(1 for t in times if 2 <= t < 3) == 40, "the second stage offers its own rate"


def test_stages_beyond_the_duration_are_cut() -> None:
    assert parse_stages("10@4,40@4", 5) == [Stage(10, 4), Stage(40, 1)]


@pytest.mark.parametrize("users", [2, 3, 7])
def test_users_share_the_schedule_exactly(users: int) -> None:
    stages = parse_stages("33@3,70", 6)
    whole = list(arrivals(stages))
    shares = [list(arrivals(stages, share=k, of=users)) for k in range(users)]
    assert sorted(t for share in shares for t in share) == whole
    assert max(map(len, shares)) - min(map(len, shares)) <= 1


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("fast", "expected a number"),
        ("0", "a rate > 0"),
        ("-3", "a rate > 0"),
        ("10,20", "needs @SECONDS"),
        ("10@x,5", "expected a number"),
    ],
)
def test_bad_rates_are_usage_errors(text: str, says: str) -> None:
    with pytest.raises(ConfigError, match=says):
        parse_stages(text, 10)


def test_the_probe_pace() -> None:
    assert parse_pace("50") == 50
    with pytest.raises(ConfigError, match="one pace"):
        parse_pace("10..400")
    with pytest.raises(ConfigError, match="rate > 0"):
        parse_pace("0")
