"""The proxy's wire: HTTP/1.1 from the application, relayed to the upstream, the answer's bytes relayed back as
they arrive.

A request is read whole (the one body the proxy holds), its head rebuilt with the upstream's ``Host`` (every
other header in its order and case) and sent. The answer is not rebuilt at all: its bytes go to the application
as they come, and are parsed on the side (httptools) only to judge them and to know where the answer ends. So
the application gets exactly what the upstream sent, failures included: a reset is relayed as a reset (RST),
a close as a close, bytes that are not HTTP as those bytes, and silence as silence.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import ssl
import struct
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import httptools

from slowcheck.network import Network, failure

__all__ = ["Answer", "Asked", "Server", "Upstream"]

_CHUNK = 256 * 1024
_GARBAGE_GRACE = 1.0
"""After bytes that are not HTTP, the proxy relays whatever else comes for this long, then closes."""


@dataclass(slots=True)
class Asked:
    """A request as the application sent it."""

    method: str
    target: str
    """Path and query, as sent."""
    headers: list[tuple[bytes, bytes]]
    body: bytes
    keep_alive: bool
    started: float = 0.0


@dataclass(slots=True)
class Answer:
    """What came back from the upstream, parsed on the side (the application got the raw bytes)."""

    status: int = 0
    headers: list[tuple[bytes, bytes]] = field(default_factory=list)
    body: bytearray = field(default_factory=bytearray)
    complete: bool = False
    keep_alive: bool = False
    failure: str | None = None
    """None, or what went wrong: the upstream was unreachable, reset, closed early, answered something that is
    not HTTP, or did not answer in time."""
    ended: float = 0.0

    def header(self, name: str) -> str | None:
        wanted = name.lower().encode()
        for key, value in self.headers:
            if key.lower() == wanted:
                return value.decode("latin-1")
        return None


Handler = Callable[[Asked, asyncio.StreamWriter], Awaitable[bool]]


class _Requests:
    """httptools callbacks collecting complete requests from a connection's bytes."""

    def __init__(self) -> None:
        self.parser = httptools.HttpRequestParser(self)
        self.done: deque[Asked] = deque()
        self._url = bytearray()
        self._headers: list[tuple[bytes, bytes]] = []
        self._body: list[bytes] = []

    def on_url(self, url: bytes) -> None:
        self._url += url

    def on_header(self, name: bytes, value: bytes) -> None:
        self._headers.append((name, value))

    def on_body(self, body: bytes) -> None:
        self._body.append(body)

    def on_message_complete(self) -> None:
        parser = self.parser
        self.done.append(
            Asked(
                parser.get_method().decode(),
                self._url.decode("latin-1"),
                self._headers,
                b"".join(self._body),
                parser.should_keep_alive(),
                time.time(),
            )  # fmt: skip
        )
        self._url, self._headers, self._body = bytearray(), [], []


class _Answers:
    """httptools callbacks filling one :class:`Answer`."""

    def __init__(self, head_only: bool) -> None:
        self.parser = httptools.HttpResponseParser(self)
        self.answer = Answer()
        self.head_only = head_only

    def on_header(self, name: bytes, value: bytes) -> None:
        self.answer.headers.append((name, value))

    def on_headers_complete(self) -> None:
        self.answer.status = self.parser.get_status_code()
        if self.head_only:  # an answer to HEAD has no body, whatever its Content-Length says
            self.answer.complete = True

    def on_body(self, body: bytes) -> None:
        self.answer.body += body

    def on_message_complete(self) -> None:
        self.answer.complete = True
        self.answer.keep_alive = self.parser.should_keep_alive() and not self.head_only


class Server:
    """An HTTP/1.1 server handing each complete request to ``handler`` (which writes the answer itself)."""

    def __init__(self, handler: Handler, host: str, port: int) -> None:
        self.handler, self.host, self.port = handler, host, port
        self._server: asyncio.base_events.Server | None = None
        self._connections: set[asyncio.StreamWriter] = set()
        self._tasks: set[asyncio.Task[None]] = set()

    async def start(self) -> int:
        self._server = await asyncio.start_server(self._serve, self.host, self.port, limit=_CHUNK)
        self.port = int(self._server.sockets[0].getsockname()[1])
        return self.port

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            for task in list(self._tasks):
                task.cancel()
            await asyncio.gather(*self._tasks, return_exceptions=True)
            for writer in list(self._connections):
                writer.close()
                with contextlib.suppress(OSError):
                    await writer.wait_closed()
            await self._server.wait_closed()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        if task is not None:
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        self._connections.add(writer)
        requests = _Requests()
        try:
            while True:
                while not requests.done:
                    data = await reader.read(_CHUNK)
                    if not data:
                        return
                    try:
                        requests.parser.feed_data(data)
                    except httptools.HttpParserError:
                        writer.write(_BAD_REQUEST)
                        return
                asked = requests.done.popleft()
                if not await self.handler(asked, writer) or not asked.keep_alive:
                    return
        except (ConnectionError, asyncio.IncompleteReadError):
            return
        except asyncio.CancelledError:
            return  # the proxy stops: a connection handler that re-raised would be logged as crashed by asyncio
        finally:
            self._connections.discard(writer)
            if not writer.is_closing():
                writer.close()


_BAD_REQUEST = (
    b"HTTP/1.1 400 Bad Request\r\nContent-Type: application/json\r\nConnection: close\r\nContent-Length: 88\r\n\r\n"
    b'{"error":{"message":"the proxy could not read an HTTP request","type":"invalid_request"}}'
)


@dataclass(slots=True)
class _Connection:
    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter
    reused: bool = False


class Upstream:
    """Connections to one upstream (``http(s)://host[:port][/prefix]``), kept alive and reused; reached as
    ``network`` says (its trust and client certificate, and its headers on every request, over any the
    application sent of the same names)."""

    def __init__(self, url: str, *, timeout: float | None = None, network: Network | None = None) -> None:
        parts = urlsplit(url)
        self.scheme = parts.scheme
        self.host = parts.hostname or "127.0.0.1"
        self.port = parts.port or (443 if parts.scheme == "https" else 80)
        self.prefix = parts.path.rstrip("/")
        self.authority = parts.netloc.encode()
        self.timeout = timeout
        network = network or Network()
        self._ssl = network.ssl_context() if parts.scheme == "https" else None
        self._own = {name.lower().encode() for name, _ in network.headers}
        self._extra = [f"{name}: {value}".encode() for name, value in network.headers]
        self._idle: list[_Connection] = []

    async def close(self) -> None:
        for connection in self._idle:
            connection.writer.close()
        for connection in self._idle:
            with contextlib.suppress(OSError):
                await connection.writer.wait_closed()
        self._idle.clear()

    async def relay(self, asked: Asked, path: str, client: asyncio.StreamWriter) -> Answer:
        """Send ``asked`` to ``path`` upstream and relay the answer's bytes to ``client`` as they come."""
        head = self._head(asked, path)
        for attempt in (0, 1):
            try:
                connection = await self._acquire()
            except OSError as exc:
                _abort(client)  # the application learns it as it would have: the connection fails
                said = failure(exc) if isinstance(exc, ssl.SSLError) else exc.strerror or exc
                return Answer(failure=f"unreachable: {said}", ended=time.time())
            connection.writer.write(head + asked.body)
            answer, received = await self._read(connection, client, head_only=asked.method == "HEAD")
            # A kept-alive connection the upstream had closed meanwhile: nothing came back, so nothing was relayed.
            if received == 0 and connection.reused and answer.failure is not None and attempt == 0:
                continue
            if answer.keep_alive and answer.failure is None:
                self._idle.append(connection)
            else:
                connection.writer.close()
            return answer
        raise AssertionError("unreachable")

    def _head(self, asked: Asked, path: str) -> bytes:
        lines = [f"{asked.method} {self.prefix + path or '/'} HTTP/1.1".encode("latin-1")]
        chunked = False
        for name, value in asked.headers:
            lowered = name.lower()
            if lowered == b"host":
                value = self.authority
            elif lowered == b"transfer-encoding":
                chunked = True  # the body was read whole: it goes on with its length
                continue
            elif (lowered == b"content-length" and chunked) or lowered in self._own:
                continue
            lines.append(name + b": " + value)
        lines += self._extra
        if chunked:
            lines.append(b"Content-Length: " + str(len(asked.body)).encode())
        return b"\r\n".join(lines) + b"\r\n\r\n"

    async def _acquire(self) -> _Connection:
        while self._idle:
            connection = self._idle.pop()
            if not connection.reader.at_eof() and not connection.writer.is_closing():
                connection.reused = True
                return connection
            connection.writer.close()
        reader, writer = await asyncio.open_connection(
            self.host, self.port, ssl=self._ssl, limit=_CHUNK, server_hostname=self.host if self._ssl else None
        )
        return _Connection(reader, writer)

    async def _read(
        self, connection: _Connection, client: asyncio.StreamWriter, *, head_only: bool
    ) -> tuple[Answer, int]:
        answers = _Answers(head_only)
        answer = answers.answer
        received = 0
        garbage = False
        while not answer.complete:
            wait = _GARBAGE_GRACE if garbage else self.timeout
            try:
                data = await asyncio.wait_for(connection.reader.read(_CHUNK), wait)
            except asyncio.TimeoutError:
                if not garbage:
                    answer.failure = f"no answer within {self.timeout:g} s"
                    _abort(client)
                else:
                    client.close()
                break
            except ConnectionError as exc:
                answer.failure = f"reset: {exc.strerror or type(exc).__name__}"
                if received or not connection.reused:
                    _abort(client)
                break
            if not data:
                if not garbage:
                    answer.failure = "closed before the answer ended" if received else "closed without answering"
                if received or not connection.reused:
                    client.close()
                break
            received += len(data)
            client.write(data)
            if garbage:
                continue
            try:
                answers.parser.feed_data(data)
            except httptools.HttpParserError as exc:
                answer.failure = f"not HTTP: {exc}"
                garbage = True
            except httptools.HttpParserUpgrade:
                answer.failure = "an upgrade the proxy does not follow"
                break
        with contextlib.suppress(ConnectionError):  # the application may have given up first
            await client.drain()
        answer.ended = time.time()
        if garbage:
            client.close()
        return answer, received


def _abort(writer: asyncio.StreamWriter) -> None:
    """Close with a reset (RST), as the upstream did: the application sees what it would have seen directly."""
    sock = writer.get_extra_info("socket")
    if sock is not None:
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        except OSError:
            pass
    writer.transport.abort()
