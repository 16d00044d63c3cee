"""The baseline: a bare Starlette app answering a constant JSON body, served like the mock (uvicorn, 1 worker)."""

from __future__ import annotations

import itertools

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

BODY = b'{"id":"N2mZQjrvh-k_m8nMMN7Jn","choices":[],"created":1749061362809,"model":"m","object":"chat.completion"}'


async def constant(request: Request) -> Response:
    await request.body()
    return Response(BODY, media_type="application/json")


RECORD = (
    b'{"id":"N2mZQjrvh-k_m8nMMN7Jn","state":"Success","stateMessage":"ok","request":{"model":"m"},'
    b'"response":{"id":"N2mZQjrvh-k_m8nMMN7Jn","object":"chat.completion","created":1749061363,"model":"m",'
    b'"choices":[{"index":0,"message":{"role":"assistant","content":"ok"},"finish_reason":"stop"}],'
    b'"usage":{"prompt_tokens":9,"completion_tokens":1,"total_tokens":10}},'
    b'"dispatchedAt":"2025-06-04T18:22:43.000Z","finishedAt":"2025-06-04T18:22:43.500Z"}'
)


_ACK = BODY.split(b'"N2mZQjrvh-k_m8nMMN7Jn"')
_ids = itertools.count()


async def record(request: Request) -> Response:
    return Response(RECORD, media_type="application/json")


async def fresh_ack(request: Request) -> Response:
    """The constant ack with an id of its own: a harness tracks jobs by id."""
    await request.body()
    return Response(_ACK[0] + b'"%d"' % next(_ids) + _ACK[1], media_type="application/json")


app = Starlette(routes=[Route("/{path:path}", constant, methods=["GET", "POST"])])
jobs_app = Starlette(
    routes=[Route("/v1/generation/{id}", record, methods=["GET"]), Route("/{path:path}", fresh_ack, methods=["POST"])]
)
"""For the jobs scenario: every generation is already done, so each job is one submission and one poll."""
