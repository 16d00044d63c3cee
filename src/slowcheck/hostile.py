"""Hostile input, as one table: what a careless or malicious client may send, and what a server must answer.

The contract suite's ROBUST-* rules send these to any API; the mock's tests send the same to the mock. Each
case is raw bytes on the wire (a body no JSON encoder would write), so both see exactly the same request.
"""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass, field
from typing import Literal

from slowcheck import api

__all__ = ["CASE_HEADER", "Hostile", "Rule", "corpus"]

Rule = Literal[
    "ROBUST-DEPTH",
    "ROBUST-UNICODE",
    "ROBUST-NUMBERS",
    "ROBUST-ENCODING",
    "ROBUST-CONTENT-TYPE",
    "ROBUST-HEADER-SIZE",
    "ROBUST-BODY-SIZE",
    "ROBUST-GENERATION-ID",
    "ROBUST-DUPLICATE-KEYS",
]

CASE_HEADER = "X-Slowcheck-Case"
"""Sent with every case (its id): harmless to any API, and it lets a log line or a test name the case."""


@dataclass(frozen=True, slots=True)
class Hostile:
    id: str
    rule: Rule
    what: str
    """What is sent, as a report names it."""
    method: str
    path: str
    body: bytes | None = None
    headers: dict[str, str | None] = field(default_factory=dict)
    """Over ``Content-Type: application/json``; None removes a header."""
    accepted: Literal["violation", "deviation", "fine"] = "violation"
    """What an ack (2xx) is: a violation where nothing a client could mean was sent (no JSON object, NaN, an
    unknown id); a deviation where a lax parser or a missing limit lets it through (lone surrogates, UTF-16,
    metadata nested deep, a 64 KiB header, a 10 MiB body: the docs set no limit); fine where the body is odd
    but valid. A 5xx, a reset or a hang is always a violation; a 4xx without the OpenAI envelope a deviation (a
    proxy in front of the API may answer such requests itself)."""


_ODD_UNICODE = '"a\\u0000b \\ufeff \\uffff \\u202e\\u2066 \\ud83d\\udc69\\u200d\\ud83d\\udcbb"'
"""NUL, a byte-order mark, a noncharacter, bidi overrides and an emoji ZWJ sequence: all valid Unicode."""


def _chat(model: str, content: str) -> bytes:
    """A chat body whose content is spliced in as raw JSON text (escapes and all, exactly as written)."""
    return b'{"model": %s, "messages": [{"role": "user", "content": %s}], "max_tokens": 8}' % (
        json.dumps(model).encode(),
        content.encode("utf-8", "surrogatepass"),
    )


def _with(model: str, extra: str) -> bytes:
    """A valid chat body with one more member, written as raw JSON text."""
    return _chat(model, '"Say hello."')[:-1] + b", " + extra.encode() + b"}"


@functools.cache
def corpus(model: str = api.DEFAULT_MODEL) -> tuple[Hostile, ...]:
    """Every hostile case, in the order the rules send them. ``model`` is one the target serves, so an odd but
    valid body can be accepted. Built once per model: the bodies run to megabytes, and the plan, the rules and
    the catalogue's texts all read them."""
    chat = api.CHAT
    unknown = api.generation
    return (
        Hostile("arrays-100000-deep", "ROBUST-DEPTH", "content nested in 100,000 arrays", "POST", chat,
                _chat(model, "[" * 100_000 + "]" * 100_000)),
        Hostile("metadata-900-deep", "ROBUST-DEPTH", "metadata nested 900 objects deep", "POST", chat,
                _with(model, '"metadata": ' + '{"a": ' * 900 + '"x"' + "}" * 900), accepted="deviation"),
        Hostile("lone-high-surrogate", "ROBUST-UNICODE", 'a lone surrogate escape "\\ud800" in the content',
                "POST", chat, _chat(model, '"hello \\ud800"'), accepted="deviation"),
        Hostile("lone-low-surrogate", "ROBUST-UNICODE", 'a lone low surrogate "\\udfff" as a metadata key',
                "POST", chat, _with(model, '"metadata": {"\\udfff": "x"}'), accepted="deviation"),
        Hostile("odd-valid-unicode", "ROBUST-UNICODE", "NUL, BOM, a noncharacter, bidi overrides, emoji sequences",
                "POST", chat, _chat(model, _ODD_UNICODE), accepted="fine"),
        Hostile("integer-5000-digits", "ROBUST-NUMBERS", "n of 5,000 digits", "POST", chat,
                _with(model, '"n": ' + "9" * 5000)),
        Hostile("number-overflow", "ROBUST-NUMBERS", "temperature 1e999 (beyond a double)", "POST", chat,
                _with(model, '"temperature": 1e999')),
        Hostile("nan", "ROBUST-NUMBERS", "temperature NaN (not JSON)", "POST", chat,
                _with(model, '"temperature": NaN')),
        Hostile("infinity", "ROBUST-NUMBERS", "top_p -Infinity (not JSON)", "POST", chat,
                _with(model, '"top_p": -Infinity')),
        Hostile("invalid-utf8", "ROBUST-ENCODING", "bytes that are not UTF-8 in a string", "POST", chat,
                _chat(model, '"cafe"').replace(b"cafe", b"caf\xff\xfe")),
        Hostile("utf16-body", "ROBUST-ENCODING", "the whole body in UTF-16", "POST", chat,
                _chat(model, '"Say hello."').decode().encode("utf-16"), accepted="deviation"),
        Hostile("array-body", "ROBUST-ENCODING", "a JSON array for a body", "POST", chat, b"[]"),
        Hostile("empty-body", "ROBUST-ENCODING", "an empty body", "POST", chat, b""),
        Hostile("text-plain", "ROBUST-CONTENT-TYPE", "a JSON body sent as text/plain", "POST", chat,
                _chat(model, '"Say hello."'), {"Content-Type": "text/plain"}, accepted="fine"),
        Hostile("no-content-type", "ROBUST-CONTENT-TYPE", "a JSON body without a Content-Type", "POST", chat,
                _chat(model, '"Say hello."'), {"Content-Type": None}, accepted="fine"),
        Hostile("form-encoded", "ROBUST-CONTENT-TYPE", "a form-encoded body", "POST", chat,
                b"model=x&messages=hello", {"Content-Type": "application/x-www-form-urlencoded"}),
        Hostile("header-64k", "ROBUST-HEADER-SIZE", "a 64 KiB header", "POST", chat, _chat(model, '"Say hello."'),
                {"X-Slowcheck-Padding": "p" * 65536}, accepted="deviation"),
        Hostile("body-10mib", "ROBUST-BODY-SIZE", "a 10 MiB body, written whole before the answer is read", "POST",
                chat, _chat(model, '"' + "x" * (10 * 1024 * 1024) + '"'), accepted="deviation"),
        Hostile("control-characters-id", "ROBUST-GENERATION-ID", "an id of control characters", "GET",
                unknown("%00%01%1b%0d%0a%7f"), None),
        Hostile("long-id", "ROBUST-GENERATION-ID", "an id of 8,000 characters", "GET", unknown("i" * 8000), None),
        Hostile("traversal-id", "ROBUST-GENERATION-ID", "an id that climbs the path", "GET",
                unknown("..%2F..%2F..%2Fetc%2Fpasswd"), None),
        Hostile("duplicate-model", "ROBUST-DUPLICATE-KEYS", "model given twice", "POST", chat,
                _with(model, '"model": ' + json.dumps(model)), accepted="fine"),
        Hostile("duplicate-max-tokens", "ROBUST-DUPLICATE-KEYS", "max_tokens given twice, 8 then 4", "POST", chat,
                _with(model, '"max_tokens": 4'), accepted="fine"),
    )  # fmt: skip
