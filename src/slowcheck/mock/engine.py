"""The simulation: generations move Queued -> In Progress -> Success | Failed on a bounded worker pool.

A generation waits its drawn queue time, then for a free worker; a worker spends its drawn run time (or
the upstream's real time) on it. Waiting longer than the expiry fails it. Pending generations live in
memory and in the store; finished ones in the store, with the most recently used ``--cache-size`` of them in
memory, so the process stays the same size however many it has stored. On start, the engine picks up every
unfinished generation where it was. A finished generation older than the expiry window is deleted.
"""

from __future__ import annotations

import asyncio
import heapq
import math
import random
import time
from collections import Counter, OrderedDict
from collections.abc import Callable, Sequence
from typing import Any

from slowcheck.mock import generator
from slowcheck.mock.records import Generation, Group, Idempotent, Kind
from slowcheck.mock.settings import REAL_EXPIRY, MockSettings
from slowcheck.mock.stats import Stats
from slowcheck.mock.store import Store
from slowcheck.mock.upstream import Upstream, UpstreamError
from slowcheck.mock.webhooks import Webhooks
from slowcheck.types import JSONObject

__all__ = ["Engine"]

SIMULATED_FAILURE = "Generation failed: the backend returned an error (simulated by the mock)"


class Engine:
    def __init__(self, settings: MockSettings, store: Store) -> None:
        self.settings = settings
        self.store = store
        self.stats = Stats()
        self.pending: dict[str, Generation] = {}
        """Queued and In Progress, in submission order."""
        self.finished: OrderedDict[str, Generation] = OrderedDict()
        """Recently used finished generations, least recent first; the rest are in the store."""
        self.groups: dict[str, Group] = {}
        """Groups not yet notified; notified ones are read back from the store (kept here without one)."""
        self._idempotency: OrderedDict[tuple[str, str], Idempotent] = OrderedDict()
        """Recently used Idempotency-Keys; the rest are read back from the store."""
        self.webhooks: Webhooks | None = None
        self.upstream = (
            Upstream(settings.upstream, api_key=settings.upstream_api_key, timeout=settings.upstream_timeout)
            if settings.upstream
            else None
        )
        self._rng = random.Random(settings.seed)
        # Drawn from on every submission; the settings do not change once the mock runs.
        self._queue_span, self._run_span = settings.queue_span, settings.run_span
        self._queue: list[tuple[float, int, str]] = []
        self._waiting: OrderedDict[str, float] = OrderedDict()
        """Queued generations and when they expire, in submission order (so in order of expiry). Ordered, as
        the stats' windows are: the oldest is read on every scheduling pass, and most leave from the front."""
        self._next_prune = 0.0
        self._sequence = 0
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
        self.pending, self.groups = snapshot.generations, snapshot.groups
        self.batch_records = (snapshot.files, snapshot.batches)
        """The Batch API's records, for slowcheck.mock.batches to take up once the engine runs."""
        self.webhooks = Webhooks(self.settings, self.store, self.stats, snapshot.webhooks)
        now = time.time()
        self.pending = dict(sorted(self.pending.items(), key=lambda item: item[1].created))
        for generation in list(self.pending.values()):
            if generation.state == "Queued":
                self._enqueue(generation)
            elif generation.state == "In Progress" and not generation.stuck:
                self._free -= 1
                self._spawn(self._run(generation, max(0.0, generation.dispatched_at or now) + generation.run_time))
        for group in self.groups.values():
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
        for generation in generations:
            self.pending[generation.id] = generation
            self._enqueue(generation)
        if group is not None:
            self.groups[group.id] = group
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
        """A generation by id: pending, recently used, or read back from the store (and then cached)."""
        found = self.pending.get(generation_id)
        if found is not None:
            return found
        found = self.finished.get(generation_id)
        if found is not None:
            self.finished.move_to_end(generation_id)
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
        held = (*self.pending.values(), *self.finished.values())
        return Counter(g.state for g in held if tenant is None or g.tenant == tenant)

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

    # -- scheduling -------------------------------------------------------------------------------

    def _enqueue(self, generation: Generation) -> None:
        self._sequence += 1
        heapq.heappush(self._queue, (generation.eligible_at, self._sequence, generation.id))
        self._waiting[generation.id] = generation.created + self.settings.expiry_seconds

    def _remember(self, generation: Generation) -> None:
        """Keep a finished generation in memory, forgetting the least recently used beyond the cache size. An
        in-memory store has nothing to read back from: it keeps every one."""
        self.finished[generation.id] = generation
        self.finished.move_to_end(generation.id)
        self._bound(self.finished)

    async def _schedule(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            self._wake.clear()
            now = time.time()
            self._expire(now)
            self._prune(now)
            while self._free > 0 and self._queue and self._queue[0][0] <= now:
                _, _, generation_id = heapq.heappop(self._queue)
                generation = self.pending.get(generation_id)
                if generation is not None and generation.state == "Queued":
                    self._dispatch(generation, now)
            moments = [next(iter(self._waiting.values()))] if self._waiting else []
            moments.append(self._next_prune)
            if self._free > 0 and self._queue:
                moments.append(self._queue[0][0])
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
        while self._waiting:
            generation_id, expires_at = next(iter(self._waiting.items()))
            if expires_at > now:
                return
            del self._waiting[generation_id]
            generation = self.pending.get(generation_id)
            if generation is not None and generation.state == "Queued":
                self._finish(generation, now, failure=_expired_message(self.settings))

    def _prune(self, now: float) -> None:
        """Finished generations past the expiry window leave the store (and the cache): its file stays bounded."""
        if now < self._next_prune:
            return
        window = self.settings.expiry_seconds
        self._next_prune = now + max(1.0, min(window / 10, 600.0))
        if self.store.prune(now - window):
            for generation_id in [i for i, g in self.finished.items() if g.created < now - window]:
                del self.finished[generation_id]

    def _dispatch(self, generation: Generation, now: float) -> None:
        self._waiting.pop(generation.id, None)
        generation.state, generation.state_message, generation.dispatched_at = "In Progress", "In Progress", now
        self.store.update(generation)
        if generation.stuck:
            return  # a fault: dispatched, never finished, holding no worker
        self._free -= 1
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
        self.pending.pop(generation.id, None)
        self._waiting.pop(generation.id, None)
        self._remember(generation)
        assert self.webhooks is not None
        self.webhooks.generation_finished(generation)
        if generation.group_id is not None and generation.group_id in self.groups:
            self._maybe_finish_group(self.groups[generation.group_id])
        for listener in self.listeners:
            listener(generation)

    def _swap(self, generation: Generation) -> None:
        """The swap fault: this generation's response and the last successful one's of its kind change places."""
        for other in reversed(self.finished.values()):
            if other.state == "Success" and other.kind == generation.kind and other.response is not None:
                generation.response, other.response = other.response, generation.response
                self.store.update(other)
                return

    def withdraw(self, generation_id: str, reason: str) -> bool:
        """Fail a generation that is still Queued (a cancelled or expired batch's line); False once it runs."""
        generation = self.pending.get(generation_id)
        if generation is None or generation.state != "Queued":
            return False
        self._finish(generation, time.time(), failure=reason)
        return True

    def _maybe_finish_group(self, group: Group) -> None:
        if group.notified or any(m in self.pending for m in group.member_ids):
            return  # decided without reading finished members back from the store
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
