"""Per-key token buckets and the OpenAI-style headers that describe them."""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

__all__ = ["Bucket", "Limiter", "go_duration"]


@dataclass(slots=True)
class Bucket:
    tokens: float
    updated: float


class Limiter:
    """``rate`` requests per second with bursts of ``burst``; a rate of 0 means unlimited."""

    def __init__(self, rate: float, burst: int = 0) -> None:
        self.rate = rate
        self.burst = float(burst or max(1, math.ceil(rate)))
        self._buckets: dict[str, Bucket] = {}

    @property
    def enabled(self) -> bool:
        return self.rate > 0

    def take(self, key: str, now: float | None = None, n: int = 1) -> tuple[bool, float, int]:
        """Take ``n`` tokens, all or none: (allowed, seconds until there are enough, tokens remaining)."""
        now = time.monotonic() if now is None else now
        bucket = self._buckets.get(key)
        if bucket is None:
            bucket = self._buckets[key] = Bucket(self.burst, now)
        bucket.tokens = min(self.burst, bucket.tokens + (now - bucket.updated) * self.rate)
        bucket.updated = now
        if bucket.tokens >= n - 1e-9:  # a client that waited exactly the advertised time is not refused by rounding
            bucket.tokens -= n
            return True, 0.0, int(bucket.tokens)
        return False, (n - bucket.tokens) / self.rate, max(0, int(bucket.tokens))

    def headers(self, remaining: int, wait: float) -> dict[str, str]:
        reset = wait if wait > 0 else (self.burst - remaining) / self.rate
        return {
            "x-ratelimit-limit-requests": str(int(self.burst)),
            "x-ratelimit-remaining-requests": str(remaining),
            "x-ratelimit-reset-requests": go_duration(reset),
        }


def go_duration(seconds: float) -> str:
    """A Go-style duration as OpenAI sends it: ``12ms``, ``1.5s``, ``6m0s``."""
    if seconds < 1:
        return f"{max(0, math.ceil(seconds * 1000))}ms"
    if seconds < 60:
        return f"{seconds:.3g}s"
    minutes, rest = divmod(int(math.ceil(seconds)), 60)
    return f"{minutes}m{rest}s"
