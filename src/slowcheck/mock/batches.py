"""The Batch API: files and batches, OpenAI's shape, run on the mock's own workers and store.

A batch moves ``validating → in_progress → finalizing → completed`` (``failed`` when its input file is invalid,
``expired`` at the end of its window, ``cancelling → cancelled`` when asked). Its lines become generations of
their own, fed to the engine a window at a time straight from the input file, so a file of a million lines
never sits in memory. Each fed window is committed together with the batch's read position and the line
rows that map ``custom_id`` to generation: after a crash the batch resumes where its last commit left it,
and no line runs twice or is lost. The output and error files are written at the end, in the order the lines
finished (clients join on ``custom_id``, never on order).
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import shutil
import tempfile
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from slowcheck import _json, api
from slowcheck.api import BatchStatus
from slowcheck.mock.batch_input import check_input, kind_of
from slowcheck.mock.batch_output import CANCELLED, EXPIRED, REFUSED, Results
from slowcheck.mock.batch_records import Batch, StoredFile, owned
from slowcheck.mock.errors import ApiError
from slowcheck.mock.ids import new_id
from slowcheck.mock.records import Generation
from slowcheck.mock.settings import MockSettings
from slowcheck.types import JSONObject

if TYPE_CHECKING:
    from slowcheck.mock.engine import Engine

__all__ = ["Batches"]

_TERMINAL = api.BATCH_TERMINAL


class Batches:
    """The files and batches of every tenant; the runs of the unfinished batches."""

    def __init__(self, settings: MockSettings, engine: Engine) -> None:
        self.settings = settings
        self.engine = engine
        self.store = engine.store
        self.files: dict[str, StoredFile] = {}
        self.batches: dict[str, Batch] = {}
        self._lines_in_memory: dict[str, list[tuple[int, str, str]]] = {}
        """Without a store, the line rows the store would hold."""
        self._tasks: set[asyncio.Task[None]] = set()
        self._rng = random.Random(settings.seed + 3)
        self._temporary: Path | None = None
        self.folder = Path(settings.db + "-files") if self.store.durable else Path()
        engine.listeners.append(self._line_finished)

    # -- life cycle -------------------------------------------------------------------------------

    async def start(self, files: list[dict[str, Any]], batches: list[dict[str, Any]]) -> None:
        if self.store.durable:
            self.folder.mkdir(parents=True, exist_ok=True)
        else:
            self.folder = self._temporary = Path(tempfile.mkdtemp(prefix="slowcheck-mock-files-"))
        self._spawn(self._prune_periodically())
        for record in files:
            self.files[record["id"]] = StoredFile(**record)
        for record in batches:
            batch = Batch.of(record)
            self.batches[batch.id] = batch
            if batch.status not in _TERMINAL:
                batch.in_flight = self.engine.unfinished_lines(batch.id)
                self._run(batch)

    async def stop(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._temporary is not None:
            shutil.rmtree(self._temporary, ignore_errors=True)

    # -- files ------------------------------------------------------------------------------------

    async def upload(self, tenant: str, filename: str, purpose: str, chunks: AsyncIterator[bytes]) -> StoredFile:
        """Store an upload (its form checked against the published schema: ``purpose`` is ``batch``)."""
        file_id = "file-" + new_id()
        size = 0
        with (self.folder / file_id).open("wb") as out:
            async for chunk in chunks:
                size += len(chunk)
                if size > self.settings.max_file_bytes:
                    out.close()
                    (self.folder / file_id).unlink(missing_ok=True)
                    raise ApiError(413, f"The file is larger than {self.settings.max_file_bytes} bytes.",
                                   param="file", code="file_too_large")  # fmt: skip
                out.write(chunk)
        stored = StoredFile(file_id, tenant, purpose, filename, size, int(time.time()))
        self.files[file_id] = stored
        self.store.put_file(stored.record())
        await self.store.committed()
        return stored

    def file(self, tenant: str, file_id: str) -> StoredFile:
        return owned(self.files.get(file_id), tenant, "file", file_id)

    def path(self, stored: StoredFile) -> Path:
        return self.folder / stored.id

    async def delete(self, tenant: str, file_id: str) -> None:
        stored = self.file(tenant, file_id)
        for batch in self.batches.values():
            if batch.public["input_file_id"] == file_id and batch.status not in _TERMINAL:
                raise ApiError(409, f"The file is the input of {batch.id}, which is {batch.status}.",
                               param="file_id", code="file_in_use")  # fmt: skip
        del self.files[stored.id]
        self.store.delete_file(stored.id)
        await self.store.committed()
        self.path(stored).unlink(missing_ok=True)

    # -- batches ----------------------------------------------------------------------------------

    async def create(self, tenant: str, body: JSONObject) -> Batch:
        """A batch of a body checked against the published schema; its input file must be the tenant's."""
        stored = self.file(tenant, body["input_file_id"])
        if stored.purpose != "batch":
            raise ApiError(400, "input_file_id must name a file uploaded with purpose 'batch'.",
                           param="input_file_id", code="invalid_value")  # fmt: skip
        batch = Batch.new(tenant, body, time.time() + self.settings.batch_window_seconds)
        self.batches[batch.id] = batch
        self._save(batch)
        await self.store.committed()
        self._run(batch)
        return batch

    def get(self, tenant: str, batch_id: str) -> Batch:
        return owned(self.batches.get(batch_id), tenant, "batch", batch_id)

    def next_change_in(self, batch: Batch) -> float | None:
        """Seconds until this batch's next expected change (a poll-after hint), None once it is terminal."""
        if batch.status in _TERMINAL:
            return None
        soonest = [self.engine.next_change_in(g) for g in map(self.engine.generation, batch.in_flight) if g]
        known = [s for s in soonest if s is not None]
        return min([*known, max(0.0, batch.deadline - time.time())]) if known else 0.02

    def listing(self, tenant: str, after: str | None, limit: int) -> JSONObject:
        """Newest first, ``limit`` of them after the batch ``after``."""
        own = sorted((b for b in self.batches.values() if b.tenant == tenant), key=lambda b: b.id, reverse=True)
        if after is not None:
            own = [b for b in own if b.id < after]
        page = own[:limit]
        data = [b.to_json() for b in page]
        return {"object": "list", "data": data, "first_id": data[0]["id"] if data else None,
                "last_id": data[-1]["id"] if data else None, "has_more": len(own) > limit}  # fmt: skip

    async def cancel(self, tenant: str, batch_id: str) -> Batch:
        batch = self.get(tenant, batch_id)
        if batch.status in _TERMINAL or batch.status == "finalizing":
            raise ApiError(409, f"The batch is {batch.status}: it can no longer be cancelled.",
                           param="batch_id", code="batch_not_cancellable")  # fmt: skip
        if batch.status != "cancelling":
            batch.move("cancelling")
            self._save(batch)
            await self.store.committed()
            batch.woken.set()
        return batch

    # -- running a batch --------------------------------------------------------------------------

    def _run(self, batch: Batch) -> None:
        self._spawn(self._drive(batch))

    def _spawn(self, coroutine: Any) -> None:
        task = asyncio.get_running_loop().create_task(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _prune_periodically(self) -> None:
        window = self.settings.expiry_seconds
        while True:
            await asyncio.sleep(max(1.0, min(window / 10, 600.0)))
            self.prune(time.time() - window)

    def prune(self, created_before: float) -> int:
        """Forget what is older than the retention window, as generations are: finished batches (their records,
        line rows and result files) and files no unfinished batch reads. How many batches went."""
        gone = [b for b in self.batches.values() if b.status in _TERMINAL and b.public["created_at"] < created_before]
        results: set[str] = set()
        for batch in gone:
            del self.batches[batch.id]
            self._lines_in_memory.pop(batch.id, None)
            self.store.delete_batch(batch.id)
            results |= {batch.public[k] for k in ("output_file_id", "error_file_id") if batch.public[k]}
        reading = {b.public["input_file_id"] for b in self.batches.values() if b.status not in _TERMINAL}
        # A batch's result files go with it, even when written a second after the window's edge.
        old = [f for f in self.files.values() if (f.created_at < created_before or f.id in results)]
        for stored in [f for f in old if f.id not in reading]:
            del self.files[stored.id]
            self.store.delete_file(stored.id)
            self.path(stored).unlink(missing_ok=True)
        return len(gone)

    async def _drive(self, batch: Batch) -> None:
        if batch.status == "validating":
            await self._validate(batch)
        window = max(64, 4 * self.settings.workers)
        while batch.status == "in_progress":
            if time.time() >= batch.deadline:
                await self._finish(batch, "expired")
                return
            if len(batch.in_flight) < window:
                await self._feed(batch, window - len(batch.in_flight))
            if self._read_all(batch) and not batch.in_flight:
                batch.move("finalizing")
                self._save(batch)
                break
            batch.woken.clear()
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(batch.woken.wait(), max(0.0, batch.deadline - time.time()))
        if batch.status == "cancelling":
            for generation_id in list(batch.in_flight):
                self.engine.withdraw(generation_id, CANCELLED)
            while batch.in_flight:  # what already runs finishes; it is kept
                batch.woken.clear()
                await batch.woken.wait()
            await asyncio.sleep(self.settings.faults.batch_cancel_delay)
            await self._finish(batch, "cancelled")
        elif batch.status == "finalizing":
            await self._finish(batch, "completed")

    def _read_all(self, batch: Batch) -> bool:
        return batch.next_offset >= self.files_of(batch).bytes  # an input file never changes: no stat per wake

    def files_of(self, batch: Batch) -> StoredFile:
        return self.files[batch.public["input_file_id"]]

    async def _validate(self, batch: Batch) -> None:
        """Read the whole input file once: every line a request this batch may run, each custom_id once."""
        await asyncio.sleep(self.settings.batch_validating)
        # The path, not the stored file: a missing input file is unreadable, not a crash.
        path = self.folder / batch.public["input_file_id"]
        count, errors = await check_input(path, batch.public["endpoint"], self.settings.max_batch_lines)
        if batch.status == "cancelling":
            return  # cancelled while validating: _drive finishes it
        if errors:
            batch.move("failed", errors={"object": "list", "data": errors})
        else:
            batch.lines = count
            batch.move("in_progress", request_counts={"total": count, "completed": 0, "failed": 0})
        self._save(batch)
        await self.store.committed()

    async def _feed(self, batch: Batch, room: int) -> None:
        """Make generations of the next lines, at most ``room`` of them, committed with the read position."""
        generations: list[Generation] = []
        rows: list[tuple[str, int, str, str]] = []
        with self.path(self.files_of(batch)).open("rb") as lines:
            lines.seek(batch.next_offset)
            while len(generations) < room:
                line = lines.readline()
                if not line:
                    break
                batch.next_line += 1
                batch.next_offset += len(line)
                if not line.strip():
                    continue
                item = _json.loads_own(line)  # validated when the batch was
                kind = kind_of(item, batch.public["endpoint"])
                generation = self.engine.new_generation(new_id(), batch.tenant, kind, item["body"])
                generation.batch_id = batch.id
                generations.append(generation)
                rows.append((batch.id, batch.next_line, item["custom_id"], generation.id))
        if not generations:
            return
        batch.in_flight.update(g.id for g in generations)
        if not self.store.durable:
            self._lines_in_memory.setdefault(batch.id, []).extend(row[1:] for row in rows)
        self._save(batch)  # in the same commit as the lines: the read position never runs ahead of them
        await self.engine.submit(generations, batch_lines=rows)
        ratio = self.settings.faults.batch_line_error_ratio
        for generation in generations:
            if ratio and self._rng.random() < ratio:
                self.engine.withdraw(generation.id, REFUSED)

    def _line_finished(self, generation: Generation) -> None:
        batch = self.batches.get(generation.batch_id or "")
        if batch is None or generation.id not in batch.in_flight:
            return
        batch.in_flight.discard(generation.id)
        counts = batch.public["request_counts"]
        if generation.state == "Success":
            counts["completed"] += 1
        elif generation.state_message not in (CANCELLED, EXPIRED):
            counts["failed"] += 1
        self._save(batch)
        batch.woken.set()

    async def _finish(self, batch: Batch, status: BatchStatus) -> None:
        """Write the output and error files, then the final status; what never ran goes to the error file."""
        if status == "expired":
            for generation_id in list(batch.in_flight):
                self.engine.withdraw(generation_id, EXPIRED)
        results = Results(self.folder, batch, status)
        for number, (custom_id, state, message, response) in enumerate(self._results(batch)):
            if number % 2000 == 0:
                await asyncio.sleep(0)
            results.add(custom_id, state, message, response)
        for custom_id in self._never_read(batch):
            results.never_ran(custom_id)
        values: dict[str, Any] = {}
        for name, stored in results.close().items():
            if stored is not None:
                self.files[stored.id] = stored
                self.store.put_file(stored.record())
            values[name] = stored.id if stored is not None else None
        if status == "completed":
            counts = batch.public["request_counts"]
            values["request_counts"] = counts | {"failed": batch.lines - counts["completed"]}
        batch.move(status, **values)
        batch.in_flight.clear()
        self._save(batch)
        await self.store.committed()

    def _results(self, batch: Batch) -> Iterator[tuple[str, str | None, str | None, Any]]:
        """(custom_id, state, state message, response) of each dispatched line, in the order they finished. A
        line still running (an expired batch's) has its state; None where nothing is known."""
        if self.store.durable:
            yield from self.store.batch_results(batch.id)
            return
        found = [(row, self.engine.generation(row[2])) for row in self._lines_in_memory.get(batch.id, [])]
        found.sort(key=lambda pair: (pair[1].finished_at or 0.0) if pair[1] is not None else 0.0)
        for (_, custom_id, _), generation in found:
            if generation is None:
                yield custom_id, None, None, None
            else:
                yield custom_id, generation.state, generation.state_message, generation.response

    def _never_read(self, batch: Batch) -> list[str]:
        if batch.lines == 0:
            return []
        with self.path(self.files_of(batch)).open("rb") as lines:
            lines.seek(batch.next_offset)
            return [_json.loads_own(line)["custom_id"] for line in lines if line.strip()]

    def _save(self, batch: Batch) -> None:
        self.store.put_batch(batch.record())
