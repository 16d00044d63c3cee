"""``FastPath``: submissions and polls, the two calls a load test makes by the thousand, skip Starlette's routing
and request objects (half the per-request cost); the same handlers serve them. Everything else, and the
lifespan, goes to the Starlette app. Headers past 32 KiB are refused here, before any route (431)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable

from starlette.applications import Starlette
from starlette.requests import ClientDisconnect
from starlette.types import Receive, Scope, Send

from slowcheck import api
from slowcheck.mock.app.body import drain
from slowcheck.mock.app.generations import Generations
from slowcheck.mock.errors import ApiError, internal_error
from slowcheck.mock.records import Kind

__all__ = ["SUBMIT", "FastPath", "aliased"]

SUBMIT: dict[Kind, str] = {**api.SUBMIT, "embedding": api.EMBEDDINGS}
"""Every single-request endpoint the mock serves: the completions, and embeddings."""
_GENERATION = api.generation("")
_HEADER_BYTES = 32 * 1024
"""All headers together, names included: more is refused with 431 (the HTTP server itself sets no limit)."""


def aliased(prefix: str) -> Callable[[str], str]:
    """An asynchronous path (``/v1/slow/...`` or ``/v1/async/...``) under each prefix the mock serves."""

    def alias(path: str) -> str:
        known = next(p for p in api.SLOW_PREFIXES if path.startswith(p + "/"))
        return prefix + path.removeprefix(known)

    return alias


class _Incoming:
    """What the hot handlers read of a request, without building a Starlette Request."""

    __slots__ = ("headers", "path_params", "_receive")

    def __init__(self, scope: Scope, receive: Receive, path_params: dict[str, str]) -> None:
        # ASGI header names are already lower-case bytes.
        self.headers = {name.decode("latin-1"): value.decode("latin-1") for name, value in scope["headers"]}
        self.path_params = path_params
        self._receive = receive

    async def stream(self) -> AsyncIterator[bytes]:
        while True:
            message = await self._receive()
            if message["type"] == "http.disconnect":
                raise ClientDisconnect()
            yield message.get("body", b"")
            if not message.get("more_body", False):
                return

    async def body(self) -> bytes:
        message = await self._receive()
        if message["type"] == "http.disconnect":
            raise ClientDisconnect()
        first: bytes = message.get("body", b"")
        if not message.get("more_body", False):
            return first  # the usual case: the whole body in one message
        return first + b"".join([chunk async for chunk in self.stream()])


class FastPath:
    """The ASGI app the mock is: its two hot calls dispatched here, the rest to ``app``."""

    def __init__(self, app: Starlette, generations: Generations) -> None:
        self.app = app
        self.state = app.state
        self.router = app.router
        self._submit: dict[str, Kind] = {
            aliased(prefix)(path): kind for prefix in api.SLOW_PREFIXES for kind, path in SUBMIT.items()
        }
        self._generations = generations

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and sum(len(k) + len(v) for k, v in scope["headers"]) > _HEADER_BYTES:
            await drain(_Incoming(scope, receive, {}).stream())
            refused = ApiError(
                431,
                f"The request's headers are larger than {_HEADER_BYTES // 1024} KiB.",
                code="request_header_fields_too_large",
            )
            await refused.response()(scope, receive, send)
            return
        if scope["type"] == "http":
            method, path = scope["method"], scope["path"]
            kind = self._submit.get(path) if method == "POST" else None
            generation_id = path[len(_GENERATION) :] if method == "GET" and path.startswith(_GENERATION) else ""
            if kind is not None or (generation_id and "/" not in generation_id):
                incoming = _Incoming(scope, receive, {"id": generation_id})
                try:
                    if kind is not None:
                        response = await self._generations.submit(incoming, kind)  # type: ignore[arg-type]
                    else:
                        response = await self._generations.poll(incoming)  # type: ignore[arg-type]
                except ApiError as exc:
                    response = exc.response()
                except ClientDisconnect:
                    return
                except Exception as exc:
                    response = internal_error(exc).response()
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)
