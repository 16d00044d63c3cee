"""The simulation: generations move Queued -> In Progress -> Success | Failed on a bounded worker pool.

A generation waits its drawn queue time, then for a free worker; a worker spends its drawn run time (or
the upstream's real time) on it. Waiting longer than the expiry fails it. Records live in the store: memory
holds the queued ones' ids and times (``Schedule``, 38 to about 100 bytes each), the records the workers hold, and
the most recently used ``--cache-size`` records of any state, so the process stays nearly the same size
however large the backlog or the store. A queued record is read back when a worker takes it. On start, the
engine picks up every unfinished generation where it was. A finished generation older than the expiry window
is deleted. Without a store (``:memory:``) every record stays in the cache, which is then unbounded.
"""

from __future__ import annotations

import asyncio
import math
import random
import time
from collections import Counter, OrderedDict
from collections.abc import Callable, Sequence
from typing import Any

from slowcheck.mock import generator
from slowcheck.mock.records import Generation, Group, Idempotent, Kind
from slowcheck.mock.schedule import Schedule
from slowcheck.mock.settings import REAL_EXPIRY, MockSettings
from slowcheck.mock.stats import Stats
from slowcheck.mock.store import Store
from slowcheck.mock.upstream import UpstreamError, UpstreamModel
from slowcheck.mock.webhooks import Webhooks
from slowcheck.types import JSONObject

__all__ = ["Engine"]

SIMULATED_FAILURE = "Generation failed: the backend returned an error (simulated by the mock)"


class Engine:
    def __init__(self, settings: MockSettings, store: Store) -> None:
        self.settings = settings
        self.store = store
        self.stats = Stats()
        self.schedule = Schedule()
        """The Queued generations: ids and times, no records."""
        self.running: dict[str, Generation] = {}
        """The records the workers hold (In Progress, at most --workers; a stuck one is held by none)."""
        self.recent: OrderedDict[str, Generation] = OrderedDict()
        """Recently used records of any state, least recent first; the rest are in the store. The one object of
        its generation while it is here: a worker that takes a Queued one takes this object."""
        self.groups: dict[str, Group] = {}
        """Groups not yet notified; notified ones are read back from the store (kept here without one)."""
        self._unfinished: Counter[str] = Counter()
        """Per group in ``groups``, its members not yet terminal: it is notified when none is left."""
        self._idempotency: OrderedDict[tuple[str, str], Idempotent] = OrderedDict()
        """Recently used Idempotency-Keys; the rest are read back from the store."""
        self.webhooks: Webhooks | None = None
        self.upstream = (
            UpstreamModel(settings.upstream, api_key=settings.upstream_api_key, timeout=settings.upstream_timeout)
            if settings.upstream
            else None
        )
        self._rng = random.Random(settings.seed)
        # Drawn from on every submission; the settings do not change once the mock runs.
        self._queue_span, self._run_span = settings.queue_span, settings.run_span
        self._next_prune = 0.0
        self._free = settings.workers
        self._wake = asyncio.Event()
        self._next_wakeup = 0.0
        self._tasks: set[asyncio.Task[None]] = set()
        self._loop_task: asyncio.Task[None] | None = None
        self.batch_records: tuple[list[dict[str, Any]], list[dict[str, Any]]] = ([], [])
        self.listeners: list[Callable[[Generation], None]] = []
        """Told of every generation that reaches a terminal state (the Batch API counts its lines so)."""

    # -- life cycle -------------------------------------------------------------------------------

    async def start(self) -> None:
        snapshot = self.store.load()
        self.groups = snapshot.groups
        self.batch_records = (snapshot.files, snapshot.batches)
        """The Batch API's records, for slowcheck.mock.batches to take up once the engine runs."""
        self.webhooks = Webhooks(self.settings, self.store, self.stats, snapshot.webhooks)
        now = time.time()
        in_progress: list[str] = []
        for row in self.store.pending():
            if row.group_id in self.groups:
                self._unfinished[row.group_id] += 1
            if row.state == "Queued":
                self.schedule.add(row.id, row.eligible_at, row.created + self.settings.expiry_seconds)
            elif not row.stuck:
                in_progress.append(row.id)
        for generation_id in in_progress:  # as many as had workers: their records are held while they run
            generation = self.store.read(generation_id)
            if generation is not None:
                self._free -= 1
                self.running[generation_id] = generation
                self._spawn(self._run(generation, max(0.0, generation.dispatched_at or now) + generation.run_time))
        for group in list(self.groups.values()):
            if not self._unfinished[group.id]:
                self._maybe_finish_group(group)
        self.webhooks.resume(snapshot.outbox)
        self._loop_task = asyncio.get_running_loop().create_task(self._schedule())

    async def stop(self) -> None:
        tasks = [t for t in (self._loop_task, *self._tasks) if t is not None]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        if self.webhooks is not None:
            await self.webhooks.aclose()
        if self.upstream is not None:
            await self.upstream.aclose()
        self.store.close()

    # -- submissions ------------------------------------------------------------------------------

    def new_generation(self, generation_id: str, tenant: str, kind: Kind, request: JSONObject) -> Generation:
        now = time.time()
        rng = self._rng
        generation = Generation(
            generation_id,
            tenant,
            kind,
            request,
            now,
            now + self._queue_span.draw(rng),
            self._run_span.draw(rng),
            fail=rng.random() < self.settings.failure_ratio,
            stuck=rng.random() < self.settings.faults.stuck_ratio,
        )
        capacity = self.settings.capacity
        if capacity is not None:
            # Each worker decodes at its share of the capacity; decided now, so it is stored with the rest.
            generation.run_time = generator.work_tokens(generation) * self.settings.workers / capacity
        return generation

    async def submit(
        self,
        generations: Sequence[Generation],
        *,
        group: Group | None = None,
        idempotency: Idempotent | None = None,
        batch_lines: Sequence[tuple[str, int, str, str]] = (),
    ) -> None:
        """Store, then schedule. Returns once the store has committed them: only then may they be acked."""
        await self.store.add(generations, group=group, idempotency=idempotency, batch_lines=batch_lines)
        expiry = self.settings.expiry_seconds
        for generation in generations:
            generation.raw = None  # stored: the parsed request is what is shown
            self.schedule.add(generation.id, generation.eligible_at, generation.created + expiry)
            self._remember(generation)  # its first polls come soon
        if group is not None:
            self.groups[group.id] = group
            self._unfinished[group.id] += len(generations)
        if idempotency is not None:
            self._idempotency[(idempotency.tenant, idempotency.key)] = idempotency
            self._bound(self._idempotency)
        # Wake the scheduler only when this changes its plan: a submission per request otherwise costs
        # a whole scheduling pass.
        if self._free > 0 and min(g.eligible_at for g in generations) < self._next_wakeup:
            self._wake.set()

    def group(self, group_id: str) -> Group | None:
        """A group by id: pending here, else read back from the store."""
        return self.groups.get(group_id) or self.store.read_group(group_id)

    def idempotent(self, tenant: str, key: str) -> Idempotent | None:
        """What an Idempotency-Key of this tenant was first used for, if it was."""
        found = self._idempotency.get((tenant, key))
        if found is None:
            found = self.store.read_idempotency(tenant, key)
            if found is not None:
                self._idempotency[(tenant, key)] = found
                self._bound(self._idempotency)
        return found

    def _bound(self, cache: OrderedDict[Any, Any]) -> None:
        if self.store.durable:
            while len(cache) > self.settings.cache_size:
                cache.popitem(last=False)

    def generation(self, generation_id: str) -> Generation | None:
        """A generation by id: recently used, running, or read back from the store (and then cached)."""
        found = self.recent.get(generation_id)
        if found is not None:
            self.recent.move_to_end(generation_id)
            return found
        found = self.running.get(generation_id)
        if found is not None:
            return found
        found = self.store.read(generation_id)
        if found is not None:
            self._remember(found)
        return found

    def count(self) -> int:
        """Generations held (stored, or in memory without a store)."""
        return sum(self.state_counts().values())

    def state_counts(self, tenant: str | None = None) -> Counter[str]:
        """Generations by state: all of them, or one key's."""
        if self.store.durable:
            return self.store.counts(tenant)
        return Counter(g.state for g in self.recent.values() if tenant is None or g.tenant == tenant)

    def next_change_in(self, generation: Generation) -> float | None:
        """Seconds until this pending generation is expected to change state (a poll-after hint)."""
        now = time.time()
        if generation.stuck and generation.state == "In Progress":
            return None
        if generation.state == "Queued":
            # Past its queue time it waits for a free worker: when one frees is not known, so nothing is promised
            # (a hint of 0 would have every client poll in a loop).
            return generation.eligible_at - now if generation.eligible_at > now else None
        if generation.state == "In Progress" and generation.dispatched_at is not None:
            return max(0.0, generation.dispatched_at + generation.run_time - now)
        return None

    def unfinished_lines(self, batch_id: str) -> set[str]:
        """The ids of a batch's generations that are Queued or In Progress."""
        if self.store.durable:
            return self.store.unfinished_lines(batch_id)
        return {g.id for g in self.recent.values() if g.batch_id == batch_id and not g.terminal}

    # -- scheduling -------------------------------------------------------------------------------

    def _remember(self, generation: Generation) -> None:
        """Keep a record in memory, forgetting the least recently used beyond the cache size. An in-memory
        store has nothing to read back from: it keeps every one."""
        self.recent[generation.id] = generation
        self.recent.move_to_end(generation.id)
        self._bound(self.recent)

    def _queued(self, generation_id: str) -> Generation | None:
        """The record of a generation the schedule just gave up: the one in memory, else read back as committed
        (nothing writes a Queued row, and its insert was awaited)."""
        found = self.recent.get(generation_id)
        return found if found is not None else self.store.read(generation_id, flush=False)

    async def _schedule(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            self._wake.clear()
            now = time.time()
            self._expire(now)
            self._prune(now)
            while self._free > 0 and (generation_id := self.schedule.pop_due(now)) is not None:
                generation = self._queued(generation_id)
                if generation is not None:
                    self._dispatch(generation, now)
            expiry, due = self.schedule.next_expiry(), self.schedule.next_due()
            moments = [expiry] if expiry is not None else []
            moments.append(self._next_prune)
            if self._free > 0 and due is not None:
                moments.append(due)
            # A timer that sets the event, not asyncio.wait_for: on Python < 3.12 wait_for can swallow a
            # cancellation that races with the event, and the engine would never stop.
            self._next_wakeup = min(moments) if moments else math.inf
            timer = loop.call_later(max(0.0, self._next_wakeup - now), self._wake.set) if moments else None
            try:
                await self._wake.wait()
            finally:
                if timer is not None:
                    timer.cancel()

    def _expire(self, now: float) -> None:
        while (generation_id := self.schedule.pop_expired(now)) is not None:
            generation = self._queued(generation_id)
            if generation is not None:
                self._finish(generation, now, failure=_expired_message(self.settings))

    def _prune(self, now: float) -> None:
        """Finished generations past the expiry window leave the store (and the cache): its file stays bounded."""
        if now < self._next_prune:
            return
        window = self.settings.expiry_seconds
        self._next_prune = now + max(1.0, min(window / 10, 600.0))
        if self.store.prune(now - window):
            for generation_id in [i for i, g in self.recent.items() if g.terminal and g.created < now - window]:
                del self.recent[generation_id]

    def _dispatch(self, generation: Generation, now: float) -> None:
        generation.state, generation.state_message, generation.dispatched_at = "In Progress", "In Progress", now
        self.store.update(generation)
        if generation.stuck:
            return  # a fault: dispatched, never finished, holding no worker (its record is in the store)
        self._free -= 1
        self.running[generation.id] = generation
        self._spawn(self._run(generation, now + generation.run_time))

    async def _run(self, generation: Generation, done_at: float) -> None:
        try:
            failure: str | None = None
            response: JSONObject | None = None
            if self.upstream is not None and not generation.fail:
                try:
                    response = await self.upstream.complete(generation)
                except UpstreamError as exc:
                    failure = str(exc)
            else:
                await asyncio.sleep(max(0.0, done_at - time.time()))
            if generation.fail:
                failure = SIMULATED_FAILURE
            self._finish(generation, time.time(), failure=failure, response=response)
        finally:
            self._free += 1
            self._wake.set()

    def _finish(
        self, generation: Generation, now: float, *, failure: str | None = None, response: JSONObject | None = None
    ) -> None:
        generation.finished_at = now
        if failure is None and response is None:
            try:
                response = generator.complete(generation)
            except Exception as exc:
                failure = f"Generation failed: the mock's generator crashed ({type(exc).__name__}: {exc})"
        if failure is None:
            generation.state, generation.state_message = "Success", "Generation successful"
            generation.response = response
            if self.settings.faults.swap_ratio and self._rng.random() < self.settings.faults.swap_ratio:
                self._swap(generation)
        else:
            generation.state, generation.state_message, generation.response = "Failed", failure, None
        self.store.update(generation)
        self.stats.finished(generation)
        self.running.pop(generation.id, None)
        self._remember(generation)
        assert self.webhooks is not None
        self.webhooks.generation_finished(generation)
        group = self.groups.get(generation.group_id) if generation.group_id is not None else None
        if group is not None:
            self._unfinished[group.id] -= 1
            if self._unfinished[group.id] <= 0:
                del self._unfinished[group.id]
                self._maybe_finish_group(group)
        for listener in self.listeners:
            listener(generation)

    def _swap(self, generation: Generation) -> None:
        """The swap fault: this generation's response and the last successful one's of its kind change places."""
        for other in reversed(self.recent.values()):
            if other is generation:
                continue  # the cache holds records of every state: this one may be in it already
            if other.state == "Success" and other.kind == generation.kind and other.response is not None:
                generation.response, other.response = other.response, generation.response
                self.store.update(other)
                return

    def withdraw(self, generation_id: str, reason: str) -> bool:
        """Fail a generation that is still Queued (a cancelled or expired batch's line); False once it runs."""
        if not self.schedule.take(generation_id):
            return False
        generation = self._queued(generation_id)
        if generation is None:
            return False
        self._finish(generation, time.time(), failure=reason)
        return True

    def _maybe_finish_group(self, group: Group) -> None:
        if group.notified:
            return
        found = [self.generation(m) for m in group.member_ids]
        members = [m for m in found if m is not None]
        if not all(m.terminal for m in members):
            return
        group.notified = True
        self.store.group_notified(group.id)
        if self.store.durable:
            self.groups.pop(group.id, None)
        assert self.webhooks is not None
        self.webhooks.group_finished(group, members)

    def _spawn(self, coroutine: object) -> None:
        task: asyncio.Task[None] = asyncio.get_running_loop().create_task(coroutine)  # type: ignore[arg-type]
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)


def _expired_message(settings: MockSettings) -> str:
    if settings.expiry is None and settings.time_scale is None:
        return "Expired: the request was not processed within 72 hours"
    scaled = f" ({settings.expiry_seconds:g} s here)" if settings.expiry_seconds != REAL_EXPIRY else ""
    return f"Expired: the request was not processed within its expiry window{scaled}"
