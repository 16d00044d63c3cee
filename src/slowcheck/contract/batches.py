"""Rules about the Batch API (OpenAI's files + batches, as inference.net documents them).

One batch of three chat lines is uploaded and created before the immediate rules run, so that it progresses
meanwhile; it is then polled until terminal or until ``--completion-timeout`` after its creation, and every
read is kept. Its output and error files are read once. A second file, with a repeated ``custom_id``, must
fail its validation; a third batch is cancelled as soon as it exists.
"""

from __future__ import annotations

import functools
import json
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import httpx

from slowcheck import api
from slowcheck.contract.budget import share
from slowcheck.contract.lifecycle import write_ledger
from slowcheck.contract.polling import sweep, sweeps_within
from slowcheck.contract.rules import NotRun, Violation, rule, worst_of
from slowcheck.contract.target import Exchange, Target
from slowcheck.hints import hint_seconds
from slowcheck.pacing import Pacer
from slowcheck.target_url import is_loopback

FILES, BATCHES = api.FILES, api.BATCHES
ENDPOINT = "/v1/chat/completions"
_LINES = 3
_RANK = {"validating": 0, "in_progress": 1, "finalizing": 2, "cancelling": 2,
         "completed": 3, "failed": 3, "expired": 3, "cancelled": 3}  # fmt: skip
_TERMINAL = api.BATCH_TERMINAL
_STAMP_ORDER = ("created_at", "in_progress_at", "finalizing_at", "completed_at")
_SIDE_POLLS = 4
"""Reads of the bad-file and the cancelled batch: each should settle within a few."""


@dataclass(slots=True)
class Watched:
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
        return last if last is not None and last.get("status") in _TERMINAL else None


FIRST_PHASE = frozenset({"BATCH-FILE", "BATCH-CREATE", "BATCH-LIST", "BATCH-ISOLATION"})
"""Rules judged when the batch is made; with ``--resume`` the others read the batch the ledger names."""


def _skipped(target: Target) -> str | None:
    if target.batch_root is None:
        return "no --batch-base-url (inference.net serves batches from https://batch.inference.net/v1)"
    return None


def _not_awaited(target: Target) -> str | None:
    """Why a rule that needs the suite's batch ended is skipped: no batch API, or a first phase."""
    if target.completion_timeout <= 0 and target.resume_batch is None:
        where = f"; its id is in {target.ledger}: check it later with --resume" if target.ledger else ""
        return f"--completion-timeout 0: the batch was created, not awaited{where}"
    return _skipped(target)


def _settling(target: Target) -> str | None:
    """Why a rule that makes a batch of its own and waits for it to settle is skipped."""
    if target.completion_timeout <= 0:
        return "--completion-timeout 0: this rule waits for a batch of its own to settle"
    return _skipped(target)


def _url(target: Target, path: str) -> str:
    return f"{target.batch_root}{path}"


share("batch", "a batch of 3 (upload, create, its output and error files)", floor=lambda target: 4,
      prepare=lambda target: None if _skipped(target) else made(target))  # fmt: skip
share(
    "batch-polls",
    "reads of the batch",
    floor=lambda target: 2,
    full=lambda target: sweeps_within(max(target.completion_timeout, 5.0)),
    grant=lambda target, n: target.reserves.__setitem__("batch", n),
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
        target.once("upload-pacer", lambda: Pacer(api.UPLOADS_PER_MINUTE)).wait()
    form = httpx.Request("POST", "http://x", files={"file": (name, content)}, data={"purpose": "batch"})
    multipart = {"Content-Type": form.headers["content-type"]}
    exchange = target.request("POST", _url(target, FILES), content=form.read(), headers=multipart)
    exchange.body = f"<multipart: {name}, {len(content)} bytes, purpose=batch>"
    if exchange.status == 404:
        raise NotRun(f"the target has no files API (404 on POST {FILES}): is --batch-base-url the batch host?")
    if exchange.status != 200 or not isinstance(exchange.json, dict) or not isinstance(exchange.json.get("id"), str):
        raise Violation(f"uploading a batch file answered {exchange.status} without a file id", **exchange.summary())
    return exchange


def create(target: Target, file_id: str, **extra: Any) -> Exchange:
    body = {"input_file_id": file_id, "endpoint": ENDPOINT, "completion_window": "24h"} | extra
    exchange = target.request("POST", _url(target, BATCHES), json=body)
    if exchange.status != 200 or not isinstance(exchange.json, dict) or not isinstance(exchange.json.get("id"), str):
        raise Violation(f"creating a batch answered {exchange.status} without a batch id", **exchange.summary())
    return exchange


def made(target: Target) -> Watched:
    """The suite's batch, uploaded and created once."""

    def make() -> Watched:
        if target.resume_batch is not None:
            return _from_ledger(target.resume_batch)
        tag = uuid.uuid4().hex[:10]
        custom_ids, content = lines(target, tag, _LINES)
        uploaded = upload(target, content)
        created = create(target, uploaded.json["id"], metadata={"slowcheck": tag})
        target.cache["ledger-batch"] = {"root": target.batch_root, "custom_ids": custom_ids, "size": len(content),
                                        "file": uploaded.json, "created": created.json}  # fmt: skip
        if target.ledger is not None:
            write_ledger(target.ledger, target)
        return Watched(custom_ids, len(content), uploaded, created, reads=[created.json])

    return target.once("batch", make)


def _from_ledger(entry: dict[str, Any]) -> Watched:
    """The batch an earlier run made, as the ledger kept it; its wait runs from now."""

    def answered(path: str, document: dict[str, Any]) -> Exchange:
        return Exchange("POST", path, "<from the ledger>", 200, {}, json.dumps(document), 0.0, document)

    created = answered(BATCHES, entry["created"])
    return Watched(entry["custom_ids"], entry["size"], answered(FILES, entry["file"]), created, reads=[])


def watch(target: Target, batch: Watched, *, pool: str | None, polls: int | None = None) -> str:
    """Read the batch until terminal, ``--completion-timeout`` after its creation, or its polls are spent."""
    deadline = batch.since + target.completion_timeout

    def read(_: str) -> tuple[bool, float | None]:
        exchange = target.request("GET", _url(target, f"{BATCHES}/{batch.id}"))
        if exchange.status != 200 or not isinstance(exchange.json, dict):
            raise Violation(f"reading the batch answered {exchange.status}", **exchange.summary())
        batch.reads.append(exchange.json)
        return exchange.json.get("status") in _TERMINAL, hint_seconds(exchange.headers)

    if batch.final is not None:
        return "finished"
    # As the pools' reserves: a cap only when the run has a budget (else the server's hints set the pace).
    reserve = target.reserve(pool) if pool is not None else (polls if target.max_requests is not None else None)
    ending, _ = sweep([batch.id], read, deadline=deadline, reserve=reserve)
    return ending


def finished(target: Target) -> Watched:
    """The suite's batch, read until it ended (or the wait or the polls ran out), its files read once."""
    batch = made(target)

    def wait() -> str:
        ending = watch(target, batch, pool="batch")
        final = batch.final
        if final is not None:
            batch.output = content(target, final.get("output_file_id"))
            batch.errors = content(target, final.get("error_file_id"))
        return ending

    ending = target.once("batch-finished", wait)
    if batch.final is None:
        why = "its share of the budget was spent" if ending == "reserve" else f"{target.completion_timeout:g} s"
        raise NotRun(f"the batch had not ended after {why} (batches may take up to 24 h: raise the timeout)")
    return batch


def content(target: Target, file_id: Any) -> list[Any]:
    """A result file's lines, parsed (a line that is not JSON is kept as its text)."""
    if not isinstance(file_id, str):
        return []
    exchange = target.request("GET", _url(target, f"{FILES}/{file_id}/content"), judged_here=True)
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


@rule(
    "BATCH-FILE",
    "batch",
    "An uploaded batch file answers a file object: purpose batch, its size in bytes, retrievable by id.",
    source="documented",
    cost=1,
    uses=("batch",),
    skip=_skipped,
)
def batch_file(target: Target) -> None:
    batch = made(target)
    uploaded, size = batch.upload, batch.size
    errors = target.schemas.errors("file", uploaded.json)
    if errors:
        raise Violation(f"the upload's answer is not a file object: {errors[0]}", **uploaded.summary())
    if uploaded.json["purpose"] != "batch" or uploaded.json["bytes"] != size:
        raise Violation(f"the file says purpose {uploaded.json['purpose']!r} and {uploaded.json['bytes']} bytes; "
                        f"batch and {size} were uploaded", **uploaded.summary())  # fmt: skip
    again = target.request("GET", _url(target, f"{FILES}/{uploaded.json['id']}"))
    if again.status != 200 or not isinstance(again.json, dict) or again.json.get("id") != uploaded.json["id"]:
        raise Violation(f"GET {FILES}/{{id}} of the uploaded file answered {again.status}", **again.summary())


@rule(
    "BATCH-CREATE",
    "batch",
    "Creating a batch answers a batch object echoing input_file_id, endpoint, completion_window and metadata.",
    source="documented",
    uses=("batch",),
    skip=_skipped,
)
def batch_create(target: Target) -> None:
    batch = made(target)
    answer, sent = batch.created.json, batch.created.body
    errors = target.schemas.errors("batch", answer)
    if errors:
        raise Violation(f"the create answer is not a batch object: {errors[0]}", **batch.created.summary())
    for key in ("input_file_id", "endpoint", "completion_window", "metadata"):
        if answer.get(key) != sent[key]:
            raise Violation(f"{key} {answer.get(key)!r} is not the {sent[key]!r} sent", **batch.created.summary())


@rule(
    "BATCH-STATUS-ORDER",
    "batch",
    "A batch's status only moves forward to a terminal one, each read carrying the timestamps of its status.",
    source="documented",
    uses=("batch", "batch-polls"),
    skip=_not_awaited,
)
def batch_status_order(target: Target) -> None:
    batch = made(target)
    try:
        finished(target)
    finally:
        _judge_reads(target, batch)


def _judge_reads(target: Target, batch: Watched) -> None:
    previous: dict[str, Any] | None = None
    for read in batch.reads:
        errors = target.schemas.errors("batch", read)
        if errors:
            raise Violation(f"a read in status {read.get('status')!r} is not a valid batch: {errors[0]}", response=read)
        if previous is not None and _RANK[read["status"]] < _RANK[previous["status"]]:
            raise Violation(f"the status went back from {previous['status']} to {read['status']}", response=read)
        if previous is not None and previous["status"] in _TERMINAL and read["status"] != previous["status"]:
            raise Violation(f"the status left {previous['status']} for {read['status']}", response=read)
        stamps = [read[s] for s in _STAMP_ORDER if read.get(s) is not None]
        if stamps != sorted(stamps):
            raise Violation(f"timestamps out of order: {dict(zip(_STAMP_ORDER, stamps, strict=False))}", response=read)
        previous = read


@rule(
    "BATCH-COUNTS",
    "batch",
    "request_counts never count more than total, and a completed batch counts every line once.",
    source="documented",
    uses=("batch", "batch-polls"),
    skip=_not_awaited,
)
def batch_counts(target: Target) -> None:
    batch = made(target)
    try:
        finished(target)
    finally:
        for read in batch.reads:
            counts = read.get("request_counts")
            if isinstance(counts, dict) and counts.get("completed", 0) + counts.get("failed", 0) > counts.get(
                "total", 0
            ):
                raise Violation(f"request_counts {counts} count more than the total", response=read)
    final = batch.final
    assert final is not None
    counts = final.get("request_counts") or {}
    if final["status"] == "completed" and (
        counts.get("total") != _LINES or counts.get("completed", 0) + counts.get("failed", 0) != _LINES
    ):
        raise Violation(f"a completed batch of {_LINES} lines counts {counts}", response=final)


@rule(
    "BATCH-EACH-ONCE",
    "batch",
    "Every custom_id of the input is answered exactly once across the output and error files.",
    source="documented",
    uses=("batch", "batch-polls"),
    skip=_not_awaited,
)
def batch_each_once(target: Target) -> None:
    batch = finished(target)
    answered = Counter(line.get("custom_id") for line in batch.output + batch.errors if isinstance(line, dict))
    expected = set(batch.custom_ids)
    twice = sorted(c for c, n in answered.items() if n > 1 and c in expected)
    missing = sorted(expected - set(answered))
    strangers = sorted(str(c) for c in set(answered) - expected)
    if batch.final is not None and batch.final["status"] == "completed" and missing:
        raise Violation(f"custom_ids never answered: {missing}", response=batch.final)
    if twice or strangers:
        what = f"answered twice: {twice}" if twice else f"answers for custom_ids never sent: {strangers[:5]}"
        raise Violation(what, response=batch.final)


@rule(
    "BATCH-OUTPUT-LINES",
    "batch",
    "Output and error lines validate, and a 2xx line's body is what the endpoint answers (a chat.completion).",
    source="documented",
    uses=("batch", "batch-polls"),
    skip=_not_awaited,
)
def batch_output_lines(target: Target) -> None:
    batch = finished(target)
    for line in batch.output + batch.errors:
        errors = target.schemas.errors("batch-output-line", line)
        if errors:
            raise Violation(f"a result line is not valid: {errors[0]}", response=line)
        response = line.get("response") or {}
        if 200 <= response.get("status_code", 0) < 300 and response["body"].get("object") != "chat.completion":
            raise Violation(f"a 2xx line of {ENDPOINT} carries a {response['body'].get('object')!r}", response=line)


@rule(
    "BATCH-BAD-FILE",
    "batch",
    "A file repeating a custom_id is refused: the create answers a 4xx, or the batch fails naming the line.",
    source="documented",
    cost=2 + _SIDE_POLLS,
    uses=("batch",),
    skip=_settling,
)
def batch_bad_file(target: Target) -> None:
    tag = uuid.uuid4().hex[:10]
    custom_ids, good = lines(target, tag, 2)
    repeated = good + good.splitlines(keepends=True)[0]  # line 3 repeats line 1's custom_id
    uploaded = upload(target, repeated, "slowcheck-repeated.jsonl")
    body = {"input_file_id": uploaded.json["id"], "endpoint": ENDPOINT, "completion_window": "24h"}
    answer = target.request("POST", _url(target, BATCHES), json=body)
    if 400 <= answer.status < 500:
        target.expect_error(answer, "a batch of a file with a repeated custom_id")
        return
    if answer.status != 200 or not isinstance(answer.json, dict) or "id" not in answer.json:
        raise Violation(f"creating a batch answered {answer.status}", **answer.summary())
    batch = Watched(custom_ids, len(repeated), uploaded, answer, reads=[answer.json])
    watch(target, batch, pool=None, polls=_SIDE_POLLS)
    final = batch.final
    if final is None:
        raise NotRun(f"the batch of a bad file was still {batch.reads[-1].get('status')} when its reads ended")
    data = (final.get("errors") or {}).get("data") or []
    if final["status"] != "failed":
        raise Violation(f"a file repeating a custom_id ended {final['status']}, not failed", response=final)
    if not any(isinstance(e, dict) and e.get("line") == 3 for e in data):
        raise Violation("the failed batch's errors do not name line 3, the repeated custom_id", response=final)


@rule(
    "BATCH-CANCEL",
    "batch",
    "Cancelling a running batch answers cancelling (or cancelled), and it ends cancelled with what ran kept.",
    source="documented",
    cost=3 + _SIDE_POLLS,
    uses=("batch",),
    skip=_settling,
)
def batch_cancel(target: Target) -> None:
    tag = uuid.uuid4().hex[:10]
    custom_ids, content_ = lines(target, tag, _LINES)
    uploaded = upload(target, content_, "slowcheck-cancelled.jsonl")
    created = create(target, uploaded.json["id"])
    answer = target.request("POST", _url(target, f"{BATCHES}/{created.json['id']}/cancel"))
    if 400 <= answer.status < 500:
        raise NotRun(f"the cancel answered {answer.status}: the batch may have ended before it arrived")
    if answer.status != 200 or not isinstance(answer.json, dict):
        raise Violation(f"cancelling a batch answered {answer.status}", **answer.summary())
    if answer.json.get("status") not in ("cancelling", "cancelled"):
        raise Violation(f"the cancel answered status {answer.json.get('status')!r}", **answer.summary())
    batch = Watched(custom_ids, len(content_), uploaded, created, reads=[answer.json])
    watch(target, batch, pool=None, polls=_SIDE_POLLS)
    final = batch.final
    if final is None:
        raise NotRun(f"the cancelled batch was still {batch.reads[-1].get('status')} when its reads ended")
    if final["status"] != "cancelled" or final.get("cancelled_at") is None:
        raise Violation(f"a cancelled batch ended {final['status']}", response=final)


@rule(
    "BATCH-LIST",
    "batch",
    "GET /v1/batches pages with after and limit, newest first, with no batch twice and none skipped.",
    source="documented",
    cost=3,
    uses=("batch",),
    skip=_skipped,
)
def batch_list(target: Target) -> None:
    mine = made(target).id
    listed: list[str] = []
    after: str | None = None
    for _ in range(3):
        query = "?limit=1" + (f"&after={after}" if after else "")
        page = target.request("GET", _url(target, BATCHES + query))
        errors = target.schemas.errors("batch-list", page.json)
        if page.status != 200 or errors:
            raise Violation(f"a page of the listing answered {page.status}: {errors[0] if errors else ''}",
                            **page.summary())  # fmt: skip
        ids = [b["id"] for b in page.json["data"]]
        if len(ids) > 1:
            raise Violation(f"limit=1 returned {len(ids)} batches", **page.summary())
        repeated = set(ids) & set(listed)
        if repeated:
            raise Violation(f"batch {sorted(repeated)[0]} listed twice across pages", **page.summary())
        listed += ids
        if not page.json["has_more"] or not ids:
            break
        after = page.json.get("last_id") or ids[-1]
    if mine not in listed and len(listed) < 3:
        raise Violation(f"the listing ended after {len(listed)} batches without {mine}, made during this run")


def _isolation_skipped(target: Target) -> str | None:
    if target.second_api_key is None:
        return "needs --second-api-key (a key of another account)"
    if target.second_key_refused:
        return target.second_key_refused
    return _skipped(target)


@rule(
    "BATCH-ISOLATION",
    "batch",
    "Another account's key can read neither the batch nor its input file (404, not 403 or 200).",
    source="inferred",
    cost=2,
    uses=("batch",),
    deviation="403 (not readable, but its existence shows)",
    skip=_isolation_skipped,
)
def batch_isolation(target: Target) -> None:
    batch = made(target)
    reads = [
        (target.request("GET", _url(target, f"{BATCHES}/{batch.id}"), key=target.second_api_key), "the batch"),
        (target.request("GET", _url(target, f"{FILES}/{batch.upload.json['id']}"), key=target.second_api_key),
         "its input file"),
    ]  # fmt: skip
    for exchange, what in reads:
        if exchange.status // 100 == 2:
            raise Violation(f"--second-api-key read {what} of the first key", **exchange.summary())
    worst_of([functools.partial(target.expect_error, e, f"another account's read of {w}", status=404, lax=True)
              for e, w in reads])  # fmt: skip
