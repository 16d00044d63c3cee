"""The proxy: the application's requests relayed to the upstream, the API's webhooks relayed to the
application, every exchange recorded and judged on the way.

``--upstream`` is an API root (``https://api.inference.net/v1``); the proxy serves it at its own ``/v1``, so an
application's ``base_url`` becomes ``http://127.0.0.1:8788/v1/slow`` (other paths, such as the mock's ``/_mock``,
go to the upstream beside ``/v1``). Webhooks: the API delivers to the proxy's second port, and each
delivery goes on to ``--webhook-forward``, the application's receiver, whose answer goes back to the API.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from slowcheck.errors import ConfigError
from slowcheck.live import Board, serve
from slowcheck.proxy.judge import Judge
from slowcheck.proxy.recording import Recorder, Relayed, fingerprint, redacted_headers
from slowcheck.proxy.tally import Finding
from slowcheck.proxy.wire import Answer, Asked, Server, Upstream
from slowcheck.target_url import api_root

__all__ = ["Proxy", "ProxySettings", "running"]


@dataclass(frozen=True)
class ProxySettings:
    upstream: str
    host: str = "127.0.0.1"
    port: int = 8788
    record: Path | None = None
    webhook_forward: str | None = None
    webhook_port: int = 8789
    upstream_timeout: float = 600.0
    """Seconds of silence from the upstream before the proxy gives up on an answer (the OpenAI SDKs' own
    default timeout); the application sees a reset, and API-ANSWERED a finding."""
    metrics_port: str | None = None
    """``[HOST:]PORT`` where the live figures are served (None: not served)."""


class Proxy:
    def __init__(self, settings: ProxySettings, on_finding: Callable[[Finding], None] | None = None) -> None:
        self.settings = settings
        # The root without /v1: every path the application asks for (/v1/..., /_mock/...) is appended to it.
        self.upstream = Upstream(api_root(settings.upstream), timeout=settings.upstream_timeout)
        self.hooks = Upstream(settings.webhook_forward, timeout=30.0) if settings.webhook_forward else None
        self.judge = Judge(on_finding)
        self.board = Board()
        self.board.pull(self.judge.live)
        self.metrics_url: str | None = None
        self._stop_metrics: Callable[[], None] | None = None
        self.recorder: Recorder | None = None
        self.started = time.time()
        self._index = 0
        self._servers: list[Server] = []
        self.port = settings.port
        self.webhook_port: int | None = None

    async def start(self) -> None:
        if self.settings.record is not None:
            self.recorder = Recorder(self.settings.record, self.settings.upstream, self.started)
        api = Server(self._api, self.settings.host, self.settings.port)
        self._servers.append(api)
        try:
            self.port = await api.start()
            if self.hooks is not None:
                hooks = Server(self._hook, self.settings.host, self.settings.webhook_port)
                self._servers.append(hooks)
                self.webhook_port = await hooks.start()
        except OSError as exc:
            await self.stop()
            raise ConfigError(f"cannot listen on {self.settings.host}: {exc.strerror or exc}") from None
        if self.settings.metrics_port is not None:
            try:
                self.metrics_url, self._stop_metrics = serve(self.board, self.settings.metrics_port)
            except ConfigError:
                await self.stop()
                raise

    async def stop(self) -> None:
        if self._stop_metrics is not None:
            self._stop_metrics()
            self._stop_metrics = None
        for server in self._servers:
            await server.stop()
        await self.upstream.close()
        if self.hooks is not None:
            await self.hooks.close()
        if self.recorder is not None:
            self.recorder.close()

    @property
    def url(self) -> str:
        return f"http://{self.settings.host}:{self.port}"

    async def _api(self, asked: Asked, writer: asyncio.StreamWriter) -> bool:
        answer = await self.upstream.relay(asked, asked.target, writer)
        self._record("api", asked, answer)
        return answer.keep_alive and answer.failure is None

    async def _hook(self, asked: Asked, writer: asyncio.StreamWriter) -> bool:
        assert self.hooks is not None
        answer = await self.hooks.relay(asked, "", writer)  # every delivery goes to the receiver's own URL
        self._record("webhook", asked, answer)
        return answer.keep_alive and answer.failure is None

    def _record(self, kind: str, asked: Asked, answer: Answer) -> None:
        authorization = next((v.decode("latin-1") for k, v in asked.headers if k.lower() == b"authorization"), None)
        if authorization and self.recorder is not None:
            self.recorder.keys.add(authorization.split(" ", 1)[-1].strip())
        exchange = Relayed(
            self._index, kind, asked.started, answer.ended or time.time(), asked.method, asked.target,
            fingerprint(authorization), answer.status if answer.failure is None or answer.complete else 0,
            redacted_headers(asked.headers), asked.body, redacted_headers(answer.headers), bytes(answer.body),
            answer.failure,
        )  # fmt: skip
        self._index += 1
        if self.recorder is not None:
            self.recorder.write(exchange)
        self.judge.judge(exchange)


@contextlib.contextmanager
def running(settings: ProxySettings, on_finding: Callable[[Finding], None] | None = None) -> Iterator[Proxy]:
    """The proxy on its own event loop in a thread, until the block ends (for tests and embedding)."""
    loop = asyncio.new_event_loop()
    proxy = Proxy(settings, on_finding)
    ready = threading.Event()
    failed: list[BaseException] = []

    def serve() -> None:
        asyncio.set_event_loop(loop)
        try:
            loop.run_until_complete(proxy.start())
        except BaseException as exc:  # reported to the caller's thread
            failed.append(exc)
            ready.set()
            return
        ready.set()
        loop.run_forever()
        loop.run_until_complete(proxy.stop())
        loop.close()

    thread = threading.Thread(target=serve, name="slowcheck-proxy", daemon=True)
    thread.start()
    ready.wait(30)
    if failed:
        raise failed[0]
    try:
        yield proxy
    finally:
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=30)
