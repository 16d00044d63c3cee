"""How slowcheck reaches a target: the system's trust store and proxies, a private CA, a client certificate, and
a gateway's own headers, declared once and honoured by every command."""

from __future__ import annotations

import ssl

__all__ = ["failure"]


def failure(exc: BaseException) -> str:
    """Why a request never got an answer, in one line; a TLS failure names the flag that fixes it."""
    cause = _ssl_error(exc)
    if isinstance(cause, ssl.SSLCertVerificationError):
        said = cause.verify_message or cause.reason or "verify failed"
        return (
            f"the certificate is not trusted (CERTIFICATE_VERIFY_FAILED: {said}): pass --ca-bundle FILE or set "
            "SSL_CERT_FILE"
        )
    if cause is not None:
        reason = cause.reason or type(cause).__name__
        hint = ": pass --client-cert FILE and --client-key FILE" if "CERTIFICATE" in reason else ""
        return f"the TLS handshake failed ({reason}){hint}"
    return f"{type(exc).__name__}: {exc}"


def _ssl_error(exc: BaseException) -> ssl.SSLError | None:
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        if isinstance(current, ssl.SSLError):
            return current
        seen.add(id(current))
        current = current.__cause__ or current.__context__
    return None
