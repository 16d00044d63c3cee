"""Pacing under a published rate limit: requests spaced so that 429s stay rare.

inference.net publishes per-minute limits (30 requests a minute on the free tier, 250 on paid) and a gateway
limit of 100 a second. A run told the limit (``--rate-limit RPM``) spaces its requests by it from the start;
a run not told learns it from its first 429: a ``Retry-After`` of more than a second means a window of a
minute, and the requests accepted in the last window are about what the limit allows.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable

__all__ = ["Pacer"]

_MARGIN = 0.9
"""A learned limit is used at 90 %: clocks and windows of client and server do not line up exactly."""
_FLOOR = 1 / 60
"""Never slower than one request a minute (the slowest published limit is 30 a minute)."""


class Pacer:
    """Spaces requests at ``rate`` per second (None: not paced yet); shared by every thread of a run."""

    def __init__(
        self,
        per_minute: float | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.rate = per_minute / 60 if per_minute else None
        self.learned = False
        """True once a 429 set or lowered the rate (the user's limit was not enough, or there was none)."""
        self._clock, self._sleep = clock, sleep
        self._next = 0.0
        self._changed = float("-inf")
        """When the pace last changed."""
        self._accepted: deque[float] = deque()
        self._lock = threading.Lock()

    @property
    def per_minute(self) -> float | None:
        return None if self.rate is None else self.rate * 60

    def wait(self) -> float:
        """Block until this request's turn; returns when it went (the clock's time), for :meth:`limited`."""
        with self._lock:
            now = self._clock()
            if self.rate is None:
                return now
            slot = max(now, self._next)
            self._next = slot + 1 / self.rate
        if slot > now:
            self._sleep(slot - now)
        return slot

    def accepted(self) -> None:
        """A request got an answer other than 429: the last minute's count is what a window allowed."""
        now = self._clock()
        with self._lock:
            self._accepted.append(now)
            while self._accepted and self._accepted[0] < now - 60:
                self._accepted.popleft()

    def limited(self, retry_after: float | None, *, sent_at: float | None = None) -> None:
        """A 429 to a request that went at ``sent_at``: pace at what the window evidently allows (and slower than
        before, when already paced). A 429 to a request sent before the pace last changed teaches nothing more:
        concurrent requests refused together are one lesson, not eight."""
        now = self._clock()
        window = 60.0 if retry_after is None or retry_after > 1.5 else 1.0
        with self._lock:
            if sent_at is not None and sent_at <= self._changed:
                return
            self._changed = now
            seen = sum(1 for t in self._accepted if t >= now - window)
            allowed = max(seen, 1) / window * _MARGIN
            # Already paced and still refused: what the window allowed, and a quarter slower at least.
            self.rate = max(_FLOOR, allowed if self.rate is None else min(allowed, self.rate * 0.75))
            self.learned = True
            self._next = max(self._next, now + (retry_after or 0.0))

    def seconds_for(self, requests: int) -> float | None:
        """How long ``requests`` take at the current pace (None: not paced)."""
        return None if self.rate is None else requests / self.rate
