"""The published limits a load run plans within, and which of them the run met.

inference.net counts a key's generation requests a minute (30 free, 250 paid), every request of a key a second
at its gateway (100, polls included) and Batch API uploads a minute (1). A capacity figure measured against one
of those limits is the limit's, not the API's; so a run is planned within them (polls take only the gateway's
room the submissions leave) and its report says which one its 429s came from.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

__all__ = ["Budget", "Gate", "met", "named", "plan_notes", "tick"]

_NAMES = {"generation": "generation limit", "gateway": "gateway", "upload": "upload limit"}
"""The limits a 429 can come from (the keys of ``counts`` and ``met``), and how a sentence names them."""
_FLOOR = 0.1
_HEADROOM = 0.9
"""The share of the gateway a plan uses: timers jitter, and a second's worth sent early is refused."""


@dataclass(frozen=True, slots=True)
class Budget:
    """The limits one key runs within: None where none is known."""

    per_minute: int | None = None
    gateway_rps: float | None = None

    def poll_room(self, submissions_per_s: float) -> float | None:
        """Polls a second the gateway leaves once the submissions are sent (None: no gateway, no cap); a tenth of
        the gateway at least, so jobs are still followed when the submissions alone fill it."""
        if self.gateway_rps is None:
            return None
        return max(_FLOOR * self.gateway_rps, _HEADROOM * self.gateway_rps - submissions_per_s)


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
        if peak_per_s >= _HEADROOM * budget.gateway_rps:
            held = f", with no room left for polls (held to {room:g}/s, they will meet it too)" if polls else ""
            notes.append(
                f"the plan submits {peak_per_s:g}/s and the gateway takes {budget.gateway_rps:g}/s in all: "
                f"the submissions alone meet it{held}"
            )
        elif polls and room is not None:
            notes.append(
                f"polls are held to {room:g}/s, 90 % of the gateway's {budget.gateway_rps:g}/s less the submissions: "
                f"with more jobs outstanding than that a second, polls come later than the strategy asks"
            )
    return [f"plan ({scenario}): {note}" for note in notes]


_SAID = (("upload", ("upload", "file")), ("gateway", ("gateway", "a second", "per second", "across all endpoints")),
         ("generation", ("a minute", "per minute", "generation")))  # fmt: skip
"""Words of a 429's error message that name its limit (the mock's messages, and the published limits' wording)."""


def named(message: str | None) -> str:
    """The limit a 429's message names, or ``""`` when it names none."""
    text = (message or "").lower()
    return next((limit for limit, words in _SAID if any(w in text for w in words)), "")


def met(refusals: Mapping[str, int], sent: Mapping[str, int], budget: Budget) -> dict[str, Any]:
    """Which limit the run's 429s came from (``met``: ``generation``, ``gateway``, ``upload`` or ``none``).

    ``refusals`` counts 429s by ``"<tenth of a second>|<submit, poll or upload>|<limit the message named>"``;
    ``sent`` counts the key's requests by tenth of a second (epoch, as strings: they cross processes as JSON).
    A 429 is the limit its message names; else a refused upload is the upload limit, a refused poll the gateway
    (the only limit that counts polls), and a refused submission the gateway when the key sent the gateway's
    rate in the second before it (a gateway is assumed only when the run was told of one), else the generation
    limit.
    """
    counts = dict.fromkeys(_NAMES, 0)
    first: dict[str, float] = {}
    ticks = {int(t): n for t, n in sent.items()}
    start = min(ticks, default=0) / _TICKS
    for key, n in sorted(refusals.items(), key=lambda item: int(item[0].split("|")[0])):
        tick_text, what, said = key.split("|")
        tick = int(tick_text)
        if said in _NAMES:
            limit = said
        elif what in ("upload", "poll"):
            limit = "upload" if what == "upload" else "gateway"
        elif budget.gateway_rps is not None and _trailing(ticks, tick) >= budget.gateway_rps:
            limit = "gateway"
        else:
            limit = "generation"
        counts[limit] += n
        first.setdefault(limit, round(tick / _TICKS - start, 1))
    seen = {name: n for name, n in counts.items() if n}
    if not seen:
        return {"met": "none", "says": "no 429: what was measured is the API's own capacity", "counts": counts,
                "first_s": {}}  # fmt: skip
    name = max(seen, key=lambda n: (seen[n], -first[n]))
    others = ", ".join(f"{_NAMES[n]} {c}" for n, c in seen.items() if n != name)
    also = f"; also {others}" if others else ""
    says = f"the {_NAMES[name]} ({seen[name]} × 429, first after {first[name]:g} s{also})"
    if name == "gateway":
        rate = f"'s {budget.gateway_rps:g}/s" if budget.gateway_rps is not None else ""
        says += f": the key's requests met the gateway{rate}; you measured the gateway, not the API"
    elif name == "generation":
        per = f" of {budget.per_minute} a minute" if budget.per_minute else ""
        says += f": submissions met the generation limit{per}; you measured the limit, not the API"
    return {"met": name, "says": says, "counts": counts, "first_s": first}


_TICKS = 10
"""Requests and 429s are counted per tenth of a second: a gateway's second is any ten of them in a row."""


def tick(at: float) -> str:
    """The tenth of a second (epoch) ``at`` falls in, as the counters key it."""
    return str(math.floor(at * _TICKS))


def _trailing(ticks: Mapping[int, int], at: int) -> int:
    """The key's requests in the second up to and including tenth ``at``."""
    return sum(ticks.get(t, 0) for t in range(at - _TICKS + 1, at + 1))
