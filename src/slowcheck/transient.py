"""Noise, told apart from answers: what a real network and a real service do now and then (a 502/503/504 or an
HTML page from a front load balancer, a reset, a timeout), and the one policy every command retries it by.

A transient failure is retried with backoff, honouring ``Retry-After``, bounded in tries and in time, and
counted; it becomes a verdict only where a rule judges exactly that answer and it comes back on every try
(``docs/verdicts.md``: noise is not a verdict).
"""

from __future__ import annotations

import random
import threading
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from slowcheck.hints import hint_seconds

__all__ = ["Noise", "RetryPolicy", "is_transient_answer"]

GATEWAY_STATUSES = frozenset({502, 503, 504})
"""What a load balancer or gateway in front of the API answers when a backend blips."""


def is_transient_answer(status: int, body: Any) -> bool:
    """A gateway's 502/503/504, or any 5xx without the API's own error envelope (a proxy's HTML page).

    A 5xx that carries the envelope is the API's own answer: retried too (it may clear), but judged when it
    comes back, since a client that sends a valid request depends on not getting it.
    """
    if status in GATEWAY_STATUSES:
        return True
    if status < 500:
        return False
    error = body.get("error") if isinstance(body, dict) else None
    return not (isinstance(error, dict) and isinstance(error.get("message"), str))


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How often and how long one request is tried again after a transient failure."""

    tries: int = 4
    """Attempts in all, the first included."""
    patience: float = 60.0
    """Seconds of waiting between attempts, at most, for one request."""
    first: float = 0.5
    """The first backoff; it doubles each attempt (with jitter), unless the answer says when to come back."""
    cap: float = 15.0

    def wait(self, attempt: int, headers: Mapping[str, str] | None = None) -> float:
        """Seconds before attempt ``attempt + 1`` (``attempt`` counts from 0): the server's hint, or backoff."""
        hint = hint_seconds(headers) if headers else None
        if hint is not None:
            return min(hint, self.patience) * random.uniform(1.0, 1.1)
        return min(self.first * 2.0**attempt, self.cap) * random.uniform(0.75, 1.25)


@dataclass
class Noise:
    """Every transient failure a run met, and whether the request it hit got through in the end."""

    failures: Counter[str] = field(default_factory=Counter)
    """Per kind (``503``, ``ReadTimeout``...), how many answers were noise."""
    retried: int = 0
    """Requests that met noise and were tried again."""
    cleared: int = 0
    """... and then got a real answer."""
    examples: list[dict[str, Any]] = field(default_factory=list)
    """The first few, for the report: method, path, what came back."""
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def met(self, what: str, method: str, path: str) -> None:
        with self._lock:
            self.failures[what] += 1
            if len(self.examples) < 10:
                self.examples.append({"method": method, "path": path[:200], "answer": what})

    def settled(self, *, cleared: bool) -> None:
        """One request that met noise is over: it got through (``cleared``) or gave up."""
        with self._lock:
            self.retried += 1
            self.cleared += cleared

    @property
    def count(self) -> int:
        return sum(self.failures.values())

    def summary(self) -> dict[str, Any]:
        return {
            "count": self.count,
            "by_answer": dict(sorted(self.failures.items())),
            "requests_retried": self.retried,
            "requests_cleared": self.cleared,
            "examples": list(self.examples),
        }

    def line(self) -> str | None:
        """One line for the terminal and the report, or None when the run met no noise."""
        if not self.count:
            return None
        kinds = ", ".join(f"{n} × {what}" for what, n in self.failures.most_common())
        given_up = self.retried - self.cleared
        tail = "all retried through" if not given_up else f"{given_up} request(s) never got through"
        return f"{self.count} transient failure(s) ({kinds}): {tail}"
