"""One submission as the rate-limit probe reads it: its status and, for a 429, when the target says to ask
again (``Retry-After``, ``retry-after-ms``, OpenAI's ``x-ratelimit-reset-requests``) and the limit it declares."""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass

from slowcheck.hints import hint_seconds

__all__ = ["ProbeAnswer", "answer_from", "reset_seconds"]


@dataclass(frozen=True, slots=True)
class ProbeAnswer:
    """One submission as the probe saw it."""

    sent: float
    answered: float
    status: int
    hint: float | None = None
    """Seconds until the target says a request would be accepted (a 429's headers)."""
    exact: bool = False
    """Whether ``hint`` came to the millisecond (``retry-after-ms``, a reset header), not in whole seconds."""
    limit: int | None = None
    """``x-ratelimit-limit-requests``, when the target sends it."""

    @property
    def accepted(self) -> bool:
        return 200 <= self.status < 300

    @property
    def refused(self) -> bool:
        return self.status == 429


_GO_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|h|m|s)")
_GO_UNITS = {"h": 3600.0, "m": 60.0, "s": 1.0, "ms": 0.001}


def reset_seconds(text: str) -> float | None:
    """A Go-style duration as OpenAI's ``x-ratelimit-reset-requests`` says it (``12ms``, ``1.5s``, ``6m0s``)."""
    text = text.strip()
    parts = _GO_PART.findall(text)
    if not parts or "".join(n + u for n, u in parts) != text:
        return None
    return sum(float(number) * _GO_UNITS[unit] for number, unit in parts)


def answer_from(sent: float, answered: float, status: int, headers: Mapping[str, str]) -> ProbeAnswer:
    """An :class:`ProbeAnswer` from a response's status and (lower-cased) headers."""
    if status != 429:
        return ProbeAnswer(sent, answered, status)
    # Retry-After (or retry-after-ms) says when a request would be accepted; OpenAI's reset header says when the
    # limit is full again, later for a bucket: it is the word only of a target that sends nothing else.
    hint = hint_seconds(headers)
    seconds = _number(headers.get("retry-after"))
    exact = hint is not None and (
        _number(headers.get("retry-after-ms")) is not None or (seconds is not None and seconds != int(seconds))
    )
    if hint is None and (reset := reset_seconds(headers.get("x-ratelimit-reset-requests", ""))) is not None:
        hint, exact = reset, True
    limit = _number(headers.get("x-ratelimit-limit-requests"))
    return ProbeAnswer(sent, answered, status, hint, exact, int(limit) if limit is not None else None)


def _number(text: str | None) -> float | None:
    try:
        value = float(text) if text else None
    except ValueError:
        return None
    return value if value is not None and math.isfinite(value) and value >= 0 else None
