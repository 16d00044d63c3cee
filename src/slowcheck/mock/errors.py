"""OpenAI error envelopes: every 4xx and 5xx the mock sends is one of these."""

from __future__ import annotations

import secrets

from starlette.responses import Response

from slowcheck import _json

__all__ = ["ApiError", "with_request_id"]


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


def with_request_id(headers: dict[str, str] | None) -> dict[str, str]:
    """Every answer carries an ``x-request-id``; set here, where every answer is built, not in a middleware."""
    out = {"x-request-id": f"req_{secrets.token_hex(12)}"}
    if headers:
        out.update(headers)
    return out
