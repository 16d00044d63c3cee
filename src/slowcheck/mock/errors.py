"""The mock's answers: the JSON answer every response is, and the OpenAI error envelope of every 4xx and 5xx."""

from __future__ import annotations

from starlette.responses import Response

from slowcheck import _json
from slowcheck.mock.ids import request_id

__all__ = ["ApiError", "JsonAnswer", "excerpt", "internal_error", "json_answer"]

_MESSAGE_CHARS = 400
"""An error message never grows with what was sent: past this, it is cut."""


class ApiError(Exception):
    """An answer that is an error: raised anywhere in a handler, rendered as the OpenAI envelope."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        type: str = "invalid_request_error",
        param: str | None = None,
        code: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        message = message if len(message) <= _MESSAGE_CHARS else message[: _MESSAGE_CHARS - 1] + "…"
        param = param if param is None or len(param) <= 120 else param[:119] + "…"
        super().__init__(message)
        self.status, self.message, self.type, self.param, self.code = status, message, type, param, code
        self.headers = headers or {}

    def response(self) -> Response:
        body = {"error": {"message": self.message, "type": self.type, "param": self.param, "code": self.code}}
        return JsonAnswer(_json.dumps(body), self.status, self.headers)


class JsonAnswer(Response):
    """Every answer the mock sends: a JSON body with its ``x-request-id`` (set here, where every answer is
    built, not in a middleware). Its header list is built directly: Starlette's general header building was
    a measurable share of an ack under load."""

    media_type = "application/json"

    def __init__(self, body: bytes, status_code: int = 200, headers: dict[str, str] | None = None) -> None:
        self.status_code = status_code
        self.background = None
        self.body = body
        raw = [
            (b"content-length", b"%d" % len(body)),
            (b"content-type", b"application/json"),
            (b"x-request-id", request_id().encode()),
        ]
        if headers:
            raw += [(name.lower().encode("latin-1"), value.encode("latin-1")) for name, value in headers.items()]
        self.raw_headers = raw


def json_answer(content: object, *, headers: dict[str, str] | None = None) -> JsonAnswer:
    """A 200 answer of ``content`` as JSON."""
    return JsonAnswer(_json.dumps(content), headers=headers)


def internal_error(exc: Exception) -> ApiError:
    """The 500 of a handler that failed, naming the exception's type."""
    return ApiError(500, f"The mock failed: {type(exc).__name__}.", type="server_error", code="internal_error")


def excerpt(value: object, limit: int = 60) -> str:
    """What was sent, quoted for an error message: escaped (control characters, lone surrogates) and short."""
    text = value if isinstance(value, str) else str(value)
    return repr(text[:limit]) + ("…" if len(text) > limit else "")
