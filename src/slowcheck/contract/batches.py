"""Rules about the Batch API (OpenAI's files + batches, as inference.net documents them).

One batch of three chat lines is uploaded and created before the immediate rules run, so that it progresses
meanwhile; it is then polled until terminal or until ``--completion-timeout`` after its creation, and every
read is kept (``contract/batch_probe.py``). Its output and error files are read once. A second file, with a
repeated ``custom_id``, must fail its validation; a third batch is cancelled as soon as it exists.
"""

from __future__ import annotations

import functools
import uuid
from collections import Counter
from typing import Any

from slowcheck import api
from slowcheck.contract.batch_probe import (
    ENDPOINT,
    LINES,
    WatchedBatch,
    create,
    finished,
    lines,
    made,
    skipped,
    upload,
    url,
    watch,
)
from slowcheck.contract.rules import rule
from slowcheck.contract.target import Target
from slowcheck.findings import NotRun, Violation, worst_of

_RANK: dict[api.BatchStatus, int] = {
    "validating": 0, "in_progress": 1, "finalizing": 2, "cancelling": 2,
    "completed": 3, "failed": 3, "expired": 3, "cancelled": 3,
}  # fmt: skip
"""How far along each status is: a later read never has a lower rank."""
_STAMP_ORDER = ("created_at", "in_progress_at", "finalizing_at", "completed_at")
_SIDE_POLLS = 4
"""Reads of the bad-file and the cancelled batch: each should settle within a few."""


FIRST_PHASE = frozenset({"BATCH-FILE", "BATCH-CREATE", "BATCH-LIST", "BATCH-ISOLATION"})
"""Rules judged when the batch is made; with ``--resume`` the others read the batch the ledger names."""


def _not_awaited(target: Target) -> str | None:
    """Why a rule that needs the suite's batch ended is skipped: no batch API, or a first phase."""
    if target.completion_timeout <= 0 and target.session.resume_batch is None:
        where = f"; its id is in {target.session.ledger}: check it later with --resume" if target.session.ledger else ""
        return f"--completion-timeout 0: the batch was created, not awaited{where}"
    return skipped(target)


def _settling(target: Target) -> str | None:
    """Why a rule that makes a batch of its own and waits for it to settle is skipped."""
    if target.completion_timeout <= 0:
        return "--completion-timeout 0: this rule waits for a batch of its own to settle"
    return skipped(target)


@rule(
    "BATCH-FILE",
    "batch",
    "An uploaded batch file answers a file object: purpose batch, its size in bytes, retrievable by id.",
    source="documented",
    cost=1,
    uses=("batch",),
    skip=skipped,
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
    again = target.request("GET", url(target, f"{api.FILES}/{uploaded.json['id']}"))
    if again.status != 200 or not isinstance(again.json, dict) or again.json.get("id") != uploaded.json["id"]:
        raise Violation(f"GET {api.FILES}/{{id}} of the uploaded file answered {again.status}", **again.summary())


@rule(
    "BATCH-CREATE",
    "batch",
    "Creating a batch answers a batch object echoing input_file_id, endpoint, completion_window and metadata.",
    source="documented",
    uses=("batch",),
    skip=skipped,
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


def _judge_reads(target: Target, batch: WatchedBatch) -> None:
    previous: dict[str, Any] | None = None
    for read in batch.reads:
        errors = target.schemas.errors("batch", read)
        if errors:
            raise Violation(f"a read in status {read.get('status')!r} is not a valid batch: {errors[0]}", response=read)
        if previous is not None and _RANK[read["status"]] < _RANK[previous["status"]]:
            raise Violation(f"the status went back from {previous['status']} to {read['status']}", response=read)
        if previous is not None and previous["status"] in api.BATCH_TERMINAL and read["status"] != previous["status"]:
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
        counts.get("total") != LINES or counts.get("completed", 0) + counts.get("failed", 0) != LINES
    ):
        raise Violation(f"a completed batch of {LINES} lines counts {counts}", response=final)


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
    answer = target.request("POST", url(target, api.BATCHES), json=body)
    if 400 <= answer.status < 500:
        target.expect_error(answer, "a batch of a file with a repeated custom_id")
        return
    if answer.status != 200 or not isinstance(answer.json, dict) or "id" not in answer.json:
        raise Violation(f"creating a batch answered {answer.status}", **answer.summary())
    batch = WatchedBatch(custom_ids, len(repeated), uploaded, answer, reads=[answer.json])
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
    custom_ids, content_ = lines(target, tag, LINES)
    uploaded = upload(target, content_, "slowcheck-cancelled.jsonl")
    created = create(target, uploaded.json["id"])
    answer = target.request("POST", url(target, f"{api.BATCHES}/{created.json['id']}/cancel"))
    if 400 <= answer.status < 500:
        raise NotRun(f"the cancel answered {answer.status}: the batch may have ended before it arrived")
    if answer.status != 200 or not isinstance(answer.json, dict):
        raise Violation(f"cancelling a batch answered {answer.status}", **answer.summary())
    if answer.json.get("status") not in ("cancelling", "cancelled"):
        raise Violation(f"the cancel answered status {answer.json.get('status')!r}", **answer.summary())
    batch = WatchedBatch(custom_ids, len(content_), uploaded, created, reads=[answer.json])
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
    skip=skipped,
)
def batch_list(target: Target) -> None:
    mine = made(target).id
    listed: list[str] = []
    after: str | None = None
    for _ in range(3):
        query = "?limit=1" + (f"&after={after}" if after else "")
        page = target.request("GET", url(target, api.BATCHES + query))
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
    if target.session.second_key_refused:
        return target.session.second_key_refused
    return skipped(target)


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
        (target.request("GET", url(target, f"{api.BATCHES}/{batch.id}"), key=target.second_api_key), "the batch"),
        (target.request("GET", url(target, f"{api.FILES}/{batch.upload.json['id']}"), key=target.second_api_key),
         "its input file"),
    ]  # fmt: skip
    for exchange, what in reads:
        if exchange.status // 100 == 2:
            raise Violation(f"--second-api-key read {what} of the first key", **exchange.summary())
    worst_of([functools.partial(target.expect_error, e, f"another account's read of {w}", status=404, lax=True)
              for e, w in reads])  # fmt: skip
