"""The proxy changes nothing that passes: bytes compared with a direct request, failures mirrored."""

from __future__ import annotations

import contextlib
import socket
import socketserver
import struct
import threading
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response, StreamingResponse
from starlette.routing import Route

from slowcheck.background import serve_in_background
from slowcheck.proxy.server import ProxySettings, running
from slowcheck.proxy.tally import Finding

pytestmark = pytest.mark.slow  # a real upstream and proxy on sockets
ENVELOPE = {"error": {"message": "nope", "type": "invalid_request_error", "param": None, "code": "not_found"}}


async def _ack(request: Request) -> Response:
    await request.body()
    body = b'{"id":"G1","object":"chat.completion","created":1796000000000,"model":"m","choices":[]}'
    return Response(body, media_type="application/json", headers={"X-Custom": "Kept As Is", "x-request-id": "r1"})


async def _chunks(request: Request) -> Response:
    async def parts() -> Any:
        for part in (b'{"id":', b'"G2","state":"Queued",', b'"request":{}}'):
            yield part

    return StreamingResponse(parts(), media_type="application/json")


async def _too_large(request: Request) -> Response:
    await request.body()
    return JSONResponse({"error": {**ENVELOPE["error"], "code": "too_large"}}, status_code=413)


async def _limited(request: Request) -> Response:
    return JSONResponse(ENVELOPE, status_code=429, headers={"Retry-After": "3", "retry-after-ms": "2500"})


UPSTREAM = Starlette(
    routes=[
        Route("/v1/slow/chat/completions", _ack, methods=["POST"]),
        Route("/v1/generation/chunked", _chunks),
        Route("/v1/generation/missing", lambda r: JSONResponse(ENVELOPE, status_code=404)),
        Route("/v1/slow/completions", _too_large, methods=["POST"]),
        Route("/v1/limited", _limited),
        Route("/v1/plain", lambda r: PlainTextResponse("hello, not JSON")),
    ]
)
REQUESTS = [
    b"POST /v1/slow/chat/completions HTTP/1.1\r\nHost: h\r\nContent-Type: application/json\r\n"
    b"Authorization: Bearer sk-x\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}",
    b"GET /v1/generation/chunked HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n",
    b"GET /v1/generation/missing HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n",
    b"POST /v1/slow/completions HTTP/1.1\r\nHost: h\r\nContent-Length: 100000\r\nConnection: close\r\n\r\n"
    + b"x" * 100_000,
    b"GET /v1/limited HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n",
    b"GET /v1/plain HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n",
]


def _raw(port: int, request: bytes) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(request)
        received = b""
        while chunk := sock.recv(65536):
            received += chunk
    # The only header that may differ between two answers of the same server: the second it was sent in.
    return b"\r\n".join(line for line in received.split(b"\r\n") if not line.lower().startswith(b"date:"))


def test_the_answer_is_byte_for_byte_what_the_upstream_sent() -> None:
    found: list[Finding] = []
    with serve_in_background(UPSTREAM, name="upstream") as url:
        port = int(url.rsplit(":", 1)[1])
        with running(ProxySettings(upstream=url + "/v1", port=0), found.append) as proxy:
            for request in REQUESTS:
                direct, proxied = _raw(port, request), _raw(proxy.port, request)
                assert proxied == direct, request[:40]
                assert proxied.startswith(b"HTTP/1.1 ")
    assert b"x-custom: Kept As Is" in _raw_once(REQUESTS[0])
    assert b"retry-after: 3" in _raw_once(REQUESTS[4])
    # Judged on the way (these bodies are no valid API traffic), never changed: the 200 labelled text/plain is
    # found, and every request was answered.
    checks = {f.check for f in found}
    assert "API-CONTENT-TYPE" in checks
    assert "API-ANSWERED" not in checks


def _raw_once(request: bytes) -> bytes:
    with serve_in_background(UPSTREAM, name="upstream") as url:
        return _raw(int(url.rsplit(":", 1)[1]), request)


class _Misbehaving(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, how: str) -> None:
        self.how = how
        self.release = threading.Event()
        super().__init__(("127.0.0.1", 0), _Handler)


class _Handler(socketserver.BaseRequestHandler):
    def handle(self) -> None:
        server: _Misbehaving = self.server  # type: ignore[assignment]
        received = b""
        while b"\r\n\r\n{}" not in received:  # the whole request (its body is {}): what follows is no race
            received += self.request.recv(65536)
        if server.how == "hang":
            server.release.wait(30)
        elif server.how == "reset":
            self.request.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.request.close()  # now, with a linger of 0: a RST, before socketserver's own orderly shutdown
        else:
            self.request.sendall(b"SSH-2.0-OpenSSH_9.6 this is no HTTP\r\n\r\n")


@contextlib.contextmanager
def _misbehaving(how: str) -> Iterator[int]:
    server = _Misbehaving(how)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield int(server.server_address[1])
    finally:
        server.release.set()
        server.shutdown()
        server.server_close()


def _failure(url: str) -> str:
    try:
        httpx.post(f"{url}/v1/slow/chat/completions", json={}, timeout=1.0)
    except httpx.HTTPError as exc:
        return type(exc).__name__
    return "answered"


@pytest.mark.parametrize("how", ["hang", "reset", "garbage"])
def test_an_upstream_that_misbehaves_fails_the_client_as_it_would_directly(how: str) -> None:
    found: list[Finding] = []
    noticed = threading.Event()

    def seen(finding: Finding) -> None:
        found.append(finding)
        noticed.set()

    with _misbehaving(how) as port:
        direct = _failure(f"http://127.0.0.1:{port}")
        with running(ProxySettings(upstream=f"http://127.0.0.1:{port}/v1", port=0, upstream_timeout=1.5), seen) as p:
            proxied = _failure(p.url)
            assert noticed.wait(10), "the proxy reports what the upstream did"
    assert direct != "answered"
    assert proxied == direct
    assert [f.check for f in found] == ["API-ANSWERED"]
    assert {"hang": "no answer within", "reset": "reset", "garbage": "not HTTP"}[how] in found[0].message
