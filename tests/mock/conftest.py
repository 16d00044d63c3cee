from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable
from typing import Any, Protocol

import httpx
import pytest
from starlette.applications import Starlette

from slowcheck.mock import MockSettings, create_app
from tests.conftest import fast_mock

KEY = "sk-test-alpha-0001"
AUTH = {"Authorization": f"Bearer {KEY}"}
CHAT = {"model": "inference-net/load-test", "messages": [{"role": "user", "content": "What is the capital of France?"}]}
TEXT = {"model": "inference-net/load-test", "prompt": "Once upon a time"}


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


fast = fast_mock
"""Settings for tests: a quick lifecycle, nothing written to disk unless asked (``tests.conftest.fast_mock``)."""


class MockFactory(Protocol):
    def __call__(
        self, settings: MockSettings | None = None
    ) -> contextlib.AbstractAsyncContextManager[httpx.AsyncClient]: ...


@contextlib.asynccontextmanager
async def running(settings: MockSettings | None = None) -> AsyncIterator[httpx.AsyncClient]:
    """The mock in process (lifespan run by hand, since ASGITransport does not) and a client for it."""
    app = create_app(settings or fast())
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://mock", headers=AUTH) as client:
            client.app = app  # type: ignore[attr-defined]
            yield client


@pytest.fixture
def mock() -> Callable[..., contextlib.AbstractAsyncContextManager[httpx.AsyncClient]]:
    return running


def app_of(client: httpx.AsyncClient) -> Starlette:
    return client.app  # type: ignore[attr-defined,no-any-return]


async def until(
    client: httpx.AsyncClient, generation_id: str, done: Callable[[dict[str, Any]], bool], timeout: float = 10.0
) -> list[dict[str, Any]]:
    """Poll as a client would until ``done(record)``; every record seen, in order."""
    seen: list[dict[str, Any]] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        answer = await client.get(f"/v1/generation/{generation_id}")
        if answer.status_code == 200:
            seen.append(answer.json())
            if done(seen[-1]):
                return seen
        await asyncio.sleep(0.005)
    raise AssertionError(f"generation {generation_id} did not get there in {timeout}s; last seen: {seen[-1:]}")


def terminal(record: dict[str, Any]) -> bool:
    return record["state"] in ("Success", "Failed")
