"""The Batch API's schemas (input and output lines, batch, list, file) and async embeddings': the documented
examples pass, and each rule a schema can state refuses what breaks it."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest

from slowcheck.schemas import SchemaSet
from tests.conftest import PAYLOADS, payload

LINES = [json.loads(line) for line in (PAYLOADS / "docs-batch-input.jsonl").read_text().splitlines()]
CHAT_LINE, EMBED_LINE, URL_LINE = LINES
OUTPUT = payload("spec-batch-output-line.json")
CANCELLING = payload("spec-batch-cancelling.json")
EMBEDDINGS = {"object": "list", "model": "qwen/qwen3-embedding-4b", "usage": {"prompt_tokens": 7, "total_tokens": 7},
              "data": [{"object": "embedding", "index": 0, "embedding": [0.01, -0.2, 0.3]}]}  # fmt: skip
FILE = {"id": "file-abc123", "object": "file", "bytes": 120000, "created_at": 1711471533,
        "filename": "requests.jsonl", "purpose": "batch"}  # fmt: skip


def changed(base: dict[str, Any], path: str, value: Any = ...) -> dict[str, Any]:
    """A copy with the dotted ``path`` set to ``value``, or removed when no value is given."""
    out = copy.deepcopy(base)
    *parents, last = path.split(".")
    node = out
    for key in parents:
        node = node[int(key)] if isinstance(node, list) else node[key]
    if value is ...:
        del node[last]
    else:
        node[last] = value
    return out


@pytest.mark.parametrize(
    ("kind", "instance"),
    [
        pytest.param("batch-request-line", CHAT_LINE, id="docs-chat-line-without-url"),
        pytest.param("batch-request-line", EMBED_LINE, id="docs-embedding-line-without-url"),
        pytest.param("batch-request-line", URL_LINE, id="spec-line-with-url"),
        pytest.param("batch-request-line", EMBED_LINE | {"url": "/v1/embeddings"}, id="embedding-line-with-url"),
        pytest.param("batch-output-line", OUTPUT, id="spec-output-line"),
        pytest.param(
            "batch-output-line",
            OUTPUT
            | {
                "response": None,
                "error": {
                    "code": "batch_expired",
                    "message": "This request could not be executed before the completion window expired.",
                },
            },
            id="expired-line",
        ),  # fmt: skip
        pytest.param(
            "batch-output-line",
            OUTPUT | {"response": {"status_code": 400, "request_id": "req_1", "body": payload("notes-error.json")}},
            id="line-level-4xx",
        ),  # fmt: skip
        pytest.param("batch-output-line", changed(OUTPUT, "response.body", EMBEDDINGS), id="embedding-output"),
        pytest.param("batch", CANCELLING, id="spec-cancelling"),
        pytest.param("batch", CANCELLING | {"id": "blwfjJFdquAALvin-XRqx"}, id="inference-net-id-without-prefix"),
        pytest.param(
            "batch",
            CANCELLING
            | {
                "status": "completed",
                "finalizing_at": 1711475200,
                "completed_at": 1711475300,
                "output_file_id": None,
                "error_file_id": "file-err",
            },
            id="completed-with-only-an-error-file",
        ),  # fmt: skip
        pytest.param(
            "batch-list",
            {
                "object": "list",
                "data": [CANCELLING],
                "first_id": "batch_abc123",
                "last_id": "batch_abc123",
                "has_more": False,
            },
            id="list",
        ),  # fmt: skip
        pytest.param("file", FILE, id="file"),
        pytest.param("embedding-request", EMBED_LINE["body"], id="docs-embedding-request"),
        pytest.param("embedding-list", EMBEDDINGS, id="embedding-list"),
        pytest.param("embedding-list", changed(EMBEDDINGS, "data.0.embedding", "AACAPwAAAEA="), id="base64"),
    ],
)
def test_documented_and_legitimate_payloads_validate(kind: str, instance: Any, schemas: SchemaSet) -> None:
    assert schemas.errors(kind, instance) == []
    assert schemas.is_valid(kind, instance)


@pytest.mark.parametrize(
    ("kind", "instance"),
    [
        pytest.param("batch-request-line", changed(CHAT_LINE, "custom_id"), id="no-custom-id"),
        pytest.param("batch-request-line", changed(CHAT_LINE, "method", "GET"), id="method-get"),
        pytest.param("batch-request-line", URL_LINE | {"url": "/v1/embeddings"}, id="url-and-body-disagree"),
        pytest.param("batch-request-line", URL_LINE | {"url": "/v1/responses"}, id="unknown-url"),
        pytest.param("batch-request-line", changed(CHAT_LINE, "body.messages"), id="body-of-no-endpoint"),
        pytest.param("batch-output-line", OUTPUT | {"response": None}, id="neither-response-nor-error"),
        pytest.param("batch-output-line", OUTPUT | {"error": {"code": "x", "message": "y"}}, id="both"),
        pytest.param("batch-output-line", changed(OUTPUT, "response.body", {"error": "oops"}), id="2xx-not-a-result"),
        pytest.param("batch", CANCELLING | {"created_at": 1711471533000}, id="created-in-milliseconds"),
        pytest.param("batch", changed(CANCELLING, "cancelling_at", None), id="cancelling-without-its-time"),
        pytest.param("batch", CANCELLING | {"status": "completed"}, id="completed-without-completed-at"),
        pytest.param("batch", CANCELLING | {"status": "paused"}, id="unknown-status"),
        pytest.param("batch", changed(CANCELLING, "request_counts.total", -1), id="negative-count"),
        pytest.param("batch", CANCELLING | {"object": "list"}, id="wrong-object"),
        pytest.param("file", FILE | {"bytes": "120000"}, id="bytes-as-string"),
        pytest.param("embedding-request", EMBED_LINE["body"] | {"input": []}, id="empty-input"),
        pytest.param("embedding-list", changed(EMBEDDINGS, "data.0.embedding", []), id="empty-embedding"),
    ],
)
def test_breaking_a_rule_is_refused(kind: str, instance: Any, schemas: SchemaSet) -> None:
    assert schemas.errors(kind, instance) != []
    assert not schemas.is_valid(kind, instance)
