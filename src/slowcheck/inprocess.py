"""An ASGI app answering in this process, without a socket: a synchronous httpx transport over the app's own event
loop, run in a thread with its lifespan started first (the mock's engine workers and store live there).

httpx's ``ASGITransport`` is asynchronous and runs no lifespan; Starlette's ``TestClient`` does both through an
anyio portal, which is what this does too, as a transport any ``httpx.Client`` (a contract ``Target``) can take.
Every answer is read whole before it is returned: no streaming, and no timeouts (nothing here can stall on
the network). Headers the server would refuse before the app sees them (a socket's size limits) reach the app.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Iterator

import anyio
import httpx
from anyio.from_thread import BlockingPortal, start_blocking_portal
from starlette.types import ASGIApp, Message

from slowcheck.errors import ConfigError

__all__ = ["ROOT", "InProcess", "in_process"]

ROOT = "http://localhost"
"""Where an app in this process answers: a loopback name, so the suite treats it as this machine (no remote
budget, no upload pacing); nothing listens there."""


class InProcess(httpx.BaseTransport):
    """Sends each request into the app on its loop (``portal``) and waits for the whole answer. Thread-safe: the
    suite's concurrent senders each wait for their own answer."""

    def __init__(self, app: ASGIApp, portal: BlockingPortal) -> None:
        self._app = httpx.ASGITransport(app=app, raise_app_exceptions=False)  # a crash answers 500, as a server's
        self._portal = portal

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        body = request.read()
        status, headers, content = self._portal.call(self._send, request.method, request.url, request.headers, body)
        return httpx.Response(status, headers=headers, content=content, request=request)

    async def _send(
        self, method: str, url: httpx.URL, headers: httpx.Headers, body: bytes
    ) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
        answer = await self._app.handle_async_request(httpx.Request(method, url, headers=headers, content=body))
        return answer.status_code, answer.headers.raw, await answer.aread()

    def close(self) -> None:
        """Nothing: the app outlives any one client, until the block of :func:`in_process` ends."""


@contextlib.contextmanager
def in_process(app: ASGIApp) -> Iterator[InProcess]:
    """Start ``app`` (its lifespan's startup) on an event loop in a thread, and yield a transport to it; at the end
    of the block the lifespan's shutdown runs and the loop stops. A startup that fails is a ``ConfigError``."""
    with start_blocking_portal() as portal, portal.wrap_async_context_manager(_lifespan(app)):
        yield InProcess(app, portal)


@contextlib.asynccontextmanager
async def _lifespan(app: ASGIApp) -> AsyncIterator[None]:
    """The ASGI lifespan protocol, as a server speaks it: startup, the app's life, shutdown."""
    to_app, app_receives = anyio.create_memory_object_stream[Message](1)
    app_sends, from_app = anyio.create_memory_object_stream[Message](1)
    scope = {"type": "lifespan", "asgi": {"version": "3.0", "spec_version": "2.0"}, "state": {}}

    async def run() -> None:
        await app(scope, app_receives.receive, app_sends.send)

    async with to_app, app_receives, app_sends, from_app, anyio.create_task_group() as group:
        group.start_soon(run)
        await to_app.send({"type": "lifespan.startup"})
        started = await from_app.receive()
        if started["type"] != "lifespan.startup.complete":
            raise ConfigError(f"the app did not start: {started.get('message') or started['type']}")
        try:
            yield
        finally:
            await to_app.send({"type": "lifespan.shutdown"})
            await from_app.receive()
