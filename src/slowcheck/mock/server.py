"""Serving the mock on a socket with uvicorn."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Callable

import uvicorn

from slowcheck.errors import ConfigError
from slowcheck.mock.app import create_app, engine_of
from slowcheck.mock.settings import MockSettings

__all__ = ["serve"]


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
        task = asyncio.create_task(server.serve())
        while not server.started:
            if task.done():
                await task  # uvicorn failed to start: surface it
                return
            await asyncio.sleep(0.01)
        port = server.servers[0].sockets[0].getsockname()[1]
        if on_ready is not None:
            on_ready(f"http://{settings.host}:{port}", len(engine_of(app).generations))
        await task

    asyncio.run(run())
