"""The rate-limit probe: a limit's burst allowance, sustained rate and window, read from what a target admits.

Published limits are per minute (inference.net: 30 or 250 generation requests a minute), so the probe cannot
judge a rate from a few seconds of traffic: a fixed window of 250 a minute accepts 50/s for five seconds.
It reads the limit's *shape* instead, in three moves:

1. **Burst**: from idle, offer at ``ceiling`` until the first 429: ``from_idle`` requests were accepted.
2. **Cycles**: wait as the 429 says, then take what came back (offering at ``ceiling``) until it is gone: three
   429s in a row, or as many 429s as acceptances. A whole-second ``Retry-After`` is read as rounded up: the
   probe polls through its last second, every ``grain`` (a hundredth of the window, 10 to 250 ms), so capacity
   is taken when it returns, not up to a second later (which would read a sliding 1 s window at two thirds of
   its rate). ``retry-after-ms`` and ``x-ratelimit-reset-requests`` are exact and are waited out as they are.
3. **Reading**: a window gives its allowance back in lumps with silences between (a silence: ten times the
   usual gap between acceptances and a quarter of the longest 429's wait, with a 429 in it, so a sender held
   back by its machine or its network splits no lump); its rate is what the complete lumps
   held over the time from the first lump to the last, its burst the median lump, its length burst ÷ rate. It
   is *fixed* when the first lump came back sooner than a window after the first acceptance, *sliding* when
   exactly then. Capacity that trickles back, with no silence, is a token bucket: each cycle took what came
   back since the previous one, so its rate is what cycles 2..k took over the time from the first reopening to
   the last, and its burst what was accepted from idle less what refilled meanwhile.

The probe stops by itself once it has watched two windows; a run whose ``deadline`` comes first says so and
gives no figure (:attr:`Reading.conclusive` is false), since a per-minute limit watched for 30 s is a guess. So
does a pace under four times the limit's rate: too slow to outrun a trickle and see where it ends.
"""

from __future__ import annotations

import bisect
import math
import statistics
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from slowcheck.load.probe_answer import ProbeAnswer

__all__ = ["Reading", "Wire", "probe"]

WINDOWS = 2
"""Windows watched before the sustained rate counts: one is a phase, two show the period."""
_PACE_OVER_RATE = 4.0
"""The probe's pace must be this many times the limit's rate: slower, it cannot outrun a trickle to see it end."""
_SILENCE = 10.0
"""A gap between acceptances this many times the usual one is a silence: a window between its lumps."""
_ROUNDING_S = 1.0
"""A whole-second Retry-After says at least this, however soon capacity comes back."""
_ALMOST = 0.99
_PATIENCE_S = 120.0
_GRAIN = (0.01, 0.25)
_FIRST_GRAIN = 0.05
_SLIDING_SLACK = 0.05
_CYCLES_KEPT = 50
_NAMEABLE_WINDOW_S = 5.0
"""Below this, a whole-second Retry-After cannot tell a fixed window from a sliding one."""


class Wire(Protocol):
    """How the probe reaches a target: a clock, a pause, and open-loop sending."""

    def now(self) -> float: ...

    def sleep(self, seconds: float) -> None: ...

    def send_until(
        self, rate: Callable[[], float], stop: Callable[[ProbeAnswer], bool], deadline: float
    ) -> list[ProbeAnswer]:
        """Send at ``rate()`` a second (asked before each send) until ``stop`` is true of an answer or
        ``deadline`` passes; let what is in flight land; every answer of the call, in the order sent."""
        ...


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


def probe(wire: Wire, *, ceiling: float, deadline: float, windows: int = WINDOWS) -> Reading:
    """Read the limit on one key: burst, sustained rate and window (see the module's docstring)."""
    began = wire.now()
    burst = wire.send_until(lambda: ceiling, _Errors().or_refused, deadline)
    refusal = next((a for a in burst if a.refused), None)
    accepted = [a for a in burst if a.accepted]
    if failed := _failed(burst):
        return Reading(False, failed, from_idle=len(accepted), watched_s=wire.now() - began)
    if refusal is None:
        why = (
            f"no 429 in {wire.now() - began:.0f} s at {ceiling:g}/s ({len(accepted)} accepted): the limit allows a "
            f"burst above {len(accepted)} or a rate above {ceiling:g}/s; give a longer --duration or a higher --rate"
        )
        return Reading(False, why, from_idle=len(accepted), watched_s=wire.now() - began)
    from_idle = sum(1 for a in accepted if a.sent < refusal.sent)
    first_ok = accepted[0].sent if accepted else refusal.sent
    state = _Watch(refusal, from_idle, first_ok, windows, ceiling)
    state.idle_at = [a.sent for a in accepted if a.sent < refusal.sent]
    last = refusal
    while True:
        resume = last.answered + (last.hint if last.hint is not None else 0.0)
        polled_from = resume if last.exact else resume - 1.0  # a whole second is rounded up: poll through it
        grain = state.grain()
        if max(polled_from, wire.now()) + grain >= deadline:
            break
        if (pause := polled_from - wire.now()) > 0:
            wire.sleep(pause)
        cycle = _Sending(ceiling, grain, patience=state.patience())
        answers = wire.send_until(cycle.rate, cycle.stop, deadline)
        state.clears(answers, after=resume)
        if failed := _failed(answers):
            return Reading(False, failed, from_idle=from_idle, watched_s=wire.now() - began)
        if cycle.gave_up:
            return Reading(False, cycle.gave_up, from_idle=from_idle, watched_s=wire.now() - began)
        refusals = [a for a in answers if a.refused]
        if not refusals or not cycle.reopened:
            break  # the deadline came before the cycle ended: what it took is a part, not a lump
        state.add(answers, waited=polled_from - last.answered)
        last = refusals[-1]  # the latest word on when capacity comes back
        if state.enough():
            break
    return state.reading(wire.now() - began, deadline_passed=not state.enough())


_ERRORS = 10
"""Answers neither accepted nor 429 after which the probe gives up: it reads a limit, not a failing target."""


class _Errors:
    def __init__(self) -> None:
        self.seen = 0

    def or_refused(self, answer: ProbeAnswer) -> bool:
        """Stop at a 429, or once the target has answered too many errors."""
        if not (answer.accepted or answer.refused):
            self.seen += 1
        return answer.refused or self.seen >= _ERRORS


def _failed(answers: Sequence[ProbeAnswer]) -> str | None:
    errors = [a.status for a in answers if not (a.accepted or a.refused)]
    if len(errors) < _ERRORS:
        return None
    common = max(set(errors), key=errors.count)
    answer = f"HTTP {common}" if common else "no answer"
    return f"{len(errors)} submissions failed ({errors.count(common)} × {answer}): the probe reads a limit, not errors"


_REFUSED_IN_A_ROW = 3
"""429s in a row that end a cycle. Capacity a sliding window gives back comes at the pace it was taken, the
probe's own: one 429 amid it is timing jitter, not the end of the lump."""


class _Sending:
    """One cycle's sending: a poll every ``grain`` until capacity comes back, then ``ceiling`` until it is gone."""

    def __init__(self, ceiling: float, grain: float, *, patience: float) -> None:
        self.ceiling, self.grain, self.patience = ceiling, grain, patience
        self.reopened = False
        self.refused = self.taken = self.refusals = 0
        self.errors = _Errors()
        self.first: float | None = None
        self.gave_up: str | None = None

    def rate(self) -> float:
        return self.ceiling if self.reopened else min(self.ceiling, 1 / self.grain)

    def stop(self, answer: ProbeAnswer) -> bool:
        self.first = answer.sent if self.first is None else self.first
        if not self.reopened and answer.refused and answer.sent - self.first > self.patience:
            self.gave_up = (
                f"nothing was accepted in {answer.sent - self.first:.0f} s of polling past the 429's Retry-After: "
                f"the limit may count refused requests, or the 429 is no rate limit (a quota)"
            )
            return True
        if answer.accepted:
            self.reopened, self.refused = True, 0
            self.taken += 1
        elif answer.refused:
            self.refused += 1
            self.refusals += self.reopened
            # Gone: 429s in a row, or as many 429s as acceptances (a trickle at under twice its rate never
            # refuses three in a row).
            gone = self.refused >= _REFUSED_IN_A_ROW or self.refusals >= max(_REFUSED_IN_A_ROW, self.taken)
            return self.reopened and gone
        return self.errors.or_refused(answer)


class _Watch:
    """The cycles so far and the running estimates they give."""

    def __init__(self, refusal: ProbeAnswer, from_idle: int, first_ok: float, windows: int, ceiling: float) -> None:
        self.refusal, self.from_idle, self.first_ok, self.windows = refusal, from_idle, first_ok, windows
        self.ceiling = ceiling
        self.cycles: list[Cycle] = []
        self.taken_at: list[float] = []
        self.refused_at: list[float] = []
        """When each 429 of the cycles was sent: a silence between lumps has one in it."""
        self.idle_at: list[float] = []
        self.cleared: bool | None = None
        self.last_hint = self.longest_hint = refusal.hint or 0.0

    def add(self, answers: Sequence[ProbeAnswer], *, waited: float) -> None:
        taken = [a for a in answers if a.accepted]
        self.taken_at += (a.sent for a in taken)
        reopened = taken[0].sent if taken else None
        self.cycles.append(Cycle(waited, reopened, len(taken), len(answers)))
        refusals = [a for a in answers if a.refused]
        self.refused_at += (a.sent for a in refusals)
        self.last_hint = (refusals[-1].hint or 0.0) if refusals else 0.0
        self.longest_hint = max(self.longest_hint, self.last_hint)

    def clears(self, answers: Sequence[ProbeAnswer], *, after: float) -> None:
        """Whether waiting as the first 429 said was enough: the first request sent once its hint had passed was
        accepted (or capacity was back before: the probe polls through a whole second's rounding)."""
        if self.cleared is None and answers:
            due = next((a for a in answers if a.sent >= after), None)
            self.cleared = due.accepted if due is not None else any(a.accepted for a in answers)

    def reopened(self) -> list[Cycle]:
        return [c for c in self.cycles if c.reopened is not None]

    def lumps(self) -> list[tuple[float, int]]:
        """Accepted requests grouped between silences, ``(first sent, count)`` each: a silence is a gap ten times
        the usual one between two acceptances and a quarter of the longest 429's wait, with a 429 in it. A window
        gives its allowance back in such lumps, however many cycles a 429 amid one cut it into; a bucket's
        trickle has no silence, so it is one group. A gap with nothing refused in it is the sender's own (a busy
        machine, a network blip holding it back), not the limit's."""
        times = sorted(self.taken_at)
        if len(times) < 2:
            return [(times[0], 1)] if times else []
        refused = sorted(self.refused_at)
        gaps = [b - a for a, b in zip(times, times[1:], strict=False)]
        # A silence lasts three quarters of a window at least (the pace is four times the rate, so a lump takes a
        # quarter at most), and a wait is a window at most: a quarter of the longest wait is below any silence and
        # above the gap a sliding window replays a window after a stall (with 429s in it, as its capacity is not
        # back yet).
        cut = max(_SILENCE * statistics.median(gaps), self.longest_hint / _PACE_OVER_RATE)
        lumps, start, size = [], times[0], 1
        for gap, at in zip(gaps, times[1:], strict=True):
            if gap > cut and bisect.bisect_left(refused, at) > bisect.bisect_right(refused, at - gap):
                lumps.append((start, size))
                start, size = at, 0
            size += 1
        lumps.append((start, size))
        return lumps

    def lumpy(self) -> bool:
        """A window: capacity came back in lumps with silences between (the last lump may still be coming in)."""
        return len(self.lumps()) >= 2

    def rate(self) -> float | None:
        """A window's: what its complete lumps held, over the time from the first lump to the last. A bucket's:
        what cycles 2..k took, over the time from the first reopening to the last."""
        if self.lumpy():
            lumps = self.lumps()
            span = lumps[-1][0] - lumps[0][0]
            return sum(size for _, size in lumps[:-1]) / span if span > 0 else None
        cycles = self.reopened()
        if len(cycles) < 2 or self.silence_ahead():
            return None
        span = _at(cycles[-1]) - _at(cycles[0])
        return sum(c.taken for c in cycles[1:]) / span if span > 0 else None

    def silence_ahead(self) -> bool:
        """The last 429 asked for a wait far longer than the gaps between acceptances so far: capacity comes back
        in a lump after it, so the cycles so far are no trickle to read a rate from."""
        times = sorted(self.taken_at)
        gaps = [b - a for a, b in zip(times, times[1:], strict=False)]
        typical = statistics.median(gaps) if gaps else 0.0
        return self.last_hint > max(_ROUNDING_S, _SILENCE * typical)

    def burst(self, rate: float) -> float:
        if self.lumpy():
            return float(statistics.median(size for _, size in self.lumps()[:-1]))
        return max(1.0, self.from_idle - rate * (self.refusal.sent - self.first_ok))

    def window(self) -> float | None:
        rate = self.rate()
        return None if not rate else self.burst(rate) / rate

    def grain(self) -> float:
        window = self.window()
        return _FIRST_GRAIN if window is None else min(_GRAIN[1], max(_GRAIN[0], window / 100))

    def patience(self) -> float:
        """How long to poll past a 429's hint before giving up on the limit reopening: two windows, or two of
        the longest wait a 429 asked for, and two minutes at least (a target with no Retry-After at all)."""
        window = self.window() or 0.0
        return max(_PATIENCE_S, 2 * window, 2 * self.longest_hint)

    def watched(self) -> float:
        if self.lumpy():
            lumps = self.lumps()
            return lumps[-1][0] - lumps[0][0]
        cycles = self.reopened()
        return _at(cycles[-1]) - _at(cycles[0]) if len(cycles) >= 2 else 0.0

    def enough(self) -> bool:
        window = self.window()
        if window is None:
            return False
        periods = len(self.lumps()) - 1 if self.lumpy() else len(self.reopened()) - 1
        return periods >= self.windows and self.watched() >= self.windows * window * _ALMOST

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
        if rate * _PACE_OVER_RATE > self.ceiling:
            pace = math.ceil(rate * _PACE_OVER_RATE * 2)
            why = f"the pace, {self.ceiling:g}/s, is too close to the limit's rate (about {rate:.3g}/s) to read it"
            return Reading(False, f"{why}: give --rate {pace} or more", **common)
        burst = self.burst(rate)
        kind, evidence = self._kind(rate, burst, window)
        return Reading(True, None, round(burst), rate, window, kind, evidence, **common)

    def _needed(self, window: float) -> float:
        return (self.refusal.sent - self.first_ok) + (self.windows + 1) * window

    def _kind(self, rate: float, burst: float, window: float) -> tuple[str, list[str]]:
        lumps = [size for _, size in self.lumps()[:-1]]
        if not self.lumpy():
            return "token bucket", ["capacity came back a few requests at a time, with no long silence: it refills "
                                    "continuously"]  # fmt: skip
        evidence = [f"capacity came back in {len(lumps)} lumps of {statistics.median(lumps):g} (median) between "
                    f"silences: it refills all at once"]  # fmt: skip
        if window < _NAMEABLE_WINDOW_S:
            evidence.append(f"a {window:.2g} s window is too short to tell fixed from sliding by whole seconds")
            return "window", evidence
        if self.from_idle > (1 + _SLIDING_SLACK) * burst + 1:
            evidence.append(f"{self.from_idle} accepted before the first 429: a window's boundary passed meanwhile")
            return "fixed window", evidence
        # A sliding window gives each request's place back a window after it was taken: the first lump is the
        # burst again, a window later. A fixed one gives everything back at its boundary, wherever that falls.
        first_lump = sorted(self.taken_at)[: self.lumps()[0][1]]
        later = statistics.median(first_lump) - statistics.median(self.idle_at or [self.first_ok])
        if abs(later - window) <= _ROUNDING_S:
            evidence.append(f"the first lump came back {later:.1f} s after the burst, a window later")
            return "sliding window", evidence
        evidence.append(f"the first lump came back {later:.1f} s after the burst, not a window later")
        return "fixed window", evidence


def _at(cycle: Cycle) -> float:
    assert cycle.reopened is not None
    return cycle.reopened


def _round(value: float | None, digits: int = 3) -> float | None:
    return None if value is None else round(value, digits)
