"""A finding's requests as a user sends them again: each one kept as it went out (method, URL, headers but the
key, the body's exact bytes) with what it got, and rendered as a ``curl`` command whose key is
``$SLOWCHECK_API_KEY``, never the key itself.

A finding's reproduction (``Violation.reproduction``, in ``results.json``) is ``{"correlation_id", "curl",
"lifecycle", "exchanges"}``: the correlation id its submission carried in ``metadata.slowcheck`` (what to look
for in the provider's logs), the first request's command, whether it is a generation's life (the submit, then
the polls), and every exchange: its request (:func:`step`), its command, and what the answer said (status, the
record's state, a hash and an excerpt of the body).
"""

from __future__ import annotations

import base64
import email.parser
import email.policy
import hashlib
import shlex
from collections.abc import Callable, Iterable, Mapping
from typing import Any, Literal

from slowcheck import api

__all__ = [
    "CORRELATION_KEY",
    "KEY_VARIABLES",
    "MAX_BODY",
    "METADATA_PAIRS",
    "Auth",
    "answered",
    "correlated",
    "curl",
    "payload",
    "reproduction",
    "step",
]

Auth = Literal["key", "second", "none", "other"]
"""Which key a request carried: the run's, the second account's, none, or one the rule made up (a wrong key)."""
KEY_VARIABLES: dict[str, str] = {"key": api.KEY_ENV[0], "second": api.SECOND_KEY_ENV}
"""The environment variable a command names instead of each real key."""
MAX_BODY = 64 * 1024
"""Bytes of a body kept for its reproduction; a larger one (a 10 MiB hostile body) is only measured."""
_EXCERPT = 300
CORRELATION_KEY = "slowcheck"
"""The ``metadata`` key of a submission's correlation id, ``sc-<run>-<n>``."""
METADATA_PAIRS = 16
"""The documented most ``metadata`` pairs (``../shared/api/reference-notes.md``): a body at the limit is sent as is."""


def correlated(method: str, path: str, body: Any, new_id: Callable[[], str]) -> tuple[Any, str | None]:
    """A submission's body (a single one's, or each member of a group's) with a correlation id from ``new_id``
    in ``metadata``, as a copy: any metadata already there kept (an earlier id of ours replaced), a body at the
    documented metadata limit, or whose metadata is not an object, sent as is. Other requests are left alone.
    Returns the body to send and its (first) id."""
    route = api.route(path) if method == "POST" else None
    if route is None or route.surface not in ("submit", "group") or not isinstance(body, dict):
        return body, None
    if route.surface == "submit":
        return _tagged(body, new_id)
    members = body.get("requests")
    if not isinstance(members, list):
        return body, None
    tagged = [_tagged(member, new_id) for member in members]
    first = next((found for _, found in tagged if found), None)
    return body | {"requests": [member for member, _ in tagged]}, first


def _tagged(body: Any, new_id: Callable[[], str]) -> tuple[Any, str | None]:
    metadata = body.get("metadata", {}) if isinstance(body, dict) else None
    if not isinstance(metadata, dict) or len(set(metadata) - {CORRELATION_KEY}) >= METADATA_PAIRS:
        return body, None
    correlation = new_id()
    return body | {"metadata": metadata | {CORRELATION_KEY: correlation}}, correlation


def step(
    method: str,
    url: str,
    path: str,
    headers: Mapping[str, str],
    body: bytes | None,
    auth: Auth,
    *,
    wrong_key: str | None = None,
) -> dict[str, Any]:
    """One request as it went out, JSON-ready: ``headers`` without Authorization (``auth`` says which key it
    carried; ``wrong_key`` is kept only when the rule made it up), the body as text when it is UTF-8, else in
    base64, or only its size beyond :data:`MAX_BODY`."""
    kept: dict[str, Any] = {
        "method": method,
        "url": url,
        "path": path,
        "headers": {k: v for k, v in headers.items() if k.lower() != "authorization"},
        "auth": auth,
    }
    if auth == "other" and wrong_key is not None:
        kept["wrong_key"] = wrong_key
    if body is None:
        return kept
    if len(body) > MAX_BODY:
        kept["body_omitted"] = len(body)
    else:
        try:
            kept["body"] = body.decode("utf-8")
        except UnicodeDecodeError:
            kept["body_base64"] = base64.b64encode(body).decode("ascii")
    return kept


def payload(request: Mapping[str, Any]) -> bytes | None:
    """The exact bytes a kept request sent (None: it had no body, or one too large to keep)."""
    if "body" in request:
        return str(request["body"]).encode("utf-8")
    if "body_base64" in request:
        return base64.b64decode(request["body_base64"])
    return None


def answered(request: Mapping[str, Any], status: int, text: str, json: Any) -> dict[str, Any]:
    """One exchange of a reproduction: the request, its command, and what the answer said."""
    entry: dict[str, Any] = {"request": dict(request), "curl": curl(request), "status": status}
    if isinstance(json, dict) and isinstance(json.get("state"), str):
        entry["state"] = json["state"]
    entry["sha256"] = hashlib.sha256(text.encode("utf-8", "replace")).hexdigest()
    entry["excerpt"] = text[:_EXCERPT]
    return entry


def reproduction(
    exchanges: Iterable[Mapping[str, Any]], *, correlation_id: str | None, lifecycle: bool
) -> dict[str, Any]:
    """A finding's reproduction from its exchanges (each from :func:`answered`), in the order they were sent."""
    listed = [dict(e) for e in exchanges]
    return {
        "correlation_id": correlation_id,
        "curl": listed[0]["curl"] if listed else None,
        "lifecycle": lifecycle,
        "exchanges": listed,
    }


def curl(request: Mapping[str, Any]) -> str:
    """The request as a shell command: ``curl -sS -i`` (the status and headers shown), the URL, the headers, the
    key as ``$SLOWCHECK_API_KEY``, the body with ``--data-binary`` (shell-quoted; bytes that are not text, or a
    body a shell argument cannot carry, piped in by ``printf``), a multipart upload as ``-F`` fields."""
    words = ["curl", "-sS", "-i", "-X", str(request["method"]), shlex.quote(str(request["url"]))]
    headers = dict(request.get("headers") or {})
    body = payload(request)
    fields = _form_fields(headers, body) if body is not None else None
    piped: bytes | None = None
    if fields is not None:
        headers = {k: v for k, v in headers.items() if k.lower() != "content-type"}  # curl writes its boundary
    words += ["-H " + shlex.quote(f"{name}: {value}") for name, value in headers.items()]
    words += _authorization(request)
    if fields is not None:
        for name, filename, content in fields:
            if filename is None:
                value = content.decode("utf-8", "replace")
                words.append("-F " + shlex.quote(f"{name}={value}"))
            elif piped is None:
                piped = content
                words.append("-F " + shlex.quote(f"{name}=@-;filename={filename}"))
    elif body is not None:
        text = body.decode("utf-8", "replace")
        if text.encode("utf-8") != body or "\0" in text or text.startswith("@"):
            piped = body
            words.append("--data-binary @-")
        else:
            words.append(f"--data-binary {shlex.quote(text)}")
    elif "body_omitted" in request:
        words.append(f"# the {request['body_omitted']}-byte body is not kept")
    command = " ".join(words)
    return command if piped is None else f"printf '%b' {shlex.quote(_escaped(piped))} | {command}"


def _authorization(request: Mapping[str, Any]) -> list[str]:
    auth = request.get("auth")
    if auth in KEY_VARIABLES:
        return [f'-H "Authorization: Bearer ${KEY_VARIABLES[auth]}"']
    if auth == "other" and request.get("wrong_key") is not None:
        return ["-H " + shlex.quote(f"Authorization: Bearer {request['wrong_key']}")]
    return []


def _escaped(data: bytes) -> str:
    """Bytes as ``printf %b`` writes them back: printable ASCII as is, every other byte as ``\\0NNN``."""
    return "".join(chr(b) if 0x20 <= b < 0x7F and b not in (0x5C, 0x25) else f"\\0{b:03o}" for b in data)


def _form_fields(headers: Mapping[str, str], body: bytes) -> list[tuple[str, str | None, bytes]] | None:
    """A multipart body's fields (name, file name or None, content); None for any other body."""
    content_type = next((v for k, v in headers.items() if k.lower() == "content-type"), "")
    if not content_type.lower().startswith("multipart/form-data"):
        return None
    head = f"Content-Type: {content_type}\r\n\r\n".encode()
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(head + body)
    if not message.is_multipart():
        return None
    fields = []
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        content = part.get_payload(decode=True)
        if not isinstance(name, str) or not isinstance(content, bytes):
            return None
        filename = part.get_filename()
        fields.append((name, filename, content))
    return fields
