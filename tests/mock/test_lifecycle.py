"""Submissions, the lifecycle and the generated results, through the HTTP API in process."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest

from slowcheck.mock import Span
from slowcheck.schemas import schema_set
from tests.mock.conftest import CHAT, TEXT, fast, running, terminal, until

pytestmark = pytest.mark.anyio
ORDER = {"Queued": 0, "In Progress": 1, "Success": 2, "Failed": 2}


@pytest.mark.parametrize(
    ("path", "body", "object_"),
    [
        pytest.param("/v1/slow/chat/completions", CHAT, "chat.completion", id="chat"),
        pytest.param("/v1/slow/completions", TEXT, "text_completion", id="text"),
        pytest.param("/v1/async/chat/completions", CHAT, "chat.completion", id="async-alias"),
    ],
)
async def test_ack_is_immediate_valid_and_in_milliseconds(path: str, body: dict[str, Any], object_: str) -> None:
    async with running() as client:
        before = time.time() * 1000
        answer = await client.post(path, json=body)
        after = time.time() * 1000
    assert answer.status_code == 200
    ack = answer.json()
    assert schema_set().errors("submit-ack", ack) == []
    assert ack["object"] == object_
    assert ack["model"] == body["model"]
    assert before - 1 <= ack["created"] <= after + 1
    assert answer.headers["x-request-id"].startswith("req_")


async def test_generation_moves_forward_through_every_state_and_validates_in_each() -> None:
    metadata = {"custom_id": "req-001", "webhook_id": "unregistered"}
    body = CHAT | {"metadata": metadata, "max_tokens": 7, "temperature": 0.3}
    # In Progress for 0.3 s: polled through, however a busy machine delays a poll.
    async with running(fast(queue_time=Span(0.05, 0.05), run_time=Span(0.3, 0.3))) as client:
        submitted = time.time()
        ack = (await client.post("/v1/slow/chat/completions", json=body)).json()
        seen = await until(client, ack["id"], terminal)
    states = [record["state"] for record in seen]
    assert states[0] == "Queued"
    assert "In Progress" in states
    assert states[-1] == "Success"
    assert [ORDER[s] for s in states] == sorted(ORDER[s] for s in states), states
    for record in seen:
        assert schema_set().errors("generation", record) == []
        assert record["request"] == body, "the request is echoed verbatim, metadata included"
        assert record["id"] == ack["id"]
    final = seen[-1]
    assert final["response"]["id"] == ack["id"]
    dispatched = _epoch(final["dispatchedAt"])
    finished = _epoch(final["finishedAt"])
    assert submitted - 0.01 <= dispatched <= finished


async def test_text_completion_lifecycle_returns_text_choices() -> None:
    async with running() as client:
        ack = (await client.post("/v1/slow/completions", json=TEXT | {"n": 3, "echo": True})).json()
        final = (await until(client, ack["id"], terminal))[-1]
    assert final["state"] == "Success"
    assert schema_set().errors("generation", final) == []
    choices = final["response"]["choices"]
    assert [c["index"] for c in choices] == [0, 1, 2]
    assert all(c["text"].startswith(TEXT["prompt"]) for c in choices), "echo prepends the prompt"


@pytest.mark.parametrize("limit_key", ["max_tokens", "max_completion_tokens"])
async def test_results_honour_n_and_the_token_limit_with_exact_usage(limit_key: str) -> None:
    async with running() as client:
        ack = (await client.post("/v1/slow/chat/completions", json=CHAT | {"n": 5, limit_key: 4})).json()
        final = (await until(client, ack["id"], terminal))[-1]
    response = final["response"]
    assert [c["index"] for c in response["choices"]] == list(range(5))
    usage = response["usage"]
    assert usage["total_tokens"] == usage["prompt_tokens"] + usage["completion_tokens"]
    per_choice = [_tokens(c["message"]["content"]) for c in response["choices"]]
    assert sum(per_choice) == usage["completion_tokens"]
    for choice, tokens in zip(response["choices"], per_choice, strict=True):
        assert tokens <= 4
        assert (choice["finish_reason"] == "length") == (tokens == 4)


async def test_stop_sequences_cut_the_text_and_are_reported() -> None:
    stop = ["the", "a"]
    async with running() as client:
        ack = (await client.post("/v1/slow/chat/completions", json=CHAT | {"n": 8, "stop": stop})).json()
        final = (await until(client, ack["id"], terminal))[-1]
    choices = final["response"]["choices"]
    assert any(c["matched_stop"] in stop for c in choices), "the vocabulary makes some stop word likely"
    for choice in choices:
        content = choice["message"]["content"]
        assert not any(s in content for s in stop)
        if choice["matched_stop"] is not None:
            assert choice["finish_reason"] == "stop"


async def test_results_are_deterministic_per_request() -> None:
    body = CHAT | {"n": 2, "seed": 7}
    async with running() as client:
        first = (await client.post("/v1/slow/chat/completions", json=body)).json()["id"]
        second = (await client.post("/v1/slow/chat/completions", json=body)).json()["id"]
        a = (await until(client, first, terminal))[-1]["response"]["choices"]
        b = (await until(client, second, terminal))[-1]["response"]["choices"]
        other = (await client.post("/v1/slow/chat/completions", json=body | {"seed": 8})).json()["id"]
        c = (await until(client, other, terminal))[-1]["response"]["choices"]
    assert first != second, "the same body twice is two generations"
    assert a == b
    assert a != c


async def test_tool_calls_and_json_schema_outputs() -> None:
    tool = {
        "type": "function",
        "function": {
            "name": "get_weather",
            "parameters": {
                "type": "object",
                "properties": {"city": {"type": "string"}, "days": {"type": "integer"}},
                "required": ["city"],
            },
        },
    }
    schema = {
        "type": "object",
        "properties": {"city": {"type": "string"}, "ok": {"type": "boolean"}},
        "required": ["city"],
    }
    async with running() as client:
        tools = (
            await client.post("/v1/slow/chat/completions", json=CHAT | {"tools": [tool], "tool_choice": "required"})
        ).json()
        structured = (
            await client.post(
                "/v1/slow/chat/completions",
                json=CHAT
                | {"response_format": {"type": "json_schema", "json_schema": {"name": "answer", "schema": schema}}},
            )
        ).json()
        called = (await until(client, tools["id"], terminal))[-1]["response"]["choices"][0]
        shaped = (await until(client, structured["id"], terminal))[-1]["response"]["choices"][0]
    assert called["finish_reason"] == "tool_calls"
    call = called["message"]["tool_calls"][0]
    assert call["function"]["name"] == "get_weather"
    assert set(json.loads(call["function"]["arguments"])) == {"city", "days"}
    assert shaped["finish_reason"] == "stop"
    assert isinstance(json.loads(shaped["message"]["content"])["city"], str)


async def test_failure_ratio_fails_generations_with_a_message() -> None:
    async with running(fast(failure_ratio=1.0)) as client:
        ack = (await client.post("/v1/slow/chat/completions", json=CHAT)).json()
        final = (await until(client, ack["id"], terminal))[-1]
    assert final["state"] == "Failed"
    assert final["response"] is None
    assert "failed" in final["stateMessage"]
    assert schema_set().errors("generation", final) == []


async def test_a_burst_queues_behind_a_bounded_worker_pool_and_expires() -> None:
    settings = fast(workers=1, queue_time=Span(0, 0), run_time=Span(30, 30), expiry=0.2)
    async with running(settings) as client:
        first = (await client.post("/v1/slow/chat/completions", json=CHAT)).json()["id"]
        await until(client, first, lambda r: r["state"] == "In Progress")
        second = (await client.post("/v1/slow/chat/completions", json=CHAT)).json()["id"]
        expired = (await until(client, second, terminal))[-1]
        still = (await client.get(f"/v1/generation/{first}")).json()
    assert expired["state"] == "Failed"
    assert expired["stateMessage"].startswith("Expired")
    assert expired["dispatchedAt"] is None, "it never reached a worker"
    assert still["state"] == "In Progress", "the only worker is still busy with the first"


async def test_pending_records_carry_a_poll_after_hint_and_terminal_ones_do_not() -> None:
    async with running(fast(queue_time=Span(0.3, 0.3))) as client:
        ack = (await client.post("/v1/slow/chat/completions", json=CHAT)).json()
        pending = await client.get(f"/v1/generation/{ack['id']}")
        await until(client, ack["id"], terminal)
        done = await client.get(f"/v1/generation/{ack['id']}")
    assert 0 < int(pending.headers["openai-poll-after-ms"]) <= 300
    assert "openai-poll-after-ms" not in done.headers


async def test_repeated_polls_of_a_terminal_generation_are_identical() -> None:
    async with running() as client:
        ack = (await client.post("/v1/slow/chat/completions", json=CHAT)).json()
        await until(client, ack["id"], terminal)
        bodies = {(await client.get(f"/v1/generation/{ack['id']}")).text for _ in range(3)}
    assert len(bodies) == 1


def _epoch(text: str) -> float:
    from datetime import datetime

    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def _tokens(text: str) -> int:
    import re

    return len(re.findall(r"\w+|[^\w\s]", text))


async def test_integral_floats_count_as_integers_like_the_schema_says() -> None:
    async with running() as client:
        ack = (await client.post("/v1/slow/chat/completions", json=CHAT | {"n": 2.0, "max_tokens": 3.0})).json()
        final = (await until(client, ack["id"], terminal))[-1]
    assert final["state"] == "Success"
    assert [c["index"] for c in final["response"]["choices"]] == [0, 1]
    assert final["response"]["usage"]["completion_tokens"] <= 6
