"""OpenAI error envelopes: every 4xx and 5xx the mock sends is one of these."""

from __future__ import annotations

from starlette.responses import Response

from slowcheck import _json
from slowcheck.mock.ids import request_id

__all__ = ["ApiError", "excerpt", "with_request_id"]

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
        return Response(
            _json.dumps(body),
            status_code=self.status,
            headers=with_request_id(self.headers),
            media_type="application/json",
        )


def excerpt(value: object, limit: int = 60) -> str:
    """What was sent, quoted for an error message: escaped (control characters, lone surrogates) and short."""
    text = value if isinstance(value, str) else str(value)
    return repr(text[:limit]) + ("…" if len(text) > limit else "")


def with_request_id(headers: dict[str, str] | None) -> dict[str, str]:
    """Every answer carries an ``x-request-id``; set here, where every answer is built, not in a middleware."""
    out = {"x-request-id": request_id()}
    if headers:
        out.update(headers)
    return out
