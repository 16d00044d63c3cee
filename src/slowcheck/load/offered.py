"""Offered load as an open model: arrival times fixed in advance, whatever the answers take.

A rate is ``50`` (constant), or stages ``20@10,50@10,100`` (rate@seconds; the last stage takes what is left
of the duration), the way k6's arrival-rate executors describe load. Arrivals are interleaved across users,
so N users (in N processes) together offer exactly the planned schedule.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass

from slowcheck.errors import ConfigError

__all__ = [
    "STRATEGIES",
    "Stage",
    "arrivals",
    "parse_pace",
    "peak_rate",
    "parse_stages",
    "parse_strategies",
]

STRATEGIES = ("fixed", "backoff", "hinted", "webhook")
"""The poll scenario's strategies, in report order."""


@dataclass(frozen=True, slots=True)
class Stage:
    rate: float
    """Arrivals per second."""
    seconds: float


def parse_stages(text: str, duration: float) -> list[Stage]:
    """``--rate`` for the submit and poll scenarios."""
    if duration <= 0 or not math.isfinite(duration):
        raise ConfigError(f"--duration: expected seconds > 0, got {duration:g}")
    parts = [p.strip() for p in str(text).split(",")]
    stages: list[Stage] = []
    left = duration
    for index, part in enumerate(parts):
        rate_text, sep, seconds_text = part.partition("@")
        last = index == len(parts) - 1
        rate = _positive(rate_text, "--rate", text)
        if sep:
            seconds = _positive(seconds_text, "--rate", text)
        elif last:
            seconds = left
        else:
            raise ConfigError(f"--rate: every stage but the last needs @SECONDS, e.g. 20@10,50, got {text!r}")
        seconds = min(seconds, left)
        if seconds > 0:
            stages.append(Stage(rate, seconds))
        left -= seconds
    if not stages:
        raise ConfigError(f"--rate: no stage fits in --duration {duration:g}, got {text!r}")
    return stages


def parse_pace(text: str) -> float:
    """``--rate`` for the rate-limit probe: the one pace it submits at while it takes what the limit gives."""
    if ".." in str(text):
        raise ConfigError(
            f"--rate: the rate-limit probe takes one pace (requests a second, e.g. 50), not a range, got {text!r}"
        )
    pace = _positive(str(text), "--rate", str(text))
    if pace < 1:
        raise ConfigError(f"--rate: the rate-limit probe's pace must be at least 1 request a second, got {text!r}")
    return pace


def peak_rate(scenario: str, rate: str, duration: float) -> float:
    """The highest submission rate a plan offers (0 when it cannot say: all at once, or a trace)."""
    if scenario == "rate-limit":
        return parse_pace(rate)
    try:
        return max(stage.rate for stage in parse_stages(rate, duration))
    except ConfigError:
        return 0.0


def parse_strategies(text: str) -> list[str]:
    """``--strategies``: some of :data:`STRATEGIES`, comma-separated."""
    names = [s.strip() for s in str(text).split(",") if s.strip()]
    if not names or set(names) - set(STRATEGIES):
        raise ConfigError(f"--strategies: expected some of {','.join(STRATEGIES)}, got {text!r}")
    return names


def arrivals(stages: list[Stage], *, share: int = 0, of: int = 1) -> Iterator[float]:
    """Offsets in seconds from the start at which this user (``share`` of ``of``) sends its submissions."""
    begin = 0.0
    index = 0
    for stage in stages:
        step = 1.0 / stage.rate
        count = math.ceil(stage.seconds * stage.rate - 1e-9)
        for j in range(count):
            if index % of == share:
                yield begin + j * step
            index += 1
        begin += stage.seconds


def _positive(text: str, flag: str, whole: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise ConfigError(f"{flag}: expected a number of requests per second, got {whole!r}") from None
    if not (value > 0 and math.isfinite(value)):
        raise ConfigError(f"{flag}: expected a rate > 0, got {whole!r}")
    return value
