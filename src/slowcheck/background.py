"""An ASGI app served by uvicorn in a background thread, for the servers a command embeds."""

from __future__ import annotations

import contextlib
import ssl
import threading
import time
from collections.abc import Iterator

import uvicorn
from starlette.types import ASGIApp

from slowcheck.errors import ConfigError

__all__ = ["serve_in_background"]


class _QuietServer(uvicorn.Server):
    def install_signal_handlers(self) -> None:  # the embedding program owns the signals
        pass


@contextlib.contextmanager
def serve_in_background(
    app: ASGIApp,
    *,
    host: str = "127.0.0.1",
    port: int = 0,
    name: str = "server",
    ssl_certfile: str | None = None,
    ssl_keyfile: str | None = None,
    ssl_ca_certs: str | None = None,
    ssl_cert_reqs: int = ssl.CERT_NONE,
) -> Iterator[str]:
    """Serve ``app`` until the block ends; yields its base URL (``port=0`` picks a free port).

    With ``ssl_certfile`` (and its key) it is served over TLS, at an ``https://`` URL; ``ssl_cert_reqs`` and
    ``ssl_ca_certs`` ask clients for a certificate issued by those authorities.
    """
    config = uvicorn.Config(
        app,
        host=host,
        port=port,
        log_level="warning",
        access_log=False,
        lifespan="on",
        ssl_certfile=ssl_certfile,
        ssl_keyfile=ssl_keyfile,
        ssl_ca_certs=ssl_ca_certs,
        ssl_cert_reqs=ssl_cert_reqs,
    )
    server = _QuietServer(config)
    thread = threading.Thread(target=server.run, name=f"slowcheck-{name}", daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise ConfigError(f"the {name} did not start")
        time.sleep(0.01)
    try:
        scheme = "https" if ssl_certfile else "http"
        yield f"{scheme}://{host}:{server.servers[0].sockets[0].getsockname()[1]}"
    finally:
        server.should_exit = True
        thread.join(timeout=30)
