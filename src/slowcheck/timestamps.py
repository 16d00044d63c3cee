"""Reading the API's timestamps: ``finishedAt`` and ``dispatchedAt`` (ISO-8601 with a ``T`` and a zone, as
documented) and an ack's ``created`` (a number: documented in milliseconds, seconds read as such)."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

__all__ = ["epoch_seconds", "number_seconds"]

_ISO = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)")


def epoch_seconds(text: Any) -> float | None:
    """Seconds since the epoch, or None for anything that is not such a timestamp (a zoneless time cannot be
    compared with another clock)."""
    if not isinstance(text, str) or not _ISO.fullmatch(text):
        return None
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()
    except ValueError:  # Python 3.10 reads only 3 or 6 fractional digits
        return None


def number_seconds(value: Any) -> float | None:
    """An epoch number as seconds: milliseconds (anything past 1e11, the year 5138 in seconds) divided down;
    None for anything that is not a positive number."""
    if isinstance(value, bool) or not isinstance(value, int | float) or not value > 0:
        return None
    return value / 1000 if value > 1e11 else float(value)
