"""The harness's webhook receiver: completion events handed to a tracker as they arrive."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from gevent.pywsgi import WSGIServer

from slowcheck import api
from slowcheck.load import answers

__all__ = ["HookReceiver"]

_COMPLETED_EVENTS = frozenset({"generation.completed", "async-embedding.completed"})


class HookReceiver:
    """The harness's webhook receiver on 127.0.0.1: hands each ``generation.completed`` event to ``deliver``.

    It answers the sender's OPTIONS readiness check, and 200 to every POST, so nothing is retried.
    """

    def __init__(self, port: int, deliver: Callable[[str, dict[str, Any], float], None]) -> None:
        self.deliver = deliver
        self.server = WSGIServer(("127.0.0.1", port), self._app, log=None, error_log=None)
        self.server.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_port}/hook"

    def stop(self) -> None:
        self.server.stop(timeout=1)

    def _app(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
        seen = time.time()
        if environ["REQUEST_METHOD"] == "POST":
            size = int(environ.get("CONTENT_LENGTH") or 0)
            event = answers.load_json(environ["wsgi.input"].read(size))
            if isinstance(event, dict) and event.get("event") in _COMPLETED_EVENTS:
                generation_id, data = api.event_id(event), event.get("data")
                if generation_id is not None:
                    self.deliver(generation_id, data if isinstance(data, dict) else {}, seen)
        start_response("200 OK", [("Content-Type", "application/json"), ("Allow", "POST, OPTIONS")])
        return [b"{}"]
