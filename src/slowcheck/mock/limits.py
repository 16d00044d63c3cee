"""Every per-key request limit of the mock, and its 429s.

inference.net publishes three (docs.inference.net/api/rate-limits): generation requests a minute by tier
(``--tier``), 100 requests a second at the gateway across all endpoints (``--gateway-rps``) and one batch file
upload a minute (``--batch-upload-per-minute``). The docs leave the shape of each limit open; here each is a
token bucket holding a minute's (or a second's) worth, refilled evenly: a key idle for a minute may send its
whole minute at once, and no more than that a minute when it keeps sending. ``--submit-rate`` and
``--poll-rate`` are the mock's own buckets, for load tests that want a limit a second.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from slowcheck import api
from slowcheck.mock.errors import ApiError
from slowcheck.mock.ratelimit import Limiter

if TYPE_CHECKING:
    from slowcheck.mock.settings import MockSettings
    from slowcheck.mock.stats import Stats

__all__ = ["Limits", "Published"]

_REFUSED = {
    "submissions": "Rate limit reached for submissions",
    "polls": "Rate limit reached for polls",
    "generations": "Rate limit reached for generation requests ({limit} a minute per API key)",
    "gateway": "Rate limit reached: {limit} requests a second per API key, across all endpoints",
    "uploads": "Rate limit reached for file uploads ({limit} a minute per API key)",
}
"""The 429's message per limit; its name also names the statistic (``rate_limited_<name>``)."""


@dataclass(frozen=True, slots=True)
class Published:
    """The published limits as configured: None where off."""

    generations_per_minute: int | None
    gateway_per_second: float | None
    uploads_per_minute: int | None

    @classmethod
    def of(cls, settings: MockSettings) -> Published:
        """A tier brings the gateway and upload limits with it, unless they are given (0 turns one off)."""
        rpm = api.tier_rpm(settings.tier)
        gateway = settings.gateway_rps if settings.gateway_rps is not None else (api.GATEWAY_RPS if rpm else None)
        uploads = settings.batch_upload_per_minute
        uploads = uploads if uploads is not None else (api.UPLOADS_PER_MINUTE if rpm else None)
        return cls(rpm, gateway or None, uploads or None)


def _per_minute(count: int | None) -> Limiter:
    return Limiter(count / 60, count) if count else Limiter(0)


class Limits:
    """The buckets, per key fingerprint. ``clock`` is monotonic seconds (tests give their own)."""

    def __init__(self, settings: MockSettings, stats: Stats, clock: Callable[[], float] = time.monotonic) -> None:
        self.published = Published.of(settings)
        self.clock = clock
        self.submissions = Limiter(settings.submit_rate, settings.submit_burst)
        self.polls = Limiter(settings.poll_rate, settings.poll_burst)
        self.generations = _per_minute(self.published.generations_per_minute)
        rps = self.published.gateway_per_second
        self.gateway = Limiter(rps, math.ceil(rps)) if rps else Limiter(0)
        self.uploads = _per_minute(self.published.uploads_per_minute)
        self._stats = stats
        self._settings = settings

    def check(self, limiter: Limiter, tenant: str, name: str, n: int = 1) -> dict[str, str]:
        """Spend ``n`` of a key's requests (a group spends one per request, refused whole): the
        ``x-ratelimit-*`` headers of the answer, or a 429 with ``Retry-After`` when there are not enough."""
        if not limiter.enabled:
            return {}
        if n > limiter.burst:  # waiting would never do: the request must change (a 429 without Retry-After)
            self._stats.count(tenant, f"rate_limited_{name}")
            message = _REFUSED[name].format(limit=int(limiter.burst))
            raise ApiError(429, f"{message}: {n} requests at once can never fit; send fewer.",
                           type="rate_limit_error", code="rate_limit_exceeded")  # fmt: skip
        allowed, wait, remaining = limiter.take(tenant, self.clock(), n)
        if not allowed:
            self._refuse(limiter, tenant, name, wait, remaining)
        return limiter.headers(remaining, wait)

    def through_gateway(self, tenant: str) -> None:
        """Every authenticated request of a key passes here first, the fast path's included: one bucket, and no
        headers unless it refuses (they would name the gateway's limit where the call's own belongs)."""
        if self.gateway.enabled:
            allowed, wait, remaining = self.gateway.take(tenant, self.clock())
            if not allowed:
                self._refuse(self.gateway, tenant, "gateway", wait, remaining)

    def _refuse(self, limiter: Limiter, tenant: str, name: str, wait: float, remaining: int) -> None:
        self._stats.count(tenant, f"rate_limited_{name}")
        # Rounded up, less float noise: 1.0000000000000002 s is "1", not "2".
        seconds = max(1, math.ceil(wait - 1e-9))
        headers = limiter.headers(remaining, wait)
        headers |= {"Retry-After": str(seconds), "retry-after-ms": str(math.ceil(wait * 1000 - 1e-6))}
        message = _REFUSED[name].format(limit=int(limiter.burst))
        raise ApiError(429, f"{message}: retry after {wait:.3f}s.", type="rate_limit_error",
                       code="rate_limit_exceeded", headers=headers)  # fmt: skip

    def to_json(self) -> dict[str, Any]:
        published, settings = self.published, self._settings
        return {
            "limits": {
                "generations_per_minute": published.generations_per_minute,
                "gateway_per_second": published.gateway_per_second,
                "uploads_per_minute": published.uploads_per_minute,
                "submissions_per_second": settings.submit_rate or None,
                "polls_per_second": settings.poll_rate or None,
                "credit_usd": settings.credit,
            }
        }
