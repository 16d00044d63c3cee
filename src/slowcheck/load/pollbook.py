"""One polling strategy's book: the generations it still waits for, the heap of their due polls, and what
each answer means. Pure arithmetic with the clock passed in; the harness's ``Tracker`` adds the HTTP calls,
the pool of pollers and the waiting.
"""

from __future__ import annotations

import heapq
import itertools
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from slowcheck import api
from slowcheck.hints import hint_seconds
from slowcheck.live import UNREAD, Feed
from slowcheck.load.policies import Policy
from slowcheck.load.samples import StrategySamples
from slowcheck.timestamps import epoch_seconds

__all__ = ["Completed", "Outstanding", "PollBook", "Reading"]

Reading = Literal["terminal", "waiting", "limited", "mislabelled", "error"]
"""What one poll's answer meant: the generation is done; not yet (200 not terminal, or the documented 404
before it is visible); 429; a 200 not declared JSON (an SDK reads a string: counted as an error, polled again);
anything else."""


@dataclass(slots=True)
class Outstanding:
    generation_id: str
    submitted_at: float
    polls: int = 0
    job: int = -1
    """The jobs scenario's index of the arrival (-1 elsewhere)."""
    created: float | None = None
    """The ack's ``created`` (epoch seconds), when it had one."""
    state: str = UNREAD
    """The last state a poll read (:data:`UNREAD` before any did): what the live figures count in flight."""


Completed = Callable[[Outstanding, float, dict[str, Any]], None]
"""Told of each generation once, with when it was seen terminal and its record (the jobs scenario's sink)."""


class PollBook:
    """Submitters only :meth:`add` ids and never wait for a poll, so slow generations do not throttle them."""

    def __init__(
        self, policy: Policy, samples: StrategySamples, completed: Completed | None = None,
        feed: Feed | None = None,
    ) -> None:  # fmt: skip
        self.policy, self.samples = policy, samples
        self.feed = feed
        """Told of every completion, for the live figures."""
        self.completed = completed
        """Where completions go instead of ``samples.completions`` (which would hold every one in memory)."""
        self.outstanding: dict[str, Outstanding] = {}
        self.early: dict[str, tuple[float, dict[str, Any]]] = {}
        """Webhooks that arrived before their ack: generation id -> (seen at, record)."""
        self.heap: list[tuple[float, int, str]] = []
        self._sequence = itertools.count()

    @property
    def idle(self) -> bool:
        return not self.outstanding

    def add(
        self, generation_id: str, submitted_at: float, now: float, job: int = -1, created: float | None = None
    ) -> None:
        """Wait for a new generation: its first poll is due after the policy's first delay."""
        self.outstanding[generation_id] = Outstanding(generation_id, submitted_at, job=job, created=created)
        if generation_id in self.early:  # the webhook beat the ack
            seen, record = self.early.pop(generation_id)
            self.complete(generation_id, seen, record)
            return
        self._schedule(generation_id, now + self.policy.first())

    def deliver(self, generation_id: str, record: dict[str, Any], seen: float) -> None:
        """A generation.completed webhook: completes its generation, or waits for the ack that names it."""
        self.samples.webhooks += 1
        if generation_id in self.outstanding:
            self.complete(generation_id, seen, record)
        else:
            self.early[generation_id] = (seen, record)

    def complete(self, generation_id: str, seen: float, record: dict[str, Any]) -> bool:
        """Record a terminal generation once; False when it was already complete (a late poll or a duplicate)."""
        item = self.outstanding.pop(generation_id, None)
        if item is None:
            return False
        if self.feed is not None:
            self.feed.finished_record(record, item.created if item.created is not None else item.submitted_at)
        if self.completed is not None:
            self.completed(item, seen, record)
            return True
        finished = epoch_seconds(record.get("finishedAt"))
        self.samples.completions.append(
            [generation_id, item.submitted_at, seen, finished, item.polls, str(record.get("state"))]
        )
        return True

    def in_flight(self) -> Counter[str]:
        """The generations still awaited, by the last state read of each."""
        return Counter(item.state for item in self.outstanding.values())

    def wait(self, now: float) -> float | None:
        """Seconds until the next poll is due (0: now), or None when nothing is scheduled."""
        return max(0.0, self.heap[0][0] - now) if self.heap else None

    def pop_due(self, now: float) -> Outstanding | None:
        """The next generation whose poll is due, if any; entries of completed generations are dropped."""
        while self.heap and self.heap[0][0] <= now:
            _, _, generation_id = heapq.heappop(self.heap)
            item = self.outstanding.get(generation_id)
            if item is not None:
                return item
        return None

    def polled(self, item: Outstanding) -> None:
        """A poll of ``item`` is being sent."""
        item.polls += 1
        self.samples.polls += 1

    def answered(self, item: Outstanding, status: int, headers: Mapping[str, str], record: Any, now: float) -> Reading:
        """Count what a poll's answer meant and, unless it was terminal, schedule the next poll."""
        reading: Reading
        if status == 200 and not api.is_json_media(headers.get("content-type")):
            self.samples.errors += 1
            reading = "mislabelled"
        elif status == 200 and isinstance(record, dict) and record.get("state") in api.TERMINAL:
            self.complete(item.generation_id, now, record)
            return "terminal"
        elif status in (200, 404):
            if isinstance(record, dict) and isinstance(record.get("state"), str):
                item.state = record["state"]
            self.samples.wasted += 1  # 404 is documented while a generation is not visible yet
            reading = "waiting"
        elif status == 429:
            self.samples.rate_limited += 1
            reading = "limited"
        else:
            self.samples.errors += 1
            reading = "error"
        if item.generation_id in self.outstanding:
            hint = hint_seconds(headers) if status == 429 else None  # a 429's wait binds every strategy
            self._schedule(
                item.generation_id, now + (hint if hint is not None else self.policy.next(item.polls, headers))
            )
        return reading

    def close(self) -> None:
        """The run is over: what is still outstanding is unfinished."""
        self.samples.unfinished += len(self.outstanding)

    def _schedule(self, generation_id: str, due: float) -> None:
        heapq.heappush(self.heap, (due, next(self._sequence), generation_id))
