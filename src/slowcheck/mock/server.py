"""Serving the mock on a socket with uvicorn."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import socket
from collections.abc import Callable, Iterator
from typing import Any

import uvicorn
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from slowcheck.background import serve_in_background
from slowcheck.errors import ConfigError
from slowcheck.mock.app import create_app, engine_of
from slowcheck.mock.settings import MockSettings

__all__ = ["mock_in_background", "serve"]


async def _freeze_periodically(every: float = 5.0) -> None:
    while True:
        await asyncio.sleep(every)
        gc.collect(1)  # what is garbage now goes first; what survives is frozen
        gc.freeze()


class _Coalesced:
    """A transport whose writes within one turn of the event loop leave as one: an answer's head and body go out
    in one send() rather than two. Under load those two syscalls were a quarter of the mock's time. Past 64 KiB
    pending it writes at once, so a large streamed body (a batch's file) meets the transport's flow control as
    before."""

    __slots__ = ("_loop", "_pending", "_size", "_transport")

    def __init__(self, transport: asyncio.Transport, loop: asyncio.AbstractEventLoop) -> None:
        self._transport, self._loop = transport, loop
        self._pending: list[bytes] = []
        self._size = 0

    def write(self, data: bytes) -> None:
        if not self._pending:
            self._loop.call_soon(self._flush)
        self._pending.append(data)
        self._size += len(data)
        if self._size > _COALESCED_BYTES:
            self._flush()

    def _flush(self) -> None:
        if self._pending:
            data = b"".join(self._pending)
            self._pending.clear()
            self._size = 0
            if not self._transport.is_closing():
                self._transport.write(data)

    def close(self) -> None:
        self._flush()
        self._transport.close()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._transport, name)


_COALESCED_BYTES = 64 * 1024


class _Protocol(HttpToolsProtocol):
    """uvicorn's httptools protocol over a :class:`_Coalesced` transport."""

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(_Coalesced(transport, self.loop))  # type: ignore[arg-type]


def serve(settings: MockSettings, on_ready: Callable[[str, int], None] | None = None) -> None:
    """Run until interrupted; ``on_ready(url, restored)`` is called once the socket listens."""
    app = create_app(settings)
    config = uvicorn.Config(
        app,
        host=settings.host,
        port=settings.port,
        log_level="warning",
        access_log=False,
        lifespan="on",
        server_header=False,
        http=_Protocol,
    )
    server = uvicorn.Server(config)

    # Probe the address first, so a taken port is one clear error rather than uvicorn's log and exit.
    # (uvicorn binds it itself: sockets it is handed do not get TCP_NODELAY under uvloop, and every
    # keep-alive answer would then wait ~40 ms for a delayed ACK.)
    family = socket.AF_INET6 if ":" in settings.host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((settings.host, settings.port))
        except OSError as exc:
            raise ConfigError(f"cannot listen on {settings.host}:{settings.port}: {exc.strerror or exc}") from None

    async def run() -> None:
        # Stored generations are long-lived and acyclic: keep the cyclic GC from rescanning them on every
        # full collection (a ~10 % throughput cost at 10k submissions/s). New objects are frozen periodically.
        gc.set_threshold(50_000, 20, 100)
        freezer = asyncio.create_task(_freeze_periodically())
        task = asyncio.create_task(server.serve())
        while not server.started:
            if task.done():
                await task  # uvicorn failed to start: surface it
                return
            await asyncio.sleep(0.01)
        port = server.servers[0].sockets[0].getsockname()[1]
        if on_ready is not None:
            on_ready(f"http://{settings.host}:{port}", engine_of(app).count())
        await task
        freezer.cancel()

    try:
        import uvloop  # uvicorn[standard] brings it; uvicorn only installs it when it owns the loop
    except ImportError:  # pragma: no cover - uvloop does not build everywhere
        asyncio.run(run())
    else:
        uvloop.run(run())


@contextlib.contextmanager
def mock_in_background(settings: MockSettings) -> Iterator[str]:
    """The mock on 127.0.0.1 in a thread, for ``slowcheck contract`` without --base-url; yields its URL."""
    with serve_in_background(create_app(settings), host=settings.host, port=settings.port, name="embedded mock") as url:
        yield url
