"""The suite's batches: a file of chat lines uploaded, a batch created on it, read until it ends (or the wait
or its polls run out), its result files read once. One batch of three lines is made before the immediate rules
run, so that it progresses meanwhile (``share("batch")``), and written to the ledger for a later ``--resume``.

Requests go to ``--batch-base-url`` (absolute URLs through the same :class:`Target`, paced by that host's own
pacer); inference.net takes one upload a minute there."""

from __future__ import annotations

import json
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

import httpx

from slowcheck import api
from slowcheck.contract.budget import share
from slowcheck.contract.lifecycle import write_ledger
from slowcheck.contract.polling import sweep, sweeps_within
from slowcheck.contract.target import Exchange, Target
from slowcheck.findings import NotRun, Violation
from slowcheck.hints import hint_seconds
from slowcheck.pacing import Pacer
from slowcheck.target_url import is_loopback

__all__ = [
    "ENDPOINT", "LINES", "WatchedBatch", "content", "create", "finished", "lines", "made", "skipped", "upload", "url",
    "watch",
]  # fmt: skip

ENDPOINT = api.BATCH_URL["chat"]
"""What the suite's batch lines ask for: chat completions."""
LINES = 3
"""Lines of the suite's batch."""


@dataclass(slots=True)
class WatchedBatch:
    """A batch the suite made: its file, the create answer, every read of it since, and its result files."""

    custom_ids: list[str]
    size: int
    """Bytes uploaded."""
    upload: Exchange
    created: Exchange
    since: float = field(default_factory=time.monotonic)
    """When it was created (monotonic): its wait runs from there."""
    reads: list[dict[str, Any]] = field(default_factory=list)
    output: list[Any] = field(default_factory=list)
    errors: list[Any] = field(default_factory=list)

    @property
    def id(self) -> str:
        return str(self.created.json["id"])

    @property
    def final(self) -> dict[str, Any] | None:
        last = self.reads[-1] if self.reads else None
        return last if last is not None and last.get("status") in api.BATCH_TERMINAL else None


def skipped(target: Target) -> str | None:
    """Why the batch rules cannot run: no batch host."""
    if target.batch_root is None:
        return "no --batch-base-url (inference.net serves batches from https://batch.inference.net/v1)"
    return None


def url(target: Target, path: str) -> str:
    return f"{target.batch_root}{path}"


share("batch", "a batch of 3 (upload, create, its output and error files)", floor=lambda target: 4,
      prepare=lambda target: None if skipped(target) else made(target))  # fmt: skip
share(
    "batch-polls",
    "reads of the batch",
    floor=lambda target: 2,
    full=lambda target: sweeps_within(max(target.completion_timeout, 5.0)),
    pool="batch",
)


def lines(target: Target, tag: str, count: int) -> tuple[list[str], bytes]:
    custom_ids = [f"slowcheck-{tag}-{i}" for i in range(count)]
    body = b"".join(
        json.dumps({"custom_id": c, "method": "POST", "url": ENDPOINT, "body": target.chat()}).encode() + b"\n"
        for c in custom_ids
    )
    return custom_ids, body


def upload(target: Target, content: bytes, name: str = "slowcheck.jsonl") -> Exchange:
    """``POST /v1/files`` as the SDKs send it: multipart, the file and ``purpose=batch``."""
    if target.batch_root is not None and not is_loopback(target.batch_root):
        # inference.net takes one batch file upload a minute: the rules' three uploads are spaced by it.
        target.session.once("upload-pacer", lambda: Pacer(api.UPLOADS_PER_MINUTE)).wait()
    form = httpx.Request("POST", "http://x", files={"file": (name, content)}, data={"purpose": "batch"})
    multipart = {"Content-Type": form.headers["content-type"]}
    exchange = target.request("POST", url(target, api.FILES), content=form.read(), headers=multipart)
    exchange.body = f"<multipart: {name}, {len(content)} bytes, purpose=batch>"
    if exchange.status == 404:
        raise NotRun(f"the target has no files API (404 on POST {api.FILES}): is --batch-base-url the batch host?")
    if exchange.status != 200 or not isinstance(exchange.json, dict) or not isinstance(exchange.json.get("id"), str):
        raise Violation(f"uploading a batch file answered {exchange.status} without a file id", **exchange.summary())
    return exchange


def create(target: Target, file_id: str, **extra: Any) -> Exchange:
    body = {"input_file_id": file_id, "endpoint": ENDPOINT, "completion_window": "24h"} | extra
    exchange = target.request("POST", url(target, api.BATCHES), json=body)
    if exchange.status != 200 or not isinstance(exchange.json, dict) or not isinstance(exchange.json.get("id"), str):
        raise Violation(f"creating a batch answered {exchange.status} without a batch id", **exchange.summary())
    return exchange


def made(target: Target) -> WatchedBatch:
    """The suite's batch, uploaded and created once."""

    def make() -> WatchedBatch:
        if target.session.resume_batch is not None:
            return _from_ledger(target.session.resume_batch)
        tag = uuid.uuid4().hex[:10]
        custom_ids, content = lines(target, tag, LINES)
        uploaded = upload(target, content)
        created = create(target, uploaded.json["id"], metadata={"slowcheck": tag})
        target.session.batch = {"root": target.batch_root, "custom_ids": custom_ids, "size": len(content),
                                        "file": uploaded.json, "created": created.json}  # fmt: skip
        if target.session.ledger is not None:
            write_ledger(target.session.ledger, target)
        return WatchedBatch(custom_ids, len(content), uploaded, created, reads=[created.json])

    return target.session.once("batch", make)


def _from_ledger(entry: dict[str, Any]) -> WatchedBatch:
    """The batch an earlier run made, as the ledger kept it; its wait runs from now."""

    def answered(path: str, document: dict[str, Any]) -> Exchange:
        return Exchange("POST", path, "<from the ledger>", 200, {}, json.dumps(document), 0.0, document)

    created = answered(api.BATCHES, entry["created"])
    return WatchedBatch(entry["custom_ids"], entry["size"], answered(api.FILES, entry["file"]), created, reads=[])


def watch(target: Target, batch: WatchedBatch, *, pool: str | None, polls: int | None = None) -> str:
    """Read the batch until terminal, ``--completion-timeout`` after its creation, or its polls are spent."""
    deadline = batch.since + target.completion_timeout

    def read(_: str) -> tuple[bool, float | None]:
        exchange = target.request("GET", url(target, f"{api.BATCHES}/{batch.id}"))
        if exchange.status != 200 or not isinstance(exchange.json, dict):
            raise Violation(f"reading the batch answered {exchange.status}", **exchange.summary())
        batch.reads.append(exchange.json)
        return exchange.json.get("status") in api.BATCH_TERMINAL, hint_seconds(exchange.headers)

    if batch.final is not None:
        return "finished"
    # As the pools' reserves: a cap only when the run has a budget (else the server's hints set the pace).
    reserve = target.session.reserve(pool) if pool is not None else (polls if target.max_requests is not None else None)
    ending, _ = sweep([batch.id], read, deadline=deadline, reserve=reserve)
    return ending


def finished(target: Target) -> WatchedBatch:
    """The suite's batch, read until it ended (or the wait or the polls ran out), its files read once."""
    batch = made(target)

    def wait() -> str:
        ending = watch(target, batch, pool="batch")
        final = batch.final
        if final is not None:
            batch.output = content(target, final.get("output_file_id"))
            batch.errors = content(target, final.get("error_file_id"))
        return ending

    ending = target.session.once("batch-finished", wait)
    if batch.final is None:
        why = "its share of the budget was spent" if ending == "reserve" else f"{target.completion_timeout:g} s"
        raise NotRun(f"the batch had not ended after {why} (batches may take up to 24 h: raise the timeout)")
    return batch


def content(target: Target, file_id: Any) -> list[Any]:
    """A result file's lines, parsed (a line that is not JSON is kept as its text)."""
    if not isinstance(file_id, str):
        return []
    exchange = target.request("GET", url(target, f"{api.FILES}/{file_id}/content"), judged_here=True)
    if exchange.status != 200:
        raise Violation(f"reading the batch's file {file_id} answered {exchange.status}", **exchange.summary())
    parsed: list[Any] = []
    for line in exchange.text.splitlines():
        if line.strip():
            try:
                parsed.append(json.loads(line))
            except ValueError:
                parsed.append(line)
    return parsed
