"""The retry lab: a recording proxy in front of the target, for the two rows only a server can measure.

``/{run}/retry-429/...``: the first attempt is answered 429 with ``retry-after: 1`` and ``retry-after-ms: 300``
(the headers the mock and OpenAI send); later ones are forwarded. ``/{run}/lost-ack/...``: the first attempt is
forwarded, and so enqueued, but its ack is replaced by a 500, as if lost on the way back; later ones are
forwarded. Every attempt is recorded with its time, so waits and duplicate enqueues are measured here, not
taken from the client's word.
"""

from __future__ import annotations

import contextlib
import time
from collections import defaultdict
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from slowcheck import _json
from slowcheck.background import serve_in_background
from slowcheck.network import Network

__all__ = ["ASKED_WAIT_S", "Attempt", "Lab", "running_lab"]

RETRY_HEADERS = {"retry-after": "1", "retry-after-ms": "300"}
ASKED_WAIT_S = 0.3
"""What the lab's 429 asks for: retry-after-ms wins over Retry-After where a client reads both."""
_FORWARDED = ("authorization", "content-type", "idempotency-key", "accept")


@dataclass
class Attempt:
    at: float
    idempotency_key: bool
    forwarded_status: int | None = None
    generation_id: str | None = None


class Lab:
    def __init__(self, root: str, network: Network | None = None) -> None:
        self.root = root
        self.network = network or Network()
        """How the lab reaches the target: its trust, client certificate and --header's headers (added here, so
        what the probes send the lab needs none of them)."""
        self.attempts: defaultdict[tuple[str, str], list[Attempt]] = defaultdict(list)
        self.client: httpx.AsyncClient | None = None

    def app(self) -> Starlette:
        @contextlib.asynccontextmanager
        async def lifespan(_: Starlette) -> AsyncIterator[None]:
            async with httpx.AsyncClient(base_url=self.root, timeout=30, **self.network.httpx_options()) as client:
                self.client = client
                yield

        route = Route("/{run}/{scenario}/{rest:path}", self.handle, methods=["GET", "POST"])
        return Starlette(routes=[route], lifespan=lifespan)

    async def handle(self, request: Request) -> Response:
        run, scenario, rest = (request.path_params[k] for k in ("run", "scenario", "rest"))
        log = self.attempts[(run, scenario)]
        attempt = Attempt(time.time(), "idempotency-key" in request.headers)
        log.append(attempt)
        first = len(log) == 1
        if scenario == "retry-429" and first:
            error = {"message": "Rate limit reached (lab).", "type": "rate_limit_error", "param": None,
                     "code": "rate_limit_exceeded"}  # fmt: skip
            return JSONResponse({"error": error}, status_code=429, headers=RETRY_HEADERS)
        assert self.client is not None
        headers = {k: v for k, v in request.headers.items() if k in _FORWARDED}
        upstream = await self.client.request(request.method, "/" + rest, content=await request.body(), headers=headers)
        attempt.forwarded_status = upstream.status_code
        if upstream.is_success:
            with contextlib.suppress(ValueError):
                document = _json.loads(upstream.content)
                attempt.generation_id = document.get("id") if isinstance(document, dict) else None
        if scenario == "lost-ack" and first:
            error = {"message": "The ack was lost on the way back (lab).", "type": "server_error", "param": None,
                     "code": None}  # fmt: skip
            return JSONResponse({"error": error}, status_code=500)
        kept = {k: v for k, v in upstream.headers.items() if k in ("content-type", "x-request-id")}
        return Response(upstream.content, status_code=upstream.status_code, headers=kept)

    def log(self, run: str, scenario: str) -> list[Attempt]:
        return list(self.attempts.get((run, scenario), []))


@contextlib.contextmanager
def running_lab(root: str, network: Network | None = None) -> Iterator[tuple[Lab, str]]:
    lab = Lab(root, network)
    with serve_in_background(lab.app(), name="retry lab") as url:
        yield lab, url
