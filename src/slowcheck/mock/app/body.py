"""Reading a request's body: JSON only, within the size limit, the rest of a refused body drained first."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any, Protocol

from starlette.requests import ClientDisconnect

from slowcheck import _json
from slowcheck.mock.errors import ApiError, excerpt

__all__ = ["Readable", "drain", "read_json"]

_DRAIN_BYTES = 64 * 1024 * 1024
_DRAIN_SECONDS = 5.0


class Readable(Protocol):
    """What reading a body needs of a request: a Starlette ``Request``, or the fast path's own."""

    @property
    def headers(self) -> Any: ...

    def stream(self) -> AsyncIterator[bytes]: ...

    async def body(self) -> bytes: ...


async def read_json(request: Readable, limit: int) -> tuple[Any, bytes]:
    """The body parsed (strict JSON) and as received; a 400 for another Content-Type or bad JSON, a 413 past
    ``limit`` bytes, declared or counted as a chunked body arrives."""
    content_type = request.headers.get("content-type", "application/json").split(";")[0].strip().lower()
    if content_type and content_type != "application/json" and not content_type.endswith("+json"):
        raise ApiError(
            400, f"Content-Type must be application/json, not {excerpt(content_type)}.", code="invalid_content_type"
        )
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        await drain(request.stream())
        raise _too_large(limit)
    if declared.isdigit():
        raw = await request.body()
    else:  # chunked: count as it arrives
        chunks, size = [], 0
        stream = request.stream()
        async for chunk in stream:
            size += len(chunk)
            if size > limit:
                await drain(stream)
                raise _too_large(limit)
            chunks.append(chunk)
        raw = b"".join(chunks)
    try:
        return _json.loads(raw), raw
    except _json.TooDeep:
        raise ApiError(
            400, f"The body nests arrays and objects deeper than {_json.MAX_DEPTH} levels.", code="too_deep"
        ) from None
    except ValueError as exc:
        raise ApiError(
            400, f"The body is not valid JSON: {str(exc).splitlines()[0][:120]}", code="invalid_json"
        ) from None


async def drain(stream: AsyncIterator[bytes]) -> None:
    """Read and drop the rest of a refused body, up to 64 MB and 5 s: a client that sends its whole body before
    it reads (urllib, requests) then reads the 413 instead of a reset connection. Beyond that, it is reset."""

    async def read() -> None:
        size = 0
        async for chunk in stream:
            size += len(chunk)
            if size > _DRAIN_BYTES:
                return

    try:
        await asyncio.wait_for(read(), _DRAIN_SECONDS)
    except (asyncio.TimeoutError, ClientDisconnect):
        return


def _too_large(limit: int) -> ApiError:
    return ApiError(413, f"The body is larger than {limit} bytes.", code="request_too_large")
