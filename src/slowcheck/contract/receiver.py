"""The suite's own webhook receiver: a small threaded HTTP server that records every request.

It answers OPTIONS with 200 (the documented readiness check) and POSTs with 200, except for subjects
told to fail first (to see the sender retry).
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from slowcheck import api

__all__ = ["Delivery", "Receiver"]


@dataclass(frozen=True, slots=True)
class Delivery:
    method: str
    headers: dict[str, str]
    body: Any
    at: float


class Receiver:
    def __init__(self, port: int = 0) -> None:
        self.deliveries: list[Delivery] = []
        self.fail_first: dict[str, int] = {}
        """subject id -> status to answer on its first POST"""
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_OPTIONS(self) -> None:
                receiver._record("OPTIONS", self, None)
                self.send_response(200)
                self.send_header("Access-Control-Allow-Methods", "POST, OPTIONS")
                self.send_header("Content-Length", "0")
                self.end_headers()

            def do_POST(self) -> None:
                raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                try:
                    body = json.loads(raw)
                except ValueError:
                    body = raw.decode("utf-8", "replace")
                status = receiver._record("POST", self, body)
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, name="slowcheck-receiver", daemon=True)

    @property
    def url(self) -> str:
        port = self._server.server_address[1]
        return f"http://127.0.0.1:{port}/hook"

    def __enter__(self) -> Receiver:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    def _record(self, method: str, handler: BaseHTTPRequestHandler, body: Any) -> int:
        headers = {k.lower(): v for k, v in handler.headers.items()}
        with self._lock:
            self.deliveries.append(Delivery(method, headers, body, time.time()))
            if method == "POST":
                subject = _subject(body)
                status = self.fail_first.pop(subject, None) if subject else None
                return status or 200
            return 200

    def posts_for(self, subject: str) -> list[Delivery]:
        with self._lock:
            return [d for d in self.deliveries if d.method == "POST" and _subject(d.body) == subject]

    def wait_for(self, subject: str, count: int, timeout: float) -> list[Delivery]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = self.posts_for(subject)
            if len(found) >= count:
                return found
            time.sleep(0.02)
        return self.posts_for(subject)


def _subject(body: Any) -> str | None:
    return api.event_id(body) or api.event_id(body, "group")
