"""The published limits a load run plans within, and which of them the run met.

inference.net counts a key's generation requests a minute (30 free, 250 paid), every request of a key a second
at its gateway (100, polls included) and Batch API uploads a minute (1). A capacity figure measured against one
of those limits is the limit's, not the API's; so a run is planned within them (polls take only the gateway's
room the submissions leave) and its report says which one its 429s came from.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from slowcheck import api

__all__ = ["Budget", "Gate", "met", "plan_notes"]

_NAMES = {"generation": "generation limit", "gateway": "gateway", "upload": "upload limit"}
"""The limits a 429 can come from (the keys of ``counts`` and ``met``), and how a sentence names them."""
_HEADROOM = 0.9
"""The share of the gateway a plan uses: timers jitter, and a second's worth sent early is refused."""
_NEAR = 0.9
"""A second in which the key sent this share of the gateway's rate is one the gateway may refuse."""


@dataclass(frozen=True, slots=True)
class Budget:
    """The limits one key runs within: None where none is known."""

    per_minute: int | None = None
    gateway_rps: float | None = None

    def poll_room(self, submissions_per_s: float) -> float | None:
        """Polls a second the gateway leaves once the submissions are sent (None: no gateway, no cap)."""
        if self.gateway_rps is None:
            return None
        return max(0.0, _HEADROOM * self.gateway_rps - submissions_per_s)


class Gate:
    """Spaces one process's polls to ``rate`` a second (a token bucket of one second's worth)."""

    def __init__(self, rate: float) -> None:
        self.rate = rate
        self.capacity = max(1.0, rate)
        self.tokens = self.capacity
        self.updated: float | None = None
        self.waited = 0.0

    def wait(self, now: float) -> float:
        """Take a token: the seconds to wait before the poll may go (0 when it may go now)."""
        if self.updated is not None:
            self.tokens = min(self.capacity, self.tokens + (now - self.updated) * self.rate)
        self.updated = now
        self.tokens -= 1
        if self.tokens >= 0:
            return 0.0
        pause = -self.tokens / self.rate
        self.waited += pause
        return pause


def plan_notes(scenario: str, peak_per_s: float, budget: Budget, *, polls: bool) -> list[str]:
    """What the plan will meet, said before it starts."""
    notes = []
    if budget.per_minute is not None and peak_per_s * 60 > budget.per_minute:
        notes.append(
            f"the plan submits up to {peak_per_s * 60:.0f} a minute and the generation limit is {budget.per_minute}: "
            f"expect 429s from it (the figures will measure the limit, not the API)"
        )
    if budget.gateway_rps is not None:
        room = budget.poll_room(peak_per_s)
        if room is not None and room <= 0:
            notes.append(
                f"the plan submits {peak_per_s:g}/s and the gateway takes {budget.gateway_rps:g}/s in all: "
                f"the submissions alone meet it{', with no room left for polls' if polls else ''}"
            )
        elif polls and room is not None:
            notes.append(
                f"polls are held to {room:g}/s, 90 % of the gateway's {budget.gateway_rps:g}/s less the submissions: "
                f"with more jobs outstanding than that a second, polls come later than the strategy asks"
            )
    return [f"plan ({scenario}): {note}" for note in notes]


def met(limited: Iterable[tuple[float, str]], per_second: Mapping[str, int], budget: Budget) -> dict[str, Any]:
    """Which limit the run's 429s came from (``met``: ``generation``, ``gateway``, ``upload`` or ``none``), each
    429 by what it answered and how busy its second was.

    ``limited``: ``(time, what)`` per 429, ``what`` being ``submit``, ``poll`` or ``upload``; ``per_second``:
    the key's requests per epoch second (as a string, so it crosses processes as JSON).
    """
    gateway = budget.gateway_rps if budget.gateway_rps is not None else api.GATEWAY_RPS
    counts = dict.fromkeys(_NAMES, 0)
    first: dict[str, float] = {}
    start = min((float(s) for s in per_second), default=0.0)
    for at, what in limited:
        busy = per_second.get(str(math.floor(at)), 0) >= _NEAR * gateway
        if what == "upload":
            limit = "upload"
        elif busy or what == "poll":  # only the gateway counts polls
            limit = "gateway"
        else:
            limit = "generation"
        counts[limit] += 1
        first.setdefault(limit, round(at - start, 3))
    seen = {name: n for name, n in counts.items() if n}
    if not seen:
        return {"met": "none", "says": "no 429: what was measured is the API's own capacity", "counts": counts,
                "first_s": {}}  # fmt: skip
    name = max(seen, key=lambda n: (seen[n], -first[n]))
    others = ", ".join(f"{_NAMES[n]} {c}" for n, c in seen.items() if n != name)
    also = f"; also {others}" if others else ""
    says = f"the {_NAMES[name]} ({seen[name]} × 429, first after {first[name]:g} s{also})"
    if name == "gateway":
        says += f": the key's requests reached the gateway's {gateway:g}/s; you measured the gateway, not the API"
    elif name == "generation":
        per = f" of {budget.per_minute} a minute" if budget.per_minute else ""
        says += f": submissions met the generation limit{per}; you measured the limit, not the API"
    return {"met": name, "says": says, "counts": counts, "first_s": first}
