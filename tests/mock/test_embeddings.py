"""Asynchronous embeddings: the same ack and lifecycle as completions, an embedding list as the answer, and an
``async-embedding.completed`` webhook."""

from __future__ import annotations

import base64
import math
import struct

import pytest

from slowcheck.schemas import schema_set
from tests.mock.conftest import fast, running, terminal, until
from tests.mock.test_webhooks import ADMIN, Receiver, hooked, receiver, wait_for

pytestmark = pytest.mark.anyio
__all__ = ["receiver"]  # the fixture, imported for these tests

EMBED = {"model": "qwen/qwen3-embedding-4b", "input": ["What is the capital of France?", "Paris"]}


@pytest.mark.parametrize("path", ["/v1/slow/embeddings", "/v1/async/embeddings"])
async def test_an_embedding_is_acked_then_answered_with_one_unit_vector_per_input(path: str) -> None:
    schemas = schema_set()
    async with running(fast()) as client:
        answer = await client.post(path, json=EMBED | {"dimensions": 12})
        ack = answer.json()
        record = (await until(client, ack["id"], terminal))[-1]
        again = (await client.post(path, json={"model": "m", "input": "Paris"})).json()
        single = (await until(client, again["id"], terminal))[-1]
    assert answer.status_code == 200
    assert schemas.errors("submit-ack", ack) == []
    assert (ack["object"], ack["data"]) == ("list", [])
    assert schemas.errors("generation", record) == []
    assert record["state"] == "Success"
    assert record["request"] == EMBED | {"dimensions": 12}, "the request is echoed"
    response = record["response"]
    assert schemas.errors("embedding-list", response) == []
    assert [e["index"] for e in response["data"]] == [0, 1]
    assert all(len(e["embedding"]) == 12 for e in response["data"]), "dimensions is honoured"
    assert all(math.isclose(math.hypot(*e["embedding"]), 1.0, rel_tol=1e-4) for e in response["data"])
    assert response["usage"]["prompt_tokens"] == response["usage"]["total_tokens"] == 8
    assert single["response"]["data"][0]["embedding"][:12] != response["data"][1]["embedding"], "other dimensions"
    assert len(single["response"]["data"][0]["embedding"]) == 32


async def test_the_same_input_embeds_the_same_way_and_base64_is_little_endian_float32() -> None:
    async with running(fast()) as client:
        ids = [
            (await client.post("/v1/slow/embeddings", json={"model": "m", "input": "Paris"} | extra)).json()["id"]
            for extra in ({}, {}, {"encoding_format": "base64"})
        ]
        first, second, encoded = [(await until(client, i, terminal))[-1]["response"]["data"][0] for i in ids]
    assert first["embedding"] == second["embedding"]
    raw = base64.b64decode(encoded["embedding"])
    decoded = struct.unpack(f"<{len(raw) // 4}f", raw)
    assert len(decoded) == len(first["embedding"])
    assert all(math.isclose(a, b, abs_tol=1e-6) for a, b in zip(decoded, first["embedding"], strict=True))


@pytest.mark.parametrize(
    ("body", "param"),
    [
        pytest.param({"model": "m"}, "input", id="no-input"),
        pytest.param({"model": "m", "input": []}, "input", id="empty-input"),
        pytest.param({"input": "x"}, "model", id="no-model"),
        pytest.param({"model": "m", "input": "x", "encoding_format": "int8"}, "encoding_format", id="bad-format"),
    ],
)
async def test_a_bad_embedding_request_is_a_400_naming_the_field(body: dict[str, object], param: str) -> None:
    async with running(fast()) as client:
        answer = await client.post("/v1/slow/embeddings", json=body)
    assert answer.status_code == 400
    assert schema_set().errors("error", answer.json()) == []
    assert answer.json()["error"]["param"] == param


async def test_async_embedding_completed_is_delivered(receiver: Receiver) -> None:
    body = EMBED | {"metadata": {"webhook_id": "wh_1"}}
    async with running(hooked(receiver)) as client:
        ack = (await client.post("/v1/slow/embeddings", json=body)).json()
        record = (await until(client, ack["id"], terminal))[-1]
        engine = client.app.state.mock.engine  # type: ignore[attr-defined]
        await wait_for(lambda: engine.stats.webhooks.get("delivered") == 1)
        stats = (await client.get("/_mock/stats", headers=ADMIN)).json()
    headers, event = receiver.posts()[0]
    assert schema_set().errors("webhook-event", event) == []
    assert headers["x-inference-event"] == event["event"] == "async-embedding.completed"
    assert headers["x-inference-generation-id"] == event["generation_id"] == ack["id"]
    assert event["data"] == record
    assert stats["webhooks"] == {"attempts": 1, "delivered": 1}
