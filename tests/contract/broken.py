"""Broken servers for the contract suite to catch: the mock, with one answer rewritten on the way out."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send


@dataclass
class Exchange:
    method: str
    path: str
    headers: dict[str, str]
    request: Any
    status: int
    body: Any


@dataclass
class Answer:
    """What to answer instead: a status and a JSON body, optionally later, optionally with another Content-Type."""

    status: int
    body: Any
    delay: float = 0.0
    content_type: str | None = None

    @classmethod
    def of(cls, changed: Answer | tuple[Any, ...]) -> Answer:
        return changed if isinstance(changed, Answer) else cls(*changed)


class JsonLines(list[Any]):
    """A JSON Lines answer (a batch's result file), parsed line by line; written back the same way."""

    @classmethod
    def parse(cls, raw: bytes) -> JsonLines | None:
        try:
            return cls(json.loads(line) for line in raw.splitlines() if line.strip()) if raw.strip() else None
        except ValueError:
            return None


def _encode(body: Any) -> bytes:
    if isinstance(body, JsonLines):
        return b"".join(json.dumps(line).encode() + b"\n" for line in body)
    return json.dumps(body).encode()


# Returns (status, body), (status, body, seconds) or an Answer to answer instead, or None to leave it alone.
Mutation = Callable[[Exchange], "Answer | tuple[int, Any] | tuple[int, Any, float] | None"]


class Broken:
    """Wraps an ASGI app; every JSON answer passes through ``mutate``."""

    def __init__(self, app: ASGIApp, mutate: Mutation, *, log: list[tuple[str, Exchange]] | None = None) -> None:
        self.app, self.mutate = app, mutate
        self.crashes: list[str] = []
        self.tag = "preflight"
        """What the suite is doing as a request arrives (a share's preparation, a rule's check), set by the test."""
        self.log = log
        """Where each exchange is kept under its tag, as the server answered it (before ``mutate``)."""
        self.state = getattr(app, "state", None)
        self.router = getattr(app, "router", None)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        chunks: list[bytes] = []

        async def recording_receive() -> Message:
            message = await receive()
            chunks.append(message.get("body", b""))
            return message

        start: dict[str, Any] = {}
        body: list[bytes] = []

        async def capture(message: Message) -> None:
            if message["type"] == "http.response.start":
                start.update(message)
            else:
                body.append(message.get("body", b""))

        await self.app(scope, recording_receive, capture)
        raw_request = b"".join(chunks)
        try:
            request: Any = json.loads(raw_request) if raw_request else None
        except (ValueError, RecursionError):
            request = raw_request.decode("utf-8", "replace")
        try:
            answer: Any = json.loads(b"".join(body))
        except ValueError:
            answer = JsonLines.parse(b"".join(body))
        headers = {k.decode(): v.decode() for k, v in scope["headers"]}
        exchange = Exchange(scope["method"], scope["path"], headers, request, start["status"], answer)
        if self.log is not None:
            self.log.append((self.tag, exchange))
        changed = None
        if answer is not None:
            try:
                changed = self.mutate(exchange)
            except Exception as exc:  # a breakage that breaks itself: the self-test fails on it, not the rule
                self.crashes.append(f"{type(exc).__name__}: {exc} on {scope['method']} {scope['path']}")
        answer_as = Answer(start["status"], None) if changed is None else Answer.of(changed)
        payload = b"".join(body) if changed is None else _encode(answer_as.body)
        if answer_as.delay:
            await asyncio.sleep(answer_as.delay)
        kept = [(k, v) for k, v in start.get("headers", []) if k.lower() != b"content-length"]
        if answer_as.content_type is not None:
            kept = [(k, v) for k, v in kept if k.lower() != b"content-type"]
            kept.append((b"content-type", answer_as.content_type.encode()))
        await send(
            {
                "type": "http.response.start",
                "status": answer_as.status,
                "headers": [*kept, (b"content-length", str(len(payload)).encode())],
            }
        )
        await send({"type": "http.response.body", "body": payload})
