"""Waiting for generations the way a real API needs: its hints when it sends them, else a backoff.

A real API sends no poll hint and finishes in minutes or hours, and every poll costs a request of a small
budget. So all open subjects are polled in one sweep; the next sweep waits for the server's hint
(``openai-poll-after-ms``, ``retry-after-ms``, ``Retry-After``) where there is one, else backs off (1 s, x1.5
with jitter, capped at 30 s); and a poll reserve is spread so that it lasts until the deadline.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Generic, Literal, TypeVar

__all__ = ["BACKOFF", "Backoff", "sweep", "sweeps_within"]

Subject = TypeVar("Subject")
Ending = Literal["finished", "deadline", "reserve"]


@dataclass(frozen=True, slots=True)
class Backoff:
    first: float = 1.0
    factor: float = 1.5
    cap: float = 30.0
    jitter: float = 0.1
    """Each wait is stretched or shrunk by up to this share, so many clients do not poll in step."""


BACKOFF = Backoff()


def sweeps_within(seconds: float, backoff: Backoff = BACKOFF) -> int:
    """How many sweeps the backoff makes in ``seconds`` (the first at once, the last at the deadline)."""
    if seconds <= 0:
        return 1
    count, at, wait = 1, 0.0, backoff.first
    while at + wait < seconds:
        at, wait, count = at + wait, min(wait * backoff.factor, backoff.cap), count + 1
    return count + 1


@dataclass(slots=True)
class _Open(Generic[Subject]):
    subject: Subject
    due: float


def sweep(
    subjects: Iterable[Subject],
    poll: Callable[[Subject], tuple[bool, float | None]],
    *,
    deadline: float,
    reserve: int | None,
    backoff: Backoff = BACKOFF,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
    rng: Callable[[], float] = random.random,
) -> tuple[Ending, int]:
    """Poll each subject until ``poll`` says it is finished, the deadline passes, or ``reserve`` polls are spent.

    ``poll(subject)`` returns (finished, the server's hint in seconds or None). Returns why it stopped and how
    many polls it spent. The first sweep is at once; the last one falls on the deadline.
    """
    now = clock()
    pending = [_Open(s, now) for s in subjects]
    spent, step = 0, backoff.first
    while pending:
        polled: list[tuple[_Open[Subject], float | None]] = []
        for item in [p for p in pending if p.due <= clock() + 0.001]:
            if reserve is not None and spent >= reserve:
                return "reserve", spent
            finished, hint = poll(item.subject)
            spent += 1
            if finished:
                pending.remove(item)
            else:
                polled.append((item, hint))
        if not pending:
            return "finished", spent
        now = clock()
        if now >= deadline:
            return "deadline", spent
        spread = 0.0
        if reserve is not None:
            sweeps_left = (reserve - spent) // len(pending)
            if sweeps_left < 1:
                return "reserve", spent
            spread = (deadline - now) / sweeps_left
        if any(hint is None for _, hint in polled):
            wait = step * (1 + backoff.jitter * (2 * rng() - 1))
            step = min(step * backoff.factor, backoff.cap)
        for item, hint in polled:  # not before the server said; else the backoff; never faster than the reserve
            item.due = min(now + max(wait if hint is None else hint, spread), deadline)
        sleep(max(0.0, min(p.due for p in pending) - clock()))
    return "finished", spent
