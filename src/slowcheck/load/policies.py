"""The polling strategies a load run compares: when each polls a generation next.

Plain arithmetic over an interval, the attempt number and the last answer's headers; no locust, no clock. The
harness's pollers (``harness.Tracker``) ask a policy for each delay.
"""

from __future__ import annotations

import random
from collections.abc import Mapping

from slowcheck.hints import hint_seconds

__all__ = ["POLICIES", "Adaptive", "Doubling", "Hinted", "Policy", "Webhook"]


class Policy:
    """Every ``interval`` seconds (the ``fixed`` strategy); ``interval`` is the unit every strategy scales from."""

    name = "fixed"

    def __init__(self, interval: float, rng: random.Random | None = None) -> None:
        self.interval = interval
        self.rng = rng or random.Random()

    def first(self) -> float:
        """Seconds from the ack to the first poll."""
        return self.interval

    def next(self, attempt: int, headers: Mapping[str, str]) -> float:
        """Seconds from the ``attempt``-th poll (answered with ``headers``, not terminal) to the next."""
        return self.interval


class Doubling(Policy):
    """The ``backoff`` strategy: from a quarter interval, doubling to eight intervals, with jitter (50-100 %)."""

    name = "backoff"

    def first(self) -> float:
        return self.interval / 4

    def next(self, attempt: int, headers: Mapping[str, str]) -> float:
        ceiling = min(self.interval * 8, self.interval / 4 * 2.0**attempt)
        return ceiling * self.rng.uniform(0.5, 1.0)


class Hinted(Policy):
    """As the server says (openai-poll-after-ms, Retry-After); the fixed interval when it says nothing."""

    name = "hinted"

    def next(self, attempt: int, headers: Mapping[str, str]) -> float:
        hint = hint_seconds(headers)
        return self.interval if hint is None else hint + 0.005  # a hair past the hint: the change has happened


class Adaptive(Doubling):
    """As the server says when it says; backoff when it says nothing (a real API sends no hints, and a job of
    hours must not be polled every interval). The jobs scenario's default."""

    name = "adaptive"

    def next(self, attempt: int, headers: Mapping[str, str]) -> float:
        hint = hint_seconds(headers)
        return super().next(attempt, headers) if hint is None else hint + 0.005


class Webhook(Policy):
    """Waits for the generation.completed webhook; polls only as a safety net, every ten intervals."""

    name = "webhook"

    def first(self) -> float:
        return self.interval * 10

    def next(self, attempt: int, headers: Mapping[str, str]) -> float:
        return self.interval * 10


POLICIES: dict[str, type[Policy]] = {p.name: p for p in (Policy, Doubling, Hinted, Adaptive, Webhook)}
