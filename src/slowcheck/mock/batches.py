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
import math
import random
import shutil
import tempfile
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from slowcheck import _json, api
from slowcheck.api import Kind
from slowcheck.mock import generator
from slowcheck.mock.errors import ApiError, excerpt
from slowcheck.mock.ids import new_id, request_id
from slowcheck.mock.records import Generation
from slowcheck.mock.settings import MockSettings
from slowcheck.schemas import schema_set
from slowcheck.types import JSONObject

if TYPE_CHECKING:
    from slowcheck.mock.engine import Engine

__all__ = ["ENDPOINTS", "Batches"]

ENDPOINTS: dict[str, Kind] = {"/v1/chat/completions": "chat", "/v1/completions": "text", "/v1/embeddings": "embedding"}
"""What a batch may run, and the kind of generation each line becomes."""
_KIND_KEYS: tuple[tuple[str, Kind], ...] = (("messages", "chat"), ("prompt", "text"), ("input", "embedding"))
"""Without ``url`` (inference.net's newer format), a line's kind is read from its body's shape."""
REFUSED = "Invalid request (fault injected by the mock: a line-level 400)"
CANCELLED = "Cancelled: the batch was cancelled before this request ran"
EXPIRED = "Expired: the batch's completion window ended before this request ran"
_ERRORS_KEPT = 100
_STAMPS = ("in_progress_at", "finalizing_at", "completed_at", "failed_at", "expired_at", "cancelling_at",
           "cancelled_at")  # fmt: skip
_TERMINAL = api.BATCH_TERMINAL


@dataclass(slots=True)
class StoredFile:
    id: str
    tenant: str
    purpose: str
    filename: str
    bytes: int
    created_at: int

    def to_json(self) -> JSONObject:
        return {"id": self.id, "object": "file", "bytes": self.bytes, "created_at": self.created_at,
                "filename": self.filename, "purpose": self.purpose, "status": "processed"}  # fmt: skip

    def record(self) -> dict[str, Any]:
        return {"id": self.id, "tenant": self.tenant, "purpose": self.purpose, "filename": self.filename,
                "bytes": self.bytes, "created_at": self.created_at}  # fmt: skip


@dataclass(slots=True)
class Batch:
    """A batch: the object OpenAI returns, and where its run stands (private to the mock)."""

    id: str
    tenant: str
    public: dict[str, Any]
    lines: int = 0
    """Requests in the input file, once validated."""
    next_line: int = 0
    """Physical lines of the input file already read (fed, or blank)."""
    next_offset: int = 0
    """Where the next unread line starts, in bytes."""
    deadline: float = 0.0
    """When the batch expires (``expires_at`` in whole seconds is for clients)."""
    in_flight: set[str] = field(default_factory=set)
    """Generations of this batch not yet terminal."""
    woken: asyncio.Event = field(default_factory=asyncio.Event)

    @property
    def status(self) -> str:
        return str(self.public["status"])

    def to_json(self) -> JSONObject:
        return dict(self.public)

    def record(self) -> dict[str, Any]:
        return {"id": self.id, "tenant": self.tenant, "public": self.public, "lines": self.lines,
                "next_line": self.next_line, "next_offset": self.next_offset, "deadline": self.deadline}  # fmt: skip

    def move(self, status: str, **values: Any) -> None:
        """A new status, and the timestamp that goes with it (``<status>_at``) unless given."""
        stamp = f"{status}_at"
        self.public["status"] = status
        if stamp in _STAMPS and stamp not in values:
            values[stamp] = int(time.time())
        self.public.update(values)


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
            batch = Batch(record["id"], record["tenant"], record["public"], record["lines"], record["next_line"],
                          record["next_offset"], record["deadline"])  # fmt: skip
            self.batches[batch.id] = batch
            if batch.status not in _TERMINAL:
                batch.in_flight = self.engine.unfinished(batch.id)
                self._run(batch)

    async def stop(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._temporary is not None:
            shutil.rmtree(self._temporary, ignore_errors=True)

    # -- files ------------------------------------------------------------------------------------

    async def upload(self, tenant: str, filename: str, purpose: str, chunks: AsyncIterator[bytes]) -> StoredFile:
        if purpose != "batch":
            raise ApiError(400, f"The mock stores files for purpose 'batch' only, not {excerpt(purpose)}.",
                           param="purpose", code="invalid_purpose")  # fmt: skip
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
        return _owned(self.files.get(file_id), tenant, "file", file_id)

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

    async def create(self, tenant: str, body: Any) -> Batch:
        if not isinstance(body, dict):
            raise ApiError(400, "The body must be a JSON object.")
        input_file_id = body.get("input_file_id")
        if not isinstance(input_file_id, str) or not input_file_id:
            raise ApiError(400, "input_file_id is required.", param="input_file_id", code="invalid_value")
        stored = self.file(tenant, input_file_id)
        if stored.purpose != "batch":
            raise ApiError(400, "input_file_id must name a file uploaded with purpose 'batch'.",
                           param="input_file_id", code="invalid_value")  # fmt: skip
        endpoint = body.get("endpoint")
        if endpoint not in ENDPOINTS:
            raise ApiError(400, f"endpoint must be one of {', '.join(ENDPOINTS)}, not {excerpt(endpoint)}.",
                           param="endpoint", code="invalid_value")  # fmt: skip
        if body.get("completion_window") != "24h":
            raise ApiError(400, f"completion_window must be '24h', not {excerpt(body.get('completion_window'))}.",
                           param="completion_window", code="invalid_value")  # fmt: skip
        metadata = body.get("metadata")
        if metadata is not None and not _is_metadata(metadata):
            raise ApiError(400, "metadata must be up to 16 string values under keys of up to 64 characters.",
                           param="metadata", code="invalid_value")  # fmt: skip
        started = time.time()
        now, deadline = int(started), started + self.settings.batch_window_seconds
        public: dict[str, Any] = {
            "id": "batch_" + new_id(), "object": "batch", "endpoint": endpoint, "errors": None,
            "input_file_id": input_file_id, "completion_window": "24h", "status": "validating",
            "output_file_id": None, "error_file_id": None, "created_at": now, "in_progress_at": None,
            "expires_at": math.ceil(deadline), "finalizing_at": None,
            "completed_at": None, "failed_at": None, "expired_at": None, "cancelling_at": None,
            "cancelled_at": None, "request_counts": {"total": 0, "completed": 0, "failed": 0},
            "metadata": metadata,
        }  # fmt: skip
        if isinstance(body.get("webhook_url"), str):
            public["webhook_url"] = body["webhook_url"]
        batch = Batch(public["id"], tenant, public, deadline=deadline)
        self.batches[batch.id] = batch
        self._save(batch)
        await self.store.committed()
        self._run(batch)
        return batch

    def get(self, tenant: str, batch_id: str) -> Batch:
        return _owned(self.batches.get(batch_id), tenant, "batch", batch_id)

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
        errors: list[JSONObject] = []
        seen: set[str] = set()
        count = 0
        endpoint = batch.public["endpoint"]
        schemas = schema_set()
        try:
            with self.path(self.files_of(batch)).open("rb") as lines:
                for number, line in enumerate(lines, 1):
                    if number % 500 == 0:
                        await asyncio.sleep(0)  # a large file must not stall the other requests
                    if not line.strip():
                        continue
                    count += 1
                    problem = _line_problem(line, endpoint, seen, schemas)
                    if problem is not None and len(errors) < _ERRORS_KEPT:
                        errors.append({"code": problem[0], "message": problem[1], "param": None, "line": number})
        except (KeyError, OSError) as exc:
            errors.append({"code": "file_unreadable", "message": f"The input file cannot be read: {exc}",
                           "param": "input_file_id", "line": None})  # fmt: skip
        if not errors and count == 0:
            errors.append({"code": "empty_file", "message": "The input file holds no request.", "param": None,
                           "line": None})  # fmt: skip
        if count > self.settings.max_batch_lines:
            errors.append({"code": "too_many_requests", "param": None, "line": None,
                           "message": f"A batch holds at most {self.settings.max_batch_lines} requests, "
                           f"this file {count}."})  # fmt: skip
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
                kind = _kind(item, batch.public["endpoint"])
                generation = self.engine.new_generation(new_id(), batch.tenant, kind, item["body"])
                generation.group_id = batch.id
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
        batch = self.batches.get(generation.group_id or "")
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

    async def _finish(self, batch: Batch, status: str) -> None:
        """Write the output and error files, then the final status; what never ran goes to the error file."""
        unfinished = CANCELLED if status == "cancelled" else EXPIRED
        if status == "expired":
            for generation_id in list(batch.in_flight):
                self.engine.withdraw(generation_id, EXPIRED)
        code = "batch_cancelled" if status == "cancelled" else "batch_expired"
        output, errors = _Writer(self, batch, "output"), _Writer(self, batch, "error")
        for number, (custom_id, state, message, response) in enumerate(self._results(batch)):
            if number % 2000 == 0:
                await asyncio.sleep(0)
            if state == "Success":
                output.line(custom_id, {"status_code": 200, "request_id": request_id(), "body": response})
            elif state not in ("Success", "Failed") or message == unfinished:
                errors.line(custom_id, None, {"code": code, "message": unfinished})
            elif message == REFUSED:
                body = {"error": {"message": message, "type": "invalid_request_error", "param": None,
                                  "code": "invalid_request"}}  # fmt: skip
                errors.line(custom_id, {"status_code": 400, "request_id": request_id(), "body": body})
            else:
                body = {"error": {"message": message, "type": "server_error", "param": None,
                                  "code": "generation_failed"}}  # fmt: skip
                errors.line(custom_id, {"status_code": 500, "request_id": request_id(), "body": body})
        for custom_id in self._never_read(batch):
            errors.line(custom_id, None, {"code": code, "message": unfinished})
        values = {"output_file_id": output.close(), "error_file_id": errors.close()}
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


class _Writer:
    """One output or error file of a batch, created on its first line."""

    def __init__(self, batches: Batches, batch: Batch, part: str) -> None:
        self.batches, self.batch, self.part = batches, batch, part
        self.file_id = "file-" + new_id()
        self.count = 0
        self._out: Any = None

    def line(self, custom_id: str, response: JSONObject | None, error: JSONObject | None = None) -> None:
        if self._out is None:
            self._out = (self.batches.folder / self.file_id).open("wb")
        record = {"id": "batch_req_" + new_id(), "custom_id": custom_id, "response": response, "error": error}
        self._out.write(_json.dumps(record) + b"\n")
        self.count += 1

    def close(self) -> str | None:
        if self._out is None:
            return None
        size = self._out.tell()
        self._out.close()
        stored = StoredFile(self.file_id, self.batch.tenant, "batch_output",
                            f"{self.batch.id}_{self.part}.jsonl", size, int(time.time()))  # fmt: skip
        self.batches.files[stored.id] = stored
        self.batches.store.put_file(stored.record())
        return stored.id


_Owned = TypeVar("_Owned", StoredFile, Batch)


def _owned(found: _Owned | None, tenant: str, what: str, given: str) -> _Owned:
    """A tenant's file or batch; another tenant's is as unknown as a missing one (404)."""
    if found is None or found.tenant != tenant:
        raise ApiError(404, f"No {what} found with id {excerpt(given)}.", param=f"{what}_id", code="not_found")
    return found


def _kind(item: JSONObject, endpoint: str) -> Kind:
    url = item.get("url")
    return ENDPOINTS[url] if isinstance(url, str) else ENDPOINTS[endpoint]


def _line_problem(line: bytes, endpoint: str, seen: set[str], schemas: Any) -> tuple[str, str] | None:
    """Why one input line cannot run in this batch (code, message), or None."""
    try:
        item = _json.loads(line)
    except ValueError as exc:
        return "invalid_json_line", f"The line is not JSON: {str(exc).splitlines()[0][:120]}"
    if not schemas.is_valid("batch-request-line", item):  # the compiled validator; readable errors only if needed
        errors = schemas.errors("batch-request-line", item)
        return "invalid_request", f"The line is not a valid request: {errors[0] if errors else 'invalid'}"
    url = item.get("url")
    if url is not None and url != endpoint:
        return "mismatched_url", f"The line's url {excerpt(url)} is not the batch's endpoint {endpoint}."
    body = item["body"]
    if url is None and not any(key in body and kind == ENDPOINTS[endpoint] for key, kind in _KIND_KEYS):
        return "mismatched_body", f"The line's body is not a request for the batch's endpoint {endpoint}."
    if ENDPOINTS[endpoint] == "embedding" and generator.numbers(body) > generator.MAX_NUMBERS:
        return "too_large", f"The mock answers at most {generator.MAX_NUMBERS:,} numbers a request."
    if item["custom_id"] in seen:
        return "duplicate_custom_id", f"custom_id {excerpt(item['custom_id'])} is used by an earlier line."
    seen.add(item["custom_id"])
    return None


def _is_metadata(value: Any) -> bool:
    """OpenAI's Metadata: up to 16 string values, keys of up to 64 characters and values of up to 512."""
    return (
        isinstance(value, dict)
        and len(value) <= 16
        and all(isinstance(v, str) and len(k) <= 64 and len(v) <= 512 for k, v in value.items())
    )
