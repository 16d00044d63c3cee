"""The server's word on when to ask again: ``openai-poll-after-ms``, ``retry-after-ms`` and ``Retry-After``.

Read the same way by the contract suite's polling, its 429 handling, and the load harness's pollers.
"""

from __future__ import annotations

import email.utils
import time
from collections.abc import Mapping

__all__ = ["hint_seconds"]


def hint_seconds(headers: Mapping[str, str]) -> float | None:
    """When the server asks to be asked again, in seconds: poll-after or retry-after (ms, seconds, or a date)."""
    for name, scale in (("openai-poll-after-ms", 0.001), ("retry-after-ms", 0.001)):
        value = headers.get(name, "").strip()
        if not value:
            continue  # absent: the next header may say it
        try:
            return max(0.0, float(value) * scale)
        except ValueError:
            continue
    value = headers.get("retry-after", "").strip()
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())
