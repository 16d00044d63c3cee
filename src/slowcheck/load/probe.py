"""The rate-limit probe: a limit's burst allowance, sustained rate and window, read from what a target admits.

Published limits are per minute (inference.net: 30 or 250 generation requests a minute), so the probe cannot
judge a rate from a few seconds of traffic: a fixed window of 250 a minute accepts 50/s for five seconds.
It reads the limit's *shape* instead, in three moves:

1. **Burst**: from idle, offer at ``ceiling`` until the first 429. What was accepted before it, less what
   refilled meanwhile, is the burst allowance.
2. **Cycles**: wait as the 429 says, then take what came back (offering at ``ceiling``) until the next 429.
   A whole-second ``Retry-After`` is read as rounded up: the probe polls through its last second, every
   ``grain`` (a hundredth of the window, 10 to 250 ms), so capacity is taken when it returns, not up to a
   second later (which would read a sliding 1 s window at two thirds of its rate). ``retry-after-ms`` and
   ``x-ratelimit-reset-requests`` are exact and are waited out as they are.
3. **Reading**: each cycle takes what the limit gave back since the previous one, so the sustained rate is
   what cycles 2..k took over the time from the first reopening to the last. Capacity that comes back in
   lumps (several requests at a reopening, however often the probe polls) is a window: its burst is the
   lump, its length burst ÷ rate, and it is *fixed* when the first lump came back sooner than a window after
   the first acceptance, *sliding* when exactly then. Capacity that trickles back is a token bucket.

The probe stops by itself once it has watched two windows; a run whose ``deadline`` comes first says so and
gives no figure (:attr:`Reading.conclusive` is false), since a per-minute limit watched for 30 s is a guess.
"""

from __future__ import annotations

import math
import re
import statistics
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

__all__ = ["Answer", "Reading", "Wire", "answer_from", "probe", "reset_seconds"]

WINDOWS = 2
"""Windows watched before the sustained rate counts: one is a phase, two show the period."""
_LUMPY = 3.0
"""A reopening that took this many times what polling could explain came back in a lump: a window."""
_GRAIN = (0.01, 0.25)
_FIRST_GRAIN = 0.05
_SLIDING_SLACK = 0.05
_CYCLES_KEPT = 50
_NAMEABLE_WINDOW_S = 5.0
"""Below this, a whole-second Retry-After cannot tell a fixed window from a sliding one."""


@dataclass(frozen=True, slots=True)
class Answer:
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


class Wire(Protocol):
    """How the probe reaches a target: a clock, a pause, and open-loop sending."""

    def now(self) -> float: ...

    def sleep(self, seconds: float) -> None: ...

    def send_until(self, rate: Callable[[], float], stop: Callable[[Answer], bool], deadline: float) -> list[Answer]:
        """Send at ``rate()`` a second (asked before each send) until ``stop`` is true of an answer or
        ``deadline`` passes; let what is in flight land; every answer of the call, in the order sent."""
        ...


_GO_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|h|m|s)")
_GO_UNITS = {"h": 3600.0, "m": 60.0, "s": 1.0, "ms": 0.001}


def reset_seconds(text: str) -> float | None:
    """A Go-style duration as OpenAI's ``x-ratelimit-reset-requests`` says it (``12ms``, ``1.5s``, ``6m0s``)."""
    text = text.strip()
    parts = _GO_PART.findall(text)
    if not parts or "".join(n + u for n, u in parts) != text:
        return None
    return sum(float(number) * _GO_UNITS[unit] for number, unit in parts)


def answer_from(sent: float, answered: float, status: int, headers: Mapping[str, str]) -> Answer:
    """An :class:`Answer` from a response's status and (lower-cased) headers."""
    if status != 429:
        return Answer(sent, answered, status)
    hint: float | None = None
    exact = False
    if (ms := _number(headers.get("retry-after-ms"))) is not None:
        hint, exact = ms / 1000, True
    elif (reset := reset_seconds(headers.get("x-ratelimit-reset-requests", ""))) is not None:
        hint, exact = reset, True
    elif (seconds := _number(headers.get("retry-after"))) is not None:
        hint, exact = seconds, seconds != int(seconds)
    limit = _number(headers.get("x-ratelimit-limit-requests"))
    return Answer(sent, answered, status, hint, exact, int(limit) if limit is not None else None)


def _number(text: str | None) -> float | None:
    try:
        value = float(text) if text else None
    except ValueError:
        return None
    return value if value is not None and math.isfinite(value) and value >= 0 else None


@dataclass(slots=True)
class Cycle:
    """From one 429 to the next: when capacity came back (``reopened``) and how much was taken."""

    waited: float
    reopened: float | None
    taken: int
    sent: int


@dataclass
class Reading:
    """What the probe concluded, or why it could not."""

    conclusive: bool
    reason: str | None = None
    burst: int | None = None
    sustained_per_s: float | None = None
    window_s: float | None = None
    kind: str | None = None
    """``token bucket``, ``fixed window``, ``sliding window``, or ``window`` (too short to tell which)."""
    evidence: list[str] = field(default_factory=list)
    from_idle: int | None = None
    """Requests accepted before the first 429 (the raw count the burst is read from)."""
    retry_after_s: float | None = None
    """The first 429's hint."""
    declared_limit: int | None = None
    """``x-ratelimit-limit-requests`` as the target sent it."""
    cleared: bool | None = None
    """Whether the first request sent once the first 429's hint had passed was accepted."""
    watched_s: float = 0.0
    cycles: list[dict[str, Any]] = field(default_factory=list)

    @property
    def per_minute(self) -> float | None:
        return None if self.sustained_per_s is None else self.sustained_per_s * 60

    def to_dict(self) -> dict[str, Any]:
        return {
            "conclusive": self.conclusive,
            "reason": self.reason,
            "burst": self.burst,
            "sustained_per_s": _round(self.sustained_per_s),
            "per_minute": _round(self.per_minute, 1),
            "window_s": _round(self.window_s, 2),
            "kind": self.kind,
            "evidence": self.evidence,
            "from_idle": self.from_idle,
            "retry_after_s": _round(self.retry_after_s),
            "declared_limit": self.declared_limit,
            "retry_after_clears": self.cleared,
            "watched_s": _round(self.watched_s, 1),
            "cycles": self.cycles[:_CYCLES_KEPT],
            "cycles_seen": len(self.cycles),
        }

    def describe(self) -> str:
        """One line for the console and the page."""
        if not self.conclusive:
            return f"inconclusive: {self.reason}"
        assert self.sustained_per_s is not None
        assert self.window_s is not None
        rate = f"{self.sustained_per_s:.3g}/s"
        if 50 <= self.window_s <= 70:
            rate += f" ({self.sustained_per_s * 60:.0f} a minute)"
        return f"{self.kind}: burst {self.burst}, sustained {rate}, window {self.window_s:.3g} s"


def probe(wire: Wire, *, ceiling: float, deadline: float, windows: int = WINDOWS) -> Reading:
    """Read the limit on one key: burst, sustained rate and window (see the module's docstring)."""
    began = wire.now()
    burst = wire.send_until(lambda: ceiling, _Errors().or_refused, deadline)
    refusal = next((a for a in burst if a.refused), None)
    accepted = [a for a in burst if a.accepted]
    if failed := _failed(burst):
        return Reading(False, failed, from_idle=len(accepted), watched_s=wire.now() - began)
    if refusal is None:
        return Reading(
            False,
            f"no 429 in {wire.now() - began:.0f} s at {ceiling:g}/s ({len(accepted)} accepted): any limit is "
            f"above that; offer more with --rate",
            from_idle=len(accepted),
            watched_s=wire.now() - began,
        )
    from_idle = sum(1 for a in accepted if a.sent < refusal.sent)
    first_ok = accepted[0].sent if accepted else refusal.sent
    state = _Watch(refusal, from_idle, first_ok, windows)
    last = refusal
    while True:
        resume = last.answered + (last.hint if last.hint is not None else 0.0)
        polled_from = resume if last.exact else resume - 1.0  # a whole second is rounded up: poll through it
        if polled_from >= deadline:
            break
        if (pause := polled_from - wire.now()) > 0:
            wire.sleep(pause)
        cycle = _Sending(ceiling, state.grain())
        answers = wire.send_until(cycle.rate, cycle.stop, deadline)
        if failed := _failed(answers):
            return Reading(False, failed, from_idle=from_idle, watched_s=wire.now() - began)
        state.add(answers, waited=polled_from - last.answered)
        refusals = [a for a in answers if a.refused]
        if not refusals:
            break  # the deadline came before the cycle ended
        last = next((a for a in refusals if any(b.accepted and b.sent < a.sent for b in answers)), refusals[-1])
        if state.enough():
            break
    return state.reading(wire.now() - began, deadline_passed=not state.enough())


_ERRORS = 10
"""Answers neither accepted nor 429 after which the probe gives up: it reads a limit, not a failing target."""


class _Errors:
    def __init__(self) -> None:
        self.seen = 0

    def or_refused(self, answer: Answer) -> bool:
        """Stop at a 429, or once the target has answered too many errors."""
        if not (answer.accepted or answer.refused):
            self.seen += 1
        return answer.refused or self.seen >= _ERRORS


def _failed(answers: Sequence[Answer]) -> str | None:
    errors = [a.status for a in answers if not (a.accepted or a.refused)]
    if len(errors) < _ERRORS:
        return None
    common = max(set(errors), key=errors.count)
    answer = f"HTTP {common}" if common else "no answer"
    return f"{len(errors)} submissions failed ({errors.count(common)} × {answer}): the probe reads a limit, not errors"


class _Sending:
    """One cycle's sending: a poll every ``grain`` until capacity comes back, then ``ceiling`` until a 429."""

    def __init__(self, ceiling: float, grain: float) -> None:
        self.ceiling, self.grain = ceiling, grain
        self.reopened = False
        self.errors = _Errors()

    def rate(self) -> float:
        return self.ceiling if self.reopened else min(self.ceiling, 1 / self.grain)

    def stop(self, answer: Answer) -> bool:
        self.reopened = self.reopened or answer.accepted
        return self.reopened if answer.refused else self.errors.or_refused(answer)


class _Watch:
    """The cycles so far and the running estimates they give."""

    def __init__(self, refusal: Answer, from_idle: int, first_ok: float, windows: int) -> None:
        self.refusal, self.from_idle, self.first_ok, self.windows = refusal, from_idle, first_ok, windows
        self.cycles: list[Cycle] = []
        self.cleared: bool | None = None
        self.grains: list[float] = []

    def add(self, answers: Sequence[Answer], *, waited: float) -> None:
        taken = [a for a in answers if a.accepted]
        if self.cleared is None and answers:
            self.cleared = answers[0].accepted
        self.cycles.append(Cycle(waited, taken[0].sent if taken else None, len(taken), len(answers)))

    def reopened(self) -> list[Cycle]:
        return [c for c in self.cycles if c.reopened is not None]

    def rate(self) -> float | None:
        """What cycles 2..k took, over the time from the first reopening to the last."""
        cycles = self.reopened()
        if len(cycles) < 2:
            return None
        span = _at(cycles[-1]) - _at(cycles[0])
        return sum(c.taken for c in cycles[1:]) / span if span > 0 else None

    def lumpy(self, rate: float) -> bool:
        """Capacity came back in lumps no polling grain explains: a window, not a trickle."""
        lumps = [c.taken for c in self.reopened()]
        grain = statistics.median(self.grains) if self.grains else _FIRST_GRAIN
        return bool(lumps) and statistics.median(lumps) >= _LUMPY * max(1.0, rate * grain)

    def burst(self, rate: float) -> float:
        if self.lumpy(rate):
            return float(statistics.median(c.taken for c in self.reopened()))
        return max(1.0, self.from_idle - rate * (self.refusal.sent - self.first_ok))

    def window(self) -> float | None:
        rate = self.rate()
        return None if not rate else self.burst(rate) / rate

    def grain(self) -> float:
        window = self.window()
        grain = _FIRST_GRAIN if window is None else min(_GRAIN[1], max(_GRAIN[0], window / 100))
        self.grains.append(grain)
        return grain

    def watched(self) -> float:
        cycles = self.reopened()
        return _at(cycles[-1]) - _at(cycles[0]) if len(cycles) >= 2 else 0.0

    def enough(self) -> bool:
        window = self.window()
        return window is not None and len(self.reopened()) > self.windows and self.watched() >= self.windows * window

    def reading(self, elapsed: float, *, deadline_passed: bool) -> Reading:
        refusal = self.refusal
        common: dict[str, Any] = {
            "from_idle": self.from_idle,
            "retry_after_s": refusal.hint,
            "declared_limit": refusal.limit,
            "cleared": self.cleared,
            "watched_s": self.watched(),
            "cycles": [
                {"waited_s": _round(c.waited), "reopened_s": _round(c.reopened - refusal.sent) if c.reopened else None,
                 "taken": c.taken, "sent": c.sent}
                for c in self.cycles
            ],
        }  # fmt: skip
        rate, window = self.rate(), self.window()
        if rate is None or window is None or not self.enough():
            need = f"; two windows of ~{window:.0f} s need ~{self._needed(window):.0f} s" if window else ""
            seen = f"{len(self.reopened())} reopening(s) in {self.watched():.0f} s{need}: give a longer --duration"
            why = "the run ended before the limit showed its period" if deadline_passed else "no period found"
            return Reading(False, f"{why} ({seen})", **common)
        burst = self.burst(rate)
        kind, evidence = self._kind(rate, burst, window)
        return Reading(True, None, round(burst), rate, window, kind, evidence, **common)

    def _needed(self, window: float) -> float:
        return (self.refusal.sent - self.first_ok) + (self.windows + 1) * window

    def _kind(self, rate: float, burst: float, window: float) -> tuple[str, list[str]]:
        lumps = [c.taken for c in self.reopened()]
        evidence = [f"capacity came back {len(lumps)} time(s), median {statistics.median(lumps):g} request(s) each"]
        if not self.lumpy(rate):
            evidence.append("in trickles, whatever the polling: it refills continuously")
            return "token bucket", evidence
        evidence.append("in lumps: it refills all at once")
        first = _at(self.reopened()[0]) - self.first_ok
        if window < _NAMEABLE_WINDOW_S:
            evidence.append(f"a {window:.2g} s window is too short to tell fixed from sliding by whole seconds")
            return "window", evidence
        slack = max(1.0, _SLIDING_SLACK * window)
        if self.from_idle > (1 + _SLIDING_SLACK) * burst + 1:
            evidence.append(f"{self.from_idle} accepted before the first 429: a window's boundary passed meanwhile")
            return "fixed window", evidence
        if abs(first - window) <= slack:
            evidence.append(f"the first lump came back {first:.1f} s after the first acceptance: a window later")
            return "sliding window", evidence
        if first < window - slack:
            evidence.append(f"the first lump came back {first:.1f} s after the first acceptance, sooner than a window")
            return "fixed window", evidence
        return "window", evidence


def _at(cycle: Cycle) -> float:
    assert cycle.reopened is not None
    return cycle.reopened


def _round(value: float | None, digits: int = 3) -> float | None:
    return None if value is None else round(value, digits)
