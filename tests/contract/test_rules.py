"""Every rule holds against the mock, and each one catches a server that breaks it."""

from __future__ import annotations

import argparse
import contextlib
import copy
import dataclasses
import json
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from slowcheck import api
from slowcheck.api import BATCHES, DEFAULT_MODEL
from slowcheck.background import serve_in_background
from slowcheck.cli import main
from slowcheck.contract.access import _UNKNOWN_ID
from slowcheck.contract.batches import FIRST_PHASE
from slowcheck.contract.budget import SHARES
from slowcheck.contract.command import add_arguments as add_contract_arguments, main as contract_main
from slowcheck.contract.embeddings import INPUTS as EMBEDDED_INPUTS
from slowcheck.contract.receiver import Receiver
from slowcheck.contract.rules import RULES, Rule
from slowcheck.contract.runner import Suite, select
from slowcheck.contract.target import Target
from slowcheck.errors import ConfigError
from slowcheck.findings import NotRun, Outcome, Result
from slowcheck.hostile import CASE_HEADER, corpus
from slowcheck.mock import Faults, MockSettings, Span, create_app
from slowcheck.mock.app import DEFAULT_MODELS
from slowcheck.mock.records import Generation
from slowcheck.mock.webhooks import Webhooks
from slowcheck.transient import RetryPolicy
from tests.conftest import fast_mock
from tests.contract.broken import Answer, Broken, Exchange, JsonLines, Mutation

KEYS = ["sk-contract-one-1111", "sk-contract-two-2222"]


def settings(**overrides: Any) -> MockSettings:
    return fast_mock(**({"api_keys": KEYS, "models": list(DEFAULT_MODELS)} | overrides))


BROKEN: dict[Target, Broken] = {}
"""The rewriting wrapper in front of each target a test served, to read the breakage's own crashes."""
SMALL = {"fuzz_examples": 5, "stateful_examples": 1}
QUICK = {"retry": RetryPolicy(first=0.01, cap=0.05), "reread_spacing": 0.05}
"""A broken server's 5xx comes back on every try: the tests try again at once (the tries stay four)."""
"""Generated cases for a whole-catalogue run: enough to meet each breakage, few enough for 2 s a run."""


def _target(url: str, **options: Any) -> Target:
    return Target(url + "/v1", KEYS[0], second_api_key=KEYS[1], batch_base_url=url + "/v1",
                  embedding_model=api.EMBEDDING_MODEL, completion_timeout=3, **QUICK | options)  # fmt: skip


@pytest.fixture
def serve() -> Iterator[Any]:
    def start(mutate: Mutation | None = None, mock: MockSettings | None = None, **options: Any) -> Target:
        app = create_app(mock or settings())
        served = Broken(app, copy.deepcopy(mutate)) if mutate else app  # a stateful breakage starts afresh
        stack.append(serve_in_background(served))
        url = stack[-1].__enter__()
        target = _target(url, **options)
        if isinstance(served, Broken):
            BROKEN[target] = served
        targets.append(target)
        return target

    stack: list[Any] = []
    targets: list[Target] = []
    yield start
    for target in targets:
        target.close()
        BROKEN.pop(target, None)
    for server in reversed(stack):
        server.__exit__(None, None, None)


def judge(target: Target, rule_id: str, *, lenient: tuple[str, ...] = ()) -> Result:
    return Suite(target, [RULES[rule_id]], lenient=lenient).run_one(RULES[rule_id])


def outcome(target: Target, rule_id: str) -> Outcome:
    return judge(target, rule_id).outcome


CLEAN = (Outcome.HELD, Outcome.SKIPPED)


# Breakages that only make an API stricter or laxer than OpenAI's spec: the rule reports a deviation.
DEVIATES = {
    "REQ-FUZZ-POSITIVE",
    "AUTH-WRONG-401",
    "AUTH-ISOLATION",
    "ACK-OBJECT",
    "ACK-FAST",
    "ACK-ID-FORMAT",
    "REQ-PARAM-NAMED",
    "REQ-MALFORMED-400",
    "REQ-UNKNOWN-MODEL",
    "LIFE-LENGTH-AT-LIMIT",
    "LIFE-RESPONSE-MODEL",
    "LIFE-DISPATCHED-AT",
    "GEN-IDEMPOTENT-GET",
}


def is_ack(e: Exchange) -> bool:
    """A single submission's ack (not a group's)."""
    return e.method == "POST" and e.status == 200 and e.path.startswith("/v1/slow/") and "/group/" not in e.path


PLAIN = ({"role": "user", "content": "Say hello."}, "Once upon a time")
"""What ``Target.chat()`` and ``Target.text()`` send: every body the suite writes itself starts from these."""


def _written_by_suite(request: Any) -> bool:
    if not isinstance(request, dict):
        return False
    if request.get("messages") == [PLAIN[0]] or request.get("prompt") == PLAIN[1]:
        return True
    if request.get("input") == EMBEDDED_INPUTS:  # the embedding rules' own body
        return True
    return request.get("model") == DEFAULT_MODEL and request.get("max_tokens") == 8  # a bad body without messages


def is_plain(e: Exchange) -> bool:
    """The suite's plain chat or text body, nothing added: the shared acks of the ACK rules (not the probes,
    the fuzz cases or the generated bodies)."""
    plain = {"model", "messages", "prompt", "max_tokens", "metadata"}  # metadata: the correlation id alone
    tagged = set(e.request.get("metadata", {})) <= {"slowcheck"} if isinstance(e.request, dict) else False
    return _written_by_suite(e.request) and set(e.request) <= plain and tagged


def is_generated(request: Any) -> bool:
    """A body the suite did not write itself: a fuzz case or a LIFE-GENERATED example."""
    return not _written_by_suite(request) and not isinstance(request, str)


def is_record(e: Exchange, state: str | None = None) -> bool:
    """A record of one of the suite's own lifecycle probes (not of a generated body: LIFE-GENERATED has its
    breakage; nor of the embedding: EMBED-RESULT has its own)."""
    return (
        e.path.startswith("/v1/generation/")
        and e.status == 200
        and (state is None or e.body["state"] == state)
        and not is_generated(e.body["request"])
        and "input" not in e.body["request"]
    )


def patch(body: Any, change: Any) -> Any:
    out = copy.deepcopy(body)
    change(out)
    return out


def _dup_ids(e: Exchange) -> tuple[int, Any] | None:
    if is_ack(e) and is_plain(e):
        return 200, e.body | {"id": "dupdupdupdupdupdupdup"}
    return None


class _Regress:
    """The first read of a probe says In Progress, the second Queued again; later reads are the truth."""

    QUEUED = {"state": "Queued", "stateMessage": "Queued", "dispatchedAt": None, "finishedAt": None, "response": None}

    def __init__(self) -> None:
        self.reads: dict[str, int] = {}

    def __call__(self, e: Exchange) -> tuple[int, Any] | None:
        if not is_record(e):
            return None
        self.reads[e.path] = seen = self.reads.get(e.path, 0) + 1
        if seen == 1:
            started = {
                "state": "In Progress",
                "stateMessage": "In Progress",
                "dispatchedAt": "2025-01-01T00:00:00.000Z",
            }
            return 200, e.body | self.QUEUED | started
        if seen == 2:
            return 200, e.body | self.QUEUED
        return None


class _SlowFirstAck:
    """The first plain chat ack (the one the ACK rules share) comes after 2.05 s; the others at once."""

    def __init__(self) -> None:
        self.slowed = False

    def __call__(self, e: Exchange) -> tuple[int, Any, float] | None:
        if self.slowed or not (is_ack(e) and is_plain(e) and "messages" in e.request):
            return None
        self.slowed = True
        return e.status, e.body, 2.05


class _Changing:
    """Terminal records change on every read."""

    def __init__(self) -> None:
        self.reads = 0

    def __call__(self, e: Exchange) -> tuple[int, Any] | None:
        if not is_record(e, "Success"):
            return None
        self.reads += 1
        return 200, e.body | {"stateMessage": f"read {self.reads}"}


def _over_the_limit(record: dict[str, Any]) -> None:
    """999 completion tokens, whatever the limit, each choice stopping on its own (so no length rule is met)."""
    usage = record["response"]["usage"]
    usage.update(completion_tokens=999, total_tokens=usage["prompt_tokens"] + 999)
    for choice in record["response"]["choices"]:
        choice["finish_reason"] = "stop"


def _one_choice(record: dict[str, Any]) -> None:
    """n choices asked, one returned, usage consistent with the one (so only the count is wrong)."""
    response = record["response"]
    if len(response["choices"]) < 2:
        return
    kept = response["choices"][:1]
    kept[0]["finish_reason"] = "stop"  # its own tokens are unknown: no length finish to judge against the limit
    usage = response["usage"]
    usage["completion_tokens"] //= len(response["choices"])
    usage["total_tokens"] = usage["prompt_tokens"] + usage["completion_tokens"]
    response["choices"] = kept


BREAKAGES: list[Any] = [
    pytest.param(
        "AUTH-MISSING-401",
        lambda e: (200, {"id": "x"}) if e.status == 401 and "authorization" not in e.headers else None,
        None,
        id="AUTH-MISSING-401",
    ),
    pytest.param(
        "AUTH-WRONG-401",
        lambda e: (403, e.body) if e.status == 401 and "authorization" in e.headers else None,
        None,
        id="AUTH-WRONG-401",
    ),
    pytest.param(
        "AUTH-ISOLATION",
        lambda e: (
            (403, e.body)
            if e.status == 404 and e.path.startswith("/v1/generation/") and _UNKNOWN_ID not in e.path
            else None
        ),
        None,
        id="AUTH-ISOLATION",
    ),
    pytest.param(
        "GEN-UNKNOWN-404",
        lambda e: (404, {"detail": "Not Found"}) if _UNKNOWN_ID in e.path else None,
        None,
        id="GEN-UNKNOWN-404",
    ),
    pytest.param(
        "ACK-SHAPE",
        lambda e: (
            (200, {k: v for k, v in e.body.items() if k != "created"})
            if is_ack(e) and is_plain(e) and e.path.endswith("/slow/completions")
            else None
        ),
        None,
        id="ACK-SHAPE",
    ),
    pytest.param(
        "ACK-CREATED-MS",
        lambda e: (200, e.body | {"created": e.body["created"] // 1000}) if is_ack(e) and is_plain(e) else None,
        None,
        id="ACK-CREATED-MS",
    ),
    pytest.param(
        "ACK-CHOICES-EMPTY",
        lambda e: (200, e.body | {"choices": [{"index": 0}]}) if is_ack(e) and is_plain(e) else None,
        None,
        id="ACK-CHOICES-EMPTY",
    ),
    pytest.param(
        "ACK-MODEL-ECHO",
        lambda e: (200, e.body | {"model": "some/other"}) if is_ack(e) else None,
        None,
        id="ACK-MODEL-ECHO",
    ),
    pytest.param(
        "ACK-OBJECT",
        lambda e: (
            (200, e.body | {"object": "chat.completion"})
            if is_ack(e) and e.path.endswith("/slow/completions")
            else None
        ),
        None,
        id="ACK-OBJECT",
    ),
    pytest.param("ACK-ID-UNIQUE", _dup_ids, None, id="ACK-ID-UNIQUE"),
    pytest.param("ACK-FAST", _SlowFirstAck(), None, id="ACK-FAST"),
    pytest.param("LIFE-FINISHES", None, settings(faults=Faults(stuck_ratio=1.0)), id="LIFE-FINISHES"),
    pytest.param(
        "LIFE-STATES-FORWARD",
        _Regress(),
        None,
        id="LIFE-STATES-FORWARD",
    ),
    pytest.param(
        "LIFE-RECORD-SCHEMA",
        lambda e: (
            (200, patch(e.body, lambda b: b["response"].update(object="chat.completion.chunk")))
            if is_record(e, "Success") and "messages" in e.body["request"]
            else None
        ),
        None,
        id="LIFE-RECORD-SCHEMA",
    ),
    pytest.param(
        "LIFE-REQUEST-ECHO",
        lambda e: (200, patch(e.body, lambda b: b["request"].pop("metadata", None))) if is_record(e) else None,
        None,
        id="LIFE-REQUEST-ECHO",
    ),
    pytest.param(
        "LIFE-RESPONSE-ID",
        lambda e: (
            (200, patch(e.body, lambda b: b["response"].update(id="chatcmpl-1"))) if is_record(e, "Success") else None
        ),
        None,
        id="LIFE-RESPONSE-ID",
    ),
    pytest.param(
        "LIFE-CHOICES-N",
        lambda e: (200, patch(e.body, _one_choice)) if is_record(e, "Success") else None,
        None,
        id="LIFE-CHOICES-N",
    ),
    pytest.param(
        "LIFE-USAGE-SUM",
        lambda e: (
            (
                200,
                patch(
                    e.body,
                    lambda b: b["response"]["usage"].update(total_tokens=b["response"]["usage"]["total_tokens"] + 1),
                ),
            )
            if is_record(e, "Success")
            else None
        ),
        None,
        id="LIFE-USAGE-SUM",
    ),
    pytest.param(
        "LIFE-TOKEN-LIMIT",
        lambda e: (
            (200, patch(e.body, _over_the_limit))
            if is_record(e, "Success") and "tools" not in e.body["request"]
            else None
        ),
        None,
        id="LIFE-TOKEN-LIMIT",
    ),
    pytest.param(
        "LIFE-FINISH-REASON",
        lambda e: (
            (200, patch(e.body, lambda b: [c.update(finish_reason="eos") for c in b["response"]["choices"]]))
            if is_record(e, "Success") and "tools" not in e.body["request"]
            else None
        ),
        None,
        id="LIFE-FINISH-REASON",
    ),
    pytest.param(
        "LIFE-TIMESTAMPS",
        lambda e: (200, e.body | {"finishedAt": "2001-01-01T00:00:00.000Z"}) if is_record(e, "Success") else None,
        None,
        id="LIFE-TIMESTAMPS",
    ),
    pytest.param(
        "REQ-INVALID-4XX",
        lambda e: (
            (500, e.body)
            if e.status == 400 and isinstance(e.request, dict) and e.request.get("temperature") == 3
            else None
        ),
        None,
        id="REQ-INVALID-4XX",
    ),
    pytest.param(
        "REQ-PARAM-NAMED",
        lambda e: (
            (400, patch(e.body, lambda b: b["error"].update(param=None)))
            if e.status == 400 and isinstance(e.request, dict) and e.request.get("stream") is not True
            else None
        ),
        None,
        id="REQ-PARAM-NAMED",
    ),
    pytest.param(
        "REQ-MALFORMED-400",
        lambda e: (422, e.body) if e.status == 400 and isinstance(e.request, str) else None,
        None,
        id="REQ-MALFORMED-400",
    ),
    pytest.param(
        "REQ-STREAM-REFUSED",
        lambda e: (
            (200, {"id": "x", "object": "chat.completion", "created": 1, "model": "m", "choices": []})
            if e.status == 400 and isinstance(e.request, dict) and e.request.get("stream") is True
            else None
        ),
        None,
        id="REQ-STREAM-REFUSED",
    ),
    pytest.param(
        "GROUP-ACK",
        lambda e: (
            (200, e.body | {"groupSize": 1}) if e.path.endswith("/group/chat/completions") and e.status == 200 else None
        ),
        None,
        id="GROUP-ACK",
    ),
    pytest.param(
        "GROUP-LISTING",
        lambda e: (
            (200, {"generations": e.body["generations"][:2]})
            if e.path.endswith("/generations") and e.status == 200
            else None
        ),
        None,
        id="GROUP-LISTING",
    ),
    pytest.param(
        "GROUP-LIMIT-50",
        lambda e: (
            (200, {"groupId": "g", "groupSize": 51})
            if e.path.endswith("/group/chat/completions") and e.status == 400 and len(e.request["requests"]) > 50
            else None
        ),
        None,
        id="GROUP-LIMIT-50",
    ),
    pytest.param(
        "GROUP-NO-MIXING",
        lambda e: (
            (200, {"groupId": "g", "groupSize": 2})
            if e.path.endswith("/group/chat/completions")
            and e.status == 400
            and any("prompt" in r for r in e.request["requests"])
            else None
        ),
        None,
        id="GROUP-NO-MIXING",
    ),
    pytest.param(
        "RATE-429-SHAPE",
        lambda e: (429, {"detail": "slow down"}) if e.status == 429 else None,
        settings(submit_rate=20, submit_burst=20),
        id="RATE-429-SHAPE",
    ),
    pytest.param(
        "LIFE-LENGTH-AT-LIMIT",
        lambda e: (
            (200, patch(e.body, lambda b: [c.update(finish_reason="length") for c in b["response"]["choices"]]))
            if is_record(e, "Success")
            and "tools" not in e.body["request"]
            and e.body["response"]["usage"]["completion_tokens"]
            < (e.body["request"].get("max_completion_tokens") or e.body["request"].get("max_tokens") or 0)
            else None
        ),
        None,
        id="LIFE-LENGTH-AT-LIMIT",
    ),
    pytest.param(
        "LIFE-RESPONSE-MODEL",
        lambda e: (
            (200, patch(e.body, lambda b: b["response"].update(model="x/y"))) if is_record(e, "Success") else None
        ),
        None,
        id="LIFE-RESPONSE-MODEL",
    ),
    pytest.param(
        "LIFE-DISPATCHED-AT",
        lambda e: (200, e.body | {"dispatchedAt": None}) if is_record(e, "Success") else None,
        None,
        id="LIFE-DISPATCHED-AT",
    ),
    pytest.param(
        "LIFE-TOOL-CALLS",
        lambda e: (
            (200, patch(e.body, lambda b: [c.update(finish_reason="stop") for c in b["response"]["choices"]]))
            if is_record(e, "Success") and "tools" in e.body["request"]
            else None
        ),
        None,
        id="LIFE-TOOL-CALLS",
    ),
    pytest.param(
        "LIFE-JSON-OUTPUT",
        lambda e: (
            (200, patch(e.body, lambda b: [c["message"].update(content="not json") for c in b["response"]["choices"]]))
            if is_record(e, "Success") and "response_format" in e.body["request"]
            else None
        ),
        None,
        id="LIFE-JSON-OUTPUT",
    ),
    pytest.param("GEN-IDEMPOTENT-GET", _Changing(), None, id="GEN-IDEMPOTENT-GET"),
    pytest.param(
        "RESP-CONTENT-TYPE",
        lambda e: Answer(e.status, e.body, content_type="text/plain; charset=utf-8"),
        None,
        id="RESP-CONTENT-TYPE",
    ),
    pytest.param(
        "REQ-UNKNOWN-MODEL",
        lambda e: (
            (200, {"id": "x" * 21, "object": "chat.completion", "created": 1, "model": "m", "choices": []})
            if e.status == 404 and (e.body.get("error") or {}).get("param") == "model"
            else None
        ),
        None,
        id="REQ-UNKNOWN-MODEL",
    ),
    pytest.param(
        "LIFE-GENERATED",
        lambda e: (
            (200, patch(e.body, lambda b: b["request"].pop(next(iter(b["request"])))))
            if e.path.startswith("/v1/generation/") and e.status == 200 and is_generated(e.body["request"])
            else None
        ),
        None,
        id="LIFE-GENERATED",
    ),
    pytest.param(
        "REQ-FUZZ-NEGATIVE",
        lambda e: (
            (500, e.body)
            if 400 <= e.status < 500  # which 4xx the generated cases meet (400, 401, 404) depends on the draw
            and e.method == "POST"
            and e.path in api.SUBMIT.values()
            and e.request is not None  # a body the server read (a refused key stops before reading it)
            and is_generated(e.request)
            and CASE_HEADER.lower() not in e.headers  # a ROBUST rule's case is hostile, not generated
            else None
        ),
        None,
        id="REQ-FUZZ-NEGATIVE",
    ),
    pytest.param(
        "REQ-FUZZ-POSITIVE",
        lambda e: (
            (400, {"error": {"message": "no", "type": "invalid_request_error", "param": None, "code": None}})
            if is_ack(e) and is_generated(e.request) and len(e.request) > 2
            else None
        ),
        None,
        id="REQ-FUZZ-POSITIVE",
    ),
    pytest.param(
        "ACK-ID-FORMAT",
        lambda e: (200, e.body | {"id": "gen_" + e.body["id"]}) if is_ack(e) and is_plain(e) else None,
        None,
        id="ACK-ID-FORMAT",
    ),
]


def _batch_read(e: Exchange, status: str) -> bool:
    return e.method == "GET" and e.path.startswith("/v1/batches/") and e.body.get("status") == status


def _first_line(lines: JsonLines, **changed: Any) -> JsonLines:
    first = copy.deepcopy(lines[0])
    first["response"]["body"] |= changed
    return JsonLines([first, *lines[1:]])


_STAMPS_OF_COMPLETED = {"in_progress_at": 1, "finalizing_at": 2, "completed_at": 3, "errors": None}
BATCH_BREAKAGES: list[Any] = [
    pytest.param(
        "BATCH-FILE",
        lambda e: (
            (200, e.body | {"bytes": e.body["bytes"] + 1}) if (e.method, e.path) == ("POST", "/v1/files") else None
        ),
        None,
        id="BATCH-FILE",
    ),
    pytest.param(
        "BATCH-CREATE",
        lambda e: (200, e.body | {"metadata": None}) if (e.method, e.path) == ("POST", BATCHES) else None,
        None,
        id="BATCH-CREATE",
    ),
    pytest.param(
        "BATCH-STATUS-ORDER",
        lambda e: (
            (200, {k: v for k, v in e.body.items() if k != "finalizing_at"}) if _batch_read(e, "completed") else None
        ),
        None,
        id="BATCH-STATUS-ORDER",
    ),  # fmt: skip
    pytest.param(
        "BATCH-COUNTS",
        lambda e: (
            (200, e.body | {"request_counts": e.body["request_counts"] | {"completed": 4}})
            if _batch_read(e, "completed")
            else None
        ),
        None,
        id="BATCH-COUNTS",
    ),  # fmt: skip
    pytest.param(
        "BATCH-EACH-ONCE",
        lambda e: (200, JsonLines([*e.body, e.body[0]])) if isinstance(e.body, JsonLines) else None,
        None,
        id="BATCH-EACH-ONCE",
    ),
    pytest.param(
        "BATCH-OUTPUT-LINES",
        lambda e: (200, _first_line(e.body, object="text_completion")) if isinstance(e.body, JsonLines) else None,
        None,
        id="BATCH-OUTPUT-LINES",
    ),
    pytest.param(
        "BATCH-BAD-FILE",
        lambda e: (200, e.body | {"status": "completed"} | _STAMPS_OF_COMPLETED) if _batch_read(e, "failed") else None,
        None,
        id="BATCH-BAD-FILE",
    ),
    pytest.param(
        "BATCH-CANCEL",
        lambda e: (200, e.body | {"status": "in_progress"}) if e.path.endswith("/cancel") else None,
        None,
        id="BATCH-CANCEL",
    ),
    pytest.param(
        "BATCH-LIST",
        lambda e: (
            (200, e.body | {"data": e.body["data"] * 2}) if (e.method, e.path) == ("GET", "/v1/batches") else None
        ),
        None,
        id="BATCH-LIST",
    ),
]
BATCH_BREAKAGES.append(
    pytest.param(
        "BATCH-ISOLATION",
        lambda e: (200, {"id": "batch_x", "object": "batch"}) if e.status == 404 and "/v1/batches/" in e.path else None,
        None,
        id="BATCH-ISOLATION",
    )
)
BREAKAGES += BATCH_BREAKAGES
BREAKAGES += [
    pytest.param(
        "EMBED-ACK",
        lambda e: (200, e.body | {"object": "embedding"}) if e.path == api.EMBEDDINGS and e.status == 200 else None,
        None,
        id="EMBED-ACK",
    ),
    pytest.param(
        "EMBED-RESULT",
        lambda e: (
            (200, e.body | {"response": e.body["response"] | {"data": e.body["response"]["data"][:1]}})
            if e.path.startswith("/v1/generation/") and "input" in e.body.get("request", {}) and e.body["response"]
            else None
        ),
        None,
        id="EMBED-RESULT",
    ),
]


def _robust_breakage(rule_id: str) -> Mutation:
    """Every answer to the rule's hostile cases becomes a 500, as a server that crashes on them sends."""
    ids = {case.id for case in corpus() if case.rule == rule_id}
    crashed = {"error": {"message": "Internal Server Error", "type": "server_error", "param": None, "code": None}}
    return lambda e: (500, crashed) if e.headers.get(CASE_HEADER.lower()) in ids else None


BREAKAGES += [
    pytest.param(rule_id, _robust_breakage(rule_id), None, id=rule_id)
    for rule_id in sorted({case.rule for case in corpus()})
]


def test_every_rule_has_a_breakage() -> None:
    assert sorted(p.values[0] for p in BREAKAGES + HOOK_BREAKAGES) == sorted(RULES)


_SCHEMA_BOUND = "submit-ack.schema.json itself bounds this field, so ACK-SHAPE sees it too"
_STUCK = "every generation is stuck: a rule that reads a finished record is not run (never held)"
_NO_EVENT = "no event arrives, so a rule that reads one is not run (HOOK-DELIVERED reports the loss once)"
OVERLAPS: dict[str, dict[str, str]] = {
    "ACK-CREATED-MS": {"ACK-SHAPE": _SCHEMA_BOUND},
    "ACK-CHOICES-EMPTY": {"ACK-SHAPE": _SCHEMA_BOUND},
    "LIFE-FINISH-REASON": {"LIFE-RECORD-SCHEMA": "the completion schemas carry the same finish_reason enum"},
    "REQ-FUZZ-POSITIVE": {"LIFE-GENERATED": "it submits bodies drawn from the same request schemas"},
    "LIFE-FINISHES": dict.fromkeys(
        (
            "LIFE-RESPONSE-ID",
            "LIFE-CHOICES-N",
            "LIFE-USAGE-SUM",
            "LIFE-TOKEN-LIMIT",
            "LIFE-FINISH-REASON",
            "LIFE-TIMESTAMPS",
            "LIFE-LENGTH-AT-LIMIT",
            "LIFE-RESPONSE-MODEL",
            "LIFE-TOOL-CALLS",
            "LIFE-JSON-OUTPUT",
            "GEN-IDEMPOTENT-GET",
            "EMBED-RESULT",
        ),
        _STUCK,
    )
    | dict.fromkeys(
        ("BATCH-STATUS-ORDER", "BATCH-COUNTS", "BATCH-EACH-ONCE", "BATCH-OUTPUT-LINES"),
        "every generation is stuck, a batch's lines too: no batch ends",
    ),  # fmt: skip
    "HOOK-DELIVERED": dict.fromkeys(
        (
            "HOOK-OPTIONS-FIRST",
            "HOOK-HEADERS",
            "HOOK-PAYLOAD",
            "HOOK-RETRY-5XX",
            "HOOK-NOT-FOR-COMPLETIONS",
            "HOOK-NO-RETRY-4XX",
            "HOOK-ONE-EVENT",
        ),
        _NO_EVENT,
    )
    | {"HOOK-GROUP": "the fault drops every event, the group's too"},  # fmt: skip
}
"""Per breakage, the other rules it breaks too, each with the reason it cannot be otherwise. Every rule not
listed must hold (or be skipped by the configuration) while its neighbour's breakage is in place."""
RACES: dict[str, dict[str, str]] = {
    "LIFE-FINISHES": {
        "BATCH-CANCEL": "a cancel that lands before the lines are dispatched ends the batch (held); one that lands "
        "after waits for stuck lines (not run)"
    },
}
"""Per breakage, rules whose outcome depends on timing: held or not run, never violated."""


def catalogue_against(target: Target, only: set[str] | None = None) -> dict[str, Result]:
    suite = Suite(target, [rule for rule in select() if only is None or rule.id in only])
    suite.prepare()
    return {result.rule.id: result for result in suite.run()}


@dataclasses.dataclass(frozen=True)
class Footprint:
    """The catalogue once against the clean mock: each exchange under what sent it (``preflight``, a share's name
    while the suite prepares it, or the rule being judged), and each rule's result (every one held or skipped).

    A breakage changes some answers; only a rule that sees a changed answer, or shares what it reads with one
    that does, can judge differently. So each breakage runs only the rules it can reach (a handful), not the
    whole catalogue: the self-test grows with the rules, not with their square. A sample of breakages is run
    against the whole catalogue too, to keep the reach honest
    (:func:`test_a_breakage_breaks_no_rule_beyond_its_reach`)."""

    exchanges: list[tuple[str, Exchange]]
    results: dict[str, Result]

    def reach(self, rule_id: str, mutate: Mutation) -> set[str]:
        """The rules ``mutate`` can reach: those whose exchanges it changes, replayed over a copy of it (a stateful
        breakage counts its own calls) and of each exchange, with every rule that shares what they use; the whole
        catalogue when it changes the preflight. Its own rule, its declared overlaps and races are always in."""
        replay = copy.deepcopy(mutate)
        touched: set[str] = set()
        for tag, exchange in self.exchanges:
            if exchange.body is None:
                continue  # nothing to rewrite: Broken leaves such an answer alone
            try:
                changed = replay(_copy(exchange)) is not None
            except Exception:
                changed = True  # the breakage raises where it runs, and the self-test says so
            if changed:
                touched.add(tag)
        if "preflight" in touched:
            return set(RULES)
        reached = {rule_id, *OVERLAPS.get(rule_id, {}), *RACES.get(rule_id, {})}
        for tag in touched:
            uses = {tag} if tag in SHARES else set(RULES[tag].uses)
            reached |= {tag} - set(SHARES)
            reached |= {rule.id for rule in RULES.values() if uses & set(rule.uses)}
        return reached


def _copy(exchange: Exchange) -> Exchange:
    """A copy a breakage may change; the hostile corpus's deepest bodies are shared (no breakage reads them)."""
    try:
        return copy.deepcopy(exchange)
    except RecursionError:
        return dataclasses.replace(exchange, headers=dict(exchange.headers))


def _tagged(served: Broken, name: str, prepare: Any) -> Any:
    def tagged(target: Target) -> Any:
        served.tag = name
        return prepare(target)

    return tagged


@pytest.fixture(scope="module")
def footprint() -> Footprint:
    log: list[tuple[str, Exchange]] = []
    served = Broken(create_app(settings()), lambda e: None, log=log)
    with serve_in_background(served) as url, pytest.MonkeyPatch.context() as patch:
        for name, share in list(SHARES.items()):
            if share.prepare is not None:
                patch.setitem(SHARES, name, dataclasses.replace(share, prepare=_tagged(served, name, share.prepare)))
        target = _target(url, **SMALL)
        try:
            suite = Suite(target, select())
            suite.prepare()
            results = {}
            for rule in suite.rules:
                served.tag = rule.id
                results[rule.id] = suite.run_one(rule)
        finally:
            target.close()
    unclean = {i: f"{r.outcome.value}: {r.message}" for i, r in results.items() if r.outcome not in CLEAN}
    assert not unclean, f"the clean mock fails rules: {unclean}"
    tags = {tag for tag, _ in log}
    assert "preflight" in tags, tags
    assert tags & set(SHARES), f"no share's preparation was tagged: {tags}"
    assert tags & set(RULES), f"no rule's requests were tagged: {tags}"
    return Footprint(log, results)


def assert_only(rule_id: str, results: dict[str, Result], target: Target) -> None:
    """The named rule caught the breakage, no other rule did except the declared overlaps, and nothing crashed:
    neither a check (an exception is not a verdict) nor the breakage itself."""
    broken = BROKEN.get(target)
    assert not (broken and broken.crashes), f"the breakage itself raised: {broken and broken.crashes[:2]}"
    crashed = {i: r.crash for i, r in results.items() if r.crash}
    assert not crashed, f"checks raised instead of judging: {crashed}"
    expected = Outcome.DEVIATION if rule_id in DEVIATES else Outcome.VIOLATED
    assert results[rule_id].outcome is expected, results[rule_id].message
    declared = OVERLAPS.get(rule_id, {})
    racing = RACES.get(rule_id, {})
    others = {
        i: f"{r.outcome.value}: {r.message[:160]}"
        for i, r in results.items()
        if i != rule_id
        and i not in declared
        and r.outcome not in (Outcome.HELD, Outcome.SKIPPED)
        and not (i in racing and r.outcome is Outcome.NOT_RUN)
    }
    assert not others, f"the {rule_id} breakage also breaks: {others}"
    stale = [i for i in declared if results[i].outcome in (Outcome.HELD, Outcome.SKIPPED)]
    assert not stale, f"declared overlaps of {rule_id} that now hold: {stale}"


@pytest.mark.slow
@pytest.mark.parametrize(("rule_id", "mutate", "mock"), BREAKAGES)
def test_each_breakage_breaks_its_rule_and_no_other(
    serve: Any, footprint: Footprint, rule_id: str, mutate: Mutation | None, mock: MockSettings | None
) -> None:
    target = serve(mutate, mock, **SMALL)
    if mock is not None:  # a mock of its own: the clean footprint says nothing of it, so the whole catalogue runs
        if rule_id == "LIFE-FINISHES":  # only a generation older than the documented 72 h breaks it
            _submitted_73_hours_ago(target)
        assert_only(rule_id, catalogue_against(target), target)
        return
    assert mutate is not None
    reached = footprint.reach(rule_id, mutate)
    assert_only(rule_id, footprint.results | catalogue_against(target, reached), target)


SAMPLE = {"ACK-SHAPE", "LIFE-USAGE-SUM", "LIFE-TIMESTAMPS", "REQ-FUZZ-NEGATIVE", "GROUP-ACK", "BATCH-COUNTS"}
"""Breakages of the ack, the records, generated bodies, groups and batches: each kind of traffic a rule reads."""


@pytest.mark.slow
@pytest.mark.parametrize(("rule_id", "mutate", "mock"), [p for p in BREAKAGES if p.values[0] in SAMPLE])
def test_a_breakage_breaks_no_rule_beyond_its_reach(
    serve: Any, footprint: Footprint, rule_id: str, mutate: Mutation, mock: None
) -> None:
    reached = footprint.reach(rule_id, mutate)
    assert len(reached) < len(RULES) / 2, f"{rule_id} reaches {len(reached)} rules: the footprint tells little"
    results = catalogue_against(serve(mutate, mock, **SMALL))
    beyond = {i: r.outcome.value for i, r in results.items() if r.outcome not in CLEAN and i not in reached}
    assert not beyond, f"the {rule_id} breakage breaks rules its reach leaves out: {beyond}"
    assert results[rule_id].outcome not in CLEAN


def _submitted_73_hours_ago(target: Target) -> None:
    ack = target.submit(target.chat()).json
    target.session.resume = [
        {"kind": "chat", "body": target.chat(), "submitted_ms": ack["created"] - 73 * 3600_000, "ack": ack}
    ]
    target.completion_timeout = 1


@pytest.mark.slow
def test_generations_slower_than_the_timeout_are_not_run_not_violated(serve: Any) -> None:
    target = serve(None, settings(faults=Faults(stuck_ratio=1.0)))
    target.completion_timeout = 1
    result = judge(target, "LIFE-FINISHES")
    assert result.outcome is Outcome.NOT_RUN
    assert "the docs allow 24-72 h" in result.message


@pytest.mark.slow
def test_the_whole_suite_holds_against_the_mock_and_writes_key_free_reports(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["contract", "--report-dir", str(tmp_path)])
    out = capsys.readouterr().out
    assert code == 0, out
    results = json.loads((tmp_path / "results.json").read_text())
    assert results["counts"] == {"held": len(RULES) - 1, "violated": 0, "deviation": 0, "skipped": 1, "not run": 0}
    (skipped,) = [r for r in results["rules"] if r["outcome"] == "skipped"]
    assert skipped["id"] == "RATE-429-SHAPE", "the embedded mock has no rate limit to meet"
    assert results["verdict"] == "pass"
    junit = (tmp_path / "junit.xml").read_text()
    assert f'tests="{len(RULES)}"' in junit
    assert 'failures="0"' in junit
    assert "sk-slowcheck-" not in out + junit + json.dumps(results)


@pytest.mark.slow
def test_a_violation_is_readable_and_exits_1(serve: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    target = serve(lambda e: (200, e.body | {"created": e.body["created"] // 1000}) if is_ack(e) else None)
    code = main(
        [
            "contract",
            "--base-url",
            target.root + "/v1",
            "--api-key",
            KEYS[0],
            "--report-dir",
            str(tmp_path),
            "--completion-timeout",
            "0",
        ]
    )
    out = capsys.readouterr().out
    assert code == 1
    assert "VIOLATED  ACK-CREATED-MS" in out
    violated = {r["id"]: r for r in json.loads((tmp_path / "results.json").read_text())["rules"]}["ACK-CREATED-MS"]
    assert violated["outcome"] == "violated"
    assert "not within 5 minutes" in violated["message"]
    assert violated["request"]["path"] == "/v1/slow/chat/completions"
    assert violated["response"]["status"] == 200
    assert KEYS[0] not in out + (tmp_path / "results.json").read_text() + (tmp_path / "junit.xml").read_text()
    assert "skipped   LIFE-FINISHES" in out, "--completion-timeout 0 defers the lifecycle rules"
    assert "skipped   AUTH-ISOLATION" in out, "without a second key, isolation is skipped (not passed)"


@pytest.mark.slow
def test_rate_limit_rule_holds_against_a_limited_mock(serve: Any) -> None:
    assert outcome(serve(None, settings(submit_rate=20, submit_burst=20)), "RATE-429-SHAPE") is Outcome.HELD


@pytest.mark.slow
def test_lenient_turns_an_inferred_violation_into_a_deviation(serve: Any) -> None:
    target = serve(lambda e: (500, e.body) if e.status == 401 else None)
    assert judge(target, "AUTH-WRONG-401").outcome is Outcome.VIOLATED
    assert judge(target, "AUTH-WRONG-401", lenient=("AUTH-WRONG-401",)).outcome is Outcome.DEVIATION


ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_pytest_runs_the_suite_against_the_embedded_mock_and_a_broken_target(serve: Any) -> None:
    def pytest_contracts(*extra: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "pytest", "contracts/", "-q", "-p", "no:cacheprovider", *extra],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )

    held = pytest_contracts()
    assert held.returncode == 0, held.stdout
    assert f"{len(RULES) - 1} passed, 1 skipped" in held.stdout
    target = serve(lambda e: (200, e.body | {"model": "else/where"}) if is_ack(e) else None)
    broken = pytest_contracts("--base-url", target.root + "/v1", "--api-key", KEYS[0], "--completion-timeout", "0")
    assert broken.returncode == 1
    assert "FAILED contracts/test_contract.py::test_rule[ACK-MODEL-ECHO]" in broken.stdout
    assert KEYS[0] not in broken.stdout


def test_the_docs_catalogue_lists_every_rule_as_the_code_states_it() -> None:
    catalogue = (ROOT / "docs" / "rules.md").read_text()
    for item in RULES.values():
        assert f"| `{item.id}` | {item.source} | {item.title} | {item.deviation or '-'} |" in catalogue, item.id
    ids = [line.split("`")[1] for line in catalogue.splitlines() if line.startswith("| `")]
    assert ids == [r.id for r in select()], "the catalogue lists the rules in the order they run"


def test_list_rules_prints_the_catalogue(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["contract", "--list-rules"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line.split()[0] for line in lines] == [r.id for r in select()]


HOOK = "wh-contract"


@pytest.fixture
def serve_hooks(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """The mock with the suite's receiver registered; overrides break its webhook sending."""
    stack = contextlib.ExitStack()

    def start(**overrides: Any) -> Target:
        receiver = stack.enter_context(Receiver())
        mock = settings(**({"webhooks": {HOOK: receiver.url}, "webhook_retry_delays": [0.05, 0.1]} | overrides))
        # A broken mock's repeat delivery comes 0.05 s after the first; 1 s of listening leaves a busy machine
        # (mock, receiver and client in this one process) 0.95 s to deliver it.
        url = stack.enter_context(serve_in_background(create_app(mock)))
        target = Target(
            url + "/v1", KEYS[0], second_api_key=KEYS[1], completion_timeout=3, webhook_id=HOOK, receiver=receiver,
            webhook_wait=2, webhook_grace=1.0, **SMALL, **QUICK,
        )  # fmt: skip
        stack.callback(target.close)
        return target

    with stack:
        yield start


def _no_options(monkeypatch: pytest.MonkeyPatch) -> None:
    async def skip(self: httpx.AsyncClient, url: str, **_: Any) -> httpx.Response:
        return httpx.Response(200)

    monkeypatch.setattr(httpx.AsyncClient, "options", skip)


def _hooks_for_text_too(monkeypatch: pytest.MonkeyPatch) -> None:
    original = Webhooks.generation_finished

    def every_kind(self: Webhooks, generation: Generation) -> None:
        original(self, dataclasses.replace(generation, kind="chat"))

    monkeypatch.setattr(Webhooks, "generation_finished", every_kind)


def _retry_on_4xx(monkeypatch: pytest.MonkeyPatch) -> None:
    original = Webhooks._attempt

    async def retrying(self: Webhooks, delivery: Any, attempt: int) -> str:
        outcome = await original(self, delivery, attempt)
        return "retry" if outcome == "rejected" else outcome

    monkeypatch.setattr(Webhooks, "_attempt", retrying)


def _two_events(monkeypatch: pytest.MonkeyPatch) -> None:
    """A chat generation's event is sent twice, the second with one more key (still schema-valid, so only the
    rule that compares repeats sees it); probes with n (the retry probes) are left alone."""
    original = Webhooks._enqueue

    def twice(self: Webhooks, webhook_id: str, event: str, subject: str, payload: dict[str, Any]) -> None:
        original(self, webhook_id, event, subject, payload)
        if event == "generation.completed" and "n" not in payload["data"]["request"]:
            original(self, webhook_id, event, subject, payload | {"sequence": 2})

    monkeypatch.setattr(Webhooks, "_enqueue", twice)


HOOK_BREAKAGES: list[Any] = [
    pytest.param("HOOK-NO-RETRY-4XX", {}, _retry_on_4xx, id="HOOK-NO-RETRY-4XX"),
    pytest.param("HOOK-ONE-EVENT", {}, _two_events, id="HOOK-ONE-EVENT"),
    pytest.param("HOOK-DELIVERED", {"faults": Faults(webhook_drop_ratio=1.0)}, None, id="HOOK-DELIVERED"),
    pytest.param("HOOK-OPTIONS-FIRST", {}, _no_options, id="HOOK-OPTIONS-FIRST"),
    pytest.param(
        "HOOK-HEADERS", {}, lambda mp: mp.setattr("slowcheck.mock.webhooks.USER_AGENT", "curl/8.0"), id="HOOK-HEADERS"
    ),
    pytest.param(
        "HOOK-PAYLOAD",
        {},
        lambda mp: mp.setattr("slowcheck.mock.webhooks.iso", lambda _: "yesterday"),
        id="HOOK-PAYLOAD",
    ),
    pytest.param("HOOK-RETRY-5XX", {"webhook_attempts": 1}, None, id="HOOK-RETRY-5XX"),
    pytest.param("HOOK-NOT-FOR-COMPLETIONS", {}, _hooks_for_text_too, id="HOOK-NOT-FOR-COMPLETIONS"),
    pytest.param("HOOK-GROUP", {}, lambda mp: mp.setattr(Webhooks, "group_finished", lambda *_: None), id="HOOK-GROUP"),
]


@pytest.mark.slow
@pytest.mark.parametrize(("rule_id", "overrides", "breaks"), HOOK_BREAKAGES)
def test_each_webhook_breakage_breaks_its_rule_and_no_other(
    serve_hooks: Any, monkeypatch: pytest.MonkeyPatch, rule_id: str, overrides: dict[str, Any], breaks: Any
) -> None:
    if breaks is not None:
        breaks(monkeypatch)
    target = serve_hooks(**overrides)
    assert_only(rule_id, catalogue_against(target), target)


@pytest.mark.slow
def test_webhook_rules_hold_against_the_mock(serve_hooks: Any) -> None:
    target = serve_hooks()
    hook_rules = [r for r in RULES.values() if r.group == "webhooks"]
    assert {r.rule.id: r.outcome for r in Suite(target, hook_rules).run()} == {r.id: Outcome.HELD for r in hook_rules}


@pytest.mark.slow
def test_completion_timeout_0_writes_a_ledger_that_resume_checks_later(
    serve: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    target = serve(None, settings(queue_time=Span(0.2, 0.2)))
    common = ["contract", "--base-url", target.root + "/v1", "--api-key", KEYS[0]]
    batch_url = ["--batch-base-url", target.root + "/v1"]  # phase two finds it in the ledger
    assert main([*common, *batch_url, "--completion-timeout", "0", "--report-dir", str(tmp_path / "first")]) == 0
    first = capsys.readouterr().out
    ledger = tmp_path / "first" / "ledger.json"
    assert "check them later with --resume" in first
    deferred = {
        r["id"]
        for r in json.loads((tmp_path / "first" / "results.json").read_text())["rules"]
        if r["outcome"] == "skipped"
    }
    batch_later = {r.id for r in RULES.values() if r.group == "batch"} - FIRST_PHASE
    waiting = {r.id for r in RULES.values() if r.group in ("lifecycle", "webhooks") or r.id == "GEN-IDEMPOTENT-GET"}
    assert waiting | batch_later <= deferred, "no rule that waits for generations may hold without having waited"
    assert "the batch was created, not awaited; its id is in" in first
    assert KEYS[0] not in ledger.read_text()
    written = json.loads(ledger.read_text())
    generated = [p for p in written["probes"] if p.get("generated")]
    assert len(written["probes"]) - len(generated) == 5
    assert len(generated) == 4, "LIFE-GENERATED's bodies wait in the ledger too: two chat, two text"
    assert all(len(p["ack"]["id"]) == 21 for p in written["probes"])
    assert len(written["batch"]["custom_ids"]) == 3
    assert written["batch"]["created"]["status"] == "validating"

    assert main([*common, "--resume", str(ledger), "--report-dir", str(tmp_path / "later")]) == 0
    later = json.loads((tmp_path / "later" / "results.json").read_text())
    waited = ("slowcheck.contract.lifecycle", "slowcheck.contract.stateful")
    lifecycle_rules = [r for r in RULES.values() if r.check.__module__ in waited]
    assert "LIFE-GENERATED" in {r.id for r in lifecycle_rules}
    held = len(lifecycle_rules) + len(batch_later)
    assert later["counts"] == {"held": held, "violated": 0, "deviation": 0, "skipped": 0, "not run": 0}
    assert {r["id"] for r in later["rules"]} >= batch_later, "the ledger's batch is read back and judged"
    with pytest.raises(ConfigError, match="the ledger is for"):
        contract_main(_contract_args("--resume", str(ledger), "--base-url", "http://127.0.0.1:9/v1", "--api-key", "k"))


def _contract_args(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    add_contract_arguments(parser)
    return parser.parse_args(list(argv))


@pytest.mark.slow
def test_webhook_rules_run_against_a_url_target_through_the_receiver_port(
    serve: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    target = serve(None, settings(webhooks={HOOK: f"http://127.0.0.1:{port}/hook"}, webhook_retry_delays=[0.05]))
    code = main(
        [
            "contract",
            "--base-url",
            target.root + "/v1",
            "--api-key",
            KEYS[0],
            "--webhook-id",
            HOOK,
            "--receiver-port",
            str(port),
            "--report-dir",
            str(tmp_path),
            "--completion-timeout",
            "10",
        ]
    )
    results = {r["id"]: r["outcome"] for r in json.loads((tmp_path / "results.json").read_text())["rules"]}
    assert code == 0, capsys.readouterr().out
    assert {results[r.id] for r in RULES.values() if r.group == "webhooks"} == {"held"}


@pytest.mark.slow
def test_an_answer_too_broken_to_read_is_a_violation_not_a_crash(serve: Any) -> None:
    target = serve(lambda e: (200, ["not", "an", "object"]) if is_ack(e) else None)
    result = judge(target, "ACK-MODEL-ECHO")
    assert result.outcome is Outcome.VIOLATED
    assert result.message.startswith("the answer could not be checked: AttributeError")


@pytest.mark.slow
def test_the_request_budget_is_a_hard_cap(serve: Any) -> None:
    target = serve()
    target.max_requests = 10
    with pytest.raises(NotRun, match="request budget"):
        RULES["ACK-ID-UNIQUE"].check(target)  # past the plan: twelve concurrent submissions meet the cap
    assert target.sent == 10
    suite = Suite(target, [RULES["ACK-ID-UNIQUE"], RULES["GEN-UNKNOWN-404"]])
    assert "ACK-ID-UNIQUE" in suite.plan.refused, "the plan knows it cannot fit before sending anything"


@pytest.mark.slow
def test_a_check_that_raises_is_a_violation_marked_as_a_crash(serve: Any) -> None:
    """Against a real target an answer that breaks a check's assumptions is a violation; the self-tests above
    tell it apart from a verdict by ``crash``."""

    def assumes_too_much(target: Target) -> None:
        {}["id"]

    item = Rule("TEST-CRASH", "ack", "A check that raises.", "documented", assumes_too_much)
    result = Suite(serve(), [item]).run_one(item)
    assert result.outcome is Outcome.VIOLATED
    assert result.crash is not None
    assert result.crash.startswith("KeyError at test_rules.py:")
    assert "could not be checked: KeyError" in result.message


@pytest.mark.slow
def test_text_plain_answers_fail_the_run_with_the_header_in_the_example(
    serve: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Every answer relabelled text/plain: the suite parses the bodies anyway (so no other rule is blinded), and
    the one rule that judges the label fails the run, its example showing the header that was received."""
    target = serve(lambda e: Answer(e.status, e.body, content_type="text/plain"))
    code = main(["contract", "--base-url", target.root + "/v1", "--api-key", KEYS[0], "--second-api-key", KEYS[1],
                 "--report-dir", str(tmp_path), "--completion-timeout", "10"])  # fmt: skip
    out = capsys.readouterr().out
    assert code == 1, out
    rules = {r["id"]: r for r in json.loads((tmp_path / "results.json").read_text())["rules"]}
    assert rules["RESP-CONTENT-TYPE"]["outcome"] == "violated"
    assert rules["RESP-CONTENT-TYPE"]["response"]["content_type"] == "text/plain"
    assert "read them as text and hand the caller a string" in rules["RESP-CONTENT-TYPE"]["message"]
    others = {i: r["outcome"] for i, r in rules.items() if i != "RESP-CONTENT-TYPE"}
    assert set(others.values()) <= {"held", "skipped"}, others


@pytest.mark.slow
@pytest.mark.parametrize(
    ("faults", "expected"),
    [
        pytest.param(Faults(batch_line_error_ratio=0.5), {}, id="line-level-400s-are-legitimate"),
        pytest.param(Faults(batch_cancel_delay=30.0), {"BATCH-CANCEL": Outcome.NOT_RUN}, id="slow-cancelling"),
    ],
)
def test_batch_faults_are_judged_as_a_client_should_see_them(
    serve: Any, faults: Faults, expected: dict[str, Outcome]
) -> None:
    """Lines refused one by one are answered in the error file (the batch rules hold); a cancel that takes
    longer than the rule's reads is not run, never held or violated."""
    target = serve(None, settings(faults=faults))
    batch_rules = [r for r in RULES.values() if r.group == "batch"]
    found = {r.rule.id: r.outcome for r in Suite(target, batch_rules).run()}
    assert found == {r.id: Outcome.HELD for r in batch_rules} | expected
