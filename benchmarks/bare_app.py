"""The baseline: a bare Starlette app answering a constant JSON body, served like the mock (uvicorn, 1 worker)."""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

BODY = b'{"id":"N2mZQjrvh-k_m8nMMN7Jn","choices":[],"created":1749061362809,"model":"m","object":"chat.completion"}'


async def constant(request: Request) -> Response:
    await request.body()
    return Response(BODY, media_type="application/json")


app = Starlette(routes=[Route("/{path:path}", constant, methods=["GET", "POST"])])
