"""One exchange relayed by the proxy (:class:`Relayed`), and the recording format: JSON Lines, versioned, with no
key in it.

A recording starts with a header line, then one exchange a line::

    {"slowcheck_recording": 1, "upstream": "https://api.inference.net/v1", "started": 1796090540.88}
    {"i": 0, "kind": "api", "t": 1796090540.9, "ms": 2.1, "client": "c1f0e2d3a4b5", "method": "POST",
     "path": "/v1/slow/chat/completions", "status": 200, "failure": null,
     "request": {"headers": {...}, "body": "..."}, "response": {"headers": {...}, "body": "..."}}

``kind`` is ``api`` (the application's request and the API's answer) or ``webhook`` (the API's delivery and
the application's answer). ``client`` is a fingerprint of the API key, never the key: ``Authorization`` and
every other credential header are removed before anything is written, and any key the proxy saw is blanked
wherever else it appears. A body that is not UTF-8 is written as ``body_base64``. Header names are lower-case.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from slowcheck import _json
from slowcheck.errors import ConfigError

__all__ = ["FORMAT", "Recorder", "Relayed", "fingerprint", "read", "redacted_headers"]

FORMAT = 1
"""The recording format's version; a reader refuses a newer one by name."""
SECRET_HEADERS = frozenset({"authorization", "proxy-authorization", "api-key", "x-api-key", "cookie"})
_BLANK = "[redacted]"


@dataclass(slots=True)
class Relayed:
    """One request and its answer as the proxy relayed them (or a recording kept them), or one webhook delivery
    and the application's answer."""

    index: int
    kind: str
    """``api`` or ``webhook``."""
    started: float
    ended: float
    method: str
    path: str
    client: str
    """Fingerprint of the key that sent it (``""`` without one)."""
    status: int
    """0 when no HTTP answer came."""
    request_headers: dict[str, str]
    request_body: bytes
    response_headers: dict[str, str]
    response_body: bytes
    failure: str | None = None
    _json_cache: dict[str, Any] = field(default_factory=dict, repr=False)

    def request_json(self) -> Any:
        return self._parsed("request", self.request_body)

    def response_json(self) -> Any:
        return self._parsed("response", self.response_body)

    def _parsed(self, which: str, body: bytes) -> Any:
        if which not in self._json_cache:
            try:
                self._json_cache[which] = _json.loads(body) if body else None
            except ValueError:
                self._json_cache[which] = None
        return self._json_cache[which]

    def to_json(self, keys: Iterable[str] = ()) -> dict[str, Any]:
        return {
            "i": self.index, "kind": self.kind, "t": round(self.started, 6),
            "ms": round((self.ended - self.started) * 1000, 3), "client": self.client, "method": self.method,
            "path": self.path, "status": self.status, "failure": self.failure,
            "request": _part(self.request_headers, self.request_body, keys),
            "response": _part(self.response_headers, self.response_body, keys),
        }  # fmt: skip

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Relayed:
        return cls(
            int(data["i"]), str(data["kind"]), float(data["t"]), float(data["t"]) + float(data["ms"]) / 1000,
            str(data["method"]), str(data["path"]), str(data.get("client") or ""), int(data["status"]),
            dict(data["request"]["headers"]), _body(data["request"]), dict(data["response"]["headers"]),
            _body(data["response"]), data.get("failure"),
        )  # fmt: skip


def fingerprint(authorization: str | None) -> str:
    """Who sent a request, without the key: 12 hex digits of its hash."""
    if not authorization:
        return ""
    key = authorization.split(" ", 1)[-1].strip()
    return hashlib.sha256(key.encode()).hexdigest()[:12]


def redacted_headers(raw: Iterable[tuple[bytes, bytes]]) -> dict[str, str]:
    """Lower-case names, credential headers removed (a repeated header's values joined with a comma)."""
    headers: dict[str, str] = {}
    for name, value in raw:
        key = name.decode("latin-1").lower()
        if key in SECRET_HEADERS:
            continue
        text = value.decode("latin-1")
        headers[key] = f"{headers[key]}, {text}" if key in headers else text
    return headers


def _part(headers: dict[str, str], body: bytes, keys: Iterable[str]) -> dict[str, Any]:
    for key in keys:
        if key and key.encode() in body:
            body = body.replace(key.encode(), _BLANK.encode())
    try:
        return {"headers": headers, "body": body.decode("utf-8")}
    except UnicodeDecodeError:
        return {"headers": headers, "body_base64": base64.b64encode(body).decode()}


def _body(part: dict[str, Any]) -> bytes:
    if "body_base64" in part:
        return base64.b64decode(part["body_base64"])
    return str(part.get("body") or "").encode("utf-8")


class Recorder:
    """Streams exchanges to a recording as they happen (flushed with each line: a stopped proxy loses none)."""

    def __init__(self, path: Path, upstream: str, started: float) -> None:
        try:
            self._handle: IO[bytes] = path.open("wb")
        except OSError as exc:
            raise ConfigError(f"--record {path}: {exc.strerror or exc}") from None
        self._write({"slowcheck_recording": FORMAT, "upstream": upstream, "started": started})
        self.keys: set[str] = set()

    def write(self, exchange: Relayed) -> None:
        self._write(exchange.to_json(self.keys))

    def _write(self, document: dict[str, Any]) -> None:
        self._handle.write(_json.dumps(document) + b"\n")
        self._handle.flush()

    def close(self) -> None:
        self._handle.close()


def read(path: Path) -> tuple[dict[str, Any], Iterator[Relayed]]:
    """A recording's header and its exchanges, read a line at a time (a torn last line is skipped)."""
    try:
        handle = path.open("rb")
    except OSError as exc:
        raise ConfigError(f"--from-recording {path}: {exc.strerror or exc}") from None
    first = handle.readline()
    try:
        header = _json.loads(first)
    except ValueError:
        header = None
    if not isinstance(header, dict) or "slowcheck_recording" not in header:
        handle.close()
        raise ConfigError(f"--from-recording {path}: not a slowcheck recording (its first line has no header)")
    if header["slowcheck_recording"] != FORMAT:
        handle.close()
        raise ConfigError(
            f"--from-recording {path}: format {header['slowcheck_recording']}, this slowcheck reads {FORMAT}"
        )

    def exchanges() -> Iterator[Relayed]:
        with handle:
            for number, line in enumerate(handle, 2):
                try:
                    yield Relayed.from_json(_json.loads(line))
                except (ValueError, KeyError, TypeError):
                    if handle.peek(1):  # more follows: a broken line inside the file, not a torn last one
                        raise ConfigError(f"--from-recording {path}:{number}: not an exchange") from None
                    return  # a torn last line: the proxy was stopped mid-write

    return header, exchanges()
