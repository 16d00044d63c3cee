"""--upstream: a synchronous OpenAI-compatible server does the work behind the async front."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from slowcheck.background import serve_in_background
from slowcheck.schemas import schema_set
from tests.mock.conftest import CHAT, TEXT, fast, running, terminal, until

pytestmark = pytest.mark.anyio


@pytest.fixture
def upstream() -> Iterator[tuple[str, list[dict[str, Any]]]]:
    received: list[dict[str, Any]] = []

    async def chat(request: Request) -> JSONResponse:
        body = json.loads(await request.body())
        received.append(body | {"_auth": request.headers.get("authorization")})
        if body["messages"][-1]["content"] == "fail":
            return JSONResponse({"error": {"message": "context too long"}}, status_code=400)
        return JSONResponse(
            {
                "id": "chatcmpl-upstream",
                "object": "chat.completion",
                "created": 1749061362,
                "model": body["model"],
                "choices": [
                    {"index": 0, "message": {"role": "assistant", "content": "from upstream"}, "finish_reason": "stop"}
                ],
                "usage": {"prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5},
            }
        )

    async def text(request: Request) -> JSONResponse:
        body = json.loads(await request.body())
        received.append(body)
        return JSONResponse(
            {
                "id": "cmpl-1",
                "object": "text_completion",
                "created": 1749061362,
                "model": body["model"],
                "choices": [{"text": " there", "index": 0, "finish_reason": "stop"}],
            }
        )

    app = Starlette(
        routes=[Route("/v1/chat/completions", chat, methods=["POST"]), Route("/v1/completions", text, methods=["POST"])]
    )
    with serve_in_background(app) as base:
        yield f"{base}/v1", received


@pytest.mark.slow
async def test_upstream_results_are_stored_under_the_generation_id(upstream: tuple[str, list[dict[str, Any]]]) -> None:
    url, received = upstream
    body = CHAT | {"metadata": {"custom_id": "u-1"}}
    async with running(fast(upstream=url, upstream_api_key="upstream-key")) as client:
        ack = (await client.post("/v1/slow/chat/completions", json=body)).json()
        final = (await until(client, ack["id"], terminal))[-1]
        text = (await client.post("/v1/slow/completions", json=TEXT)).json()
        text_final = (await until(client, text["id"], terminal))[-1]
    assert final["state"] == "Success"
    assert final["response"]["choices"][0]["message"]["content"] == "from upstream"
    assert final["response"]["id"] == ack["id"]
    assert final["request"] == body, "the stored request keeps its metadata"
    assert "metadata" not in received[0], "the synchronous server never sees the async-only field"
    assert received[0]["stream"] is False
    assert received[0]["_auth"] == "Bearer upstream-key"
    assert schema_set().errors("generation", final) == []
    assert text_final["response"]["choices"][0]["text"] == " there"


@pytest.mark.slow
async def test_upstream_errors_fail_the_generation_with_the_reason(upstream: tuple[str, list[dict[str, Any]]]) -> None:
    url, _ = upstream
    async with running(fast(upstream=url)) as client:
        ack = (
            await client.post(
                "/v1/slow/chat/completions", json=CHAT | {"messages": [{"role": "user", "content": "fail"}]}
            )
        ).json()
        final = (await until(client, ack["id"], terminal))[-1]
    assert final["state"] == "Failed"
    assert final["stateMessage"] == "Generation failed: upstream answered 400: context too long"


async def test_unreachable_upstream_fails_cleanly() -> None:
    async with running(fast(upstream="http://127.0.0.1:9/v1", upstream_timeout=2)) as client:
        ack = (await client.post("/v1/slow/chat/completions", json=CHAT)).json()
        final = (await until(client, ack["id"], terminal))[-1]
    assert final["state"] == "Failed"
    assert final["stateMessage"].startswith("Generation failed: upstream unreachable")
