"""Fast JSON with exact fallbacks: orjson where it can, the standard library where orjson cannot.

Integers beyond 64 bits are valid JSON (a schema may then reject them with a proper message), but
orjson refuses them or, in recent releases, silently turns them into floats; the standard library keeps
them exact, so any document with a run of 19 or more digits is parsed there. NaN and Infinity are
not JSON, and neither side accepts them.
"""

from __future__ import annotations

import json
import re
from typing import Any

import orjson

__all__ = ["MAX_DEPTH", "JSONDecodeError", "TooDeep", "dumps", "loads", "loads_own", "too_deep"]

JSONDecodeError = ValueError


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


_LONG_NUMBER = re.compile(rb"\d{19}")
"""2**63 has 19 digits: shorter integers fit orjson's 64 bits exactly."""


MAX_DEPTH = 64
"""Arrays and objects nested deeper than this are refused before parsing: no request needs more (a tool's
parameters rarely pass ten), and parsers and encoders recurse (orjson stops at 1024 and 255, the standard
library at the interpreter's recursion limit)."""


class TooDeep(ValueError):
    """A document nested deeper than :data:`MAX_DEPTH`, refused before parsing."""


_STRUCTURE = re.compile(rb'[\[\]{}]|"(?:[^"\\]|\\.)*"')
"""Brackets, and whole strings (skipped: a bracket inside a string does not nest)."""


def too_deep(raw: bytes, limit: int = MAX_DEPTH) -> bool:
    """Whether ``raw`` nests arrays and objects deeper than ``limit``, found without parsing it.

    Two counts in C decide for almost every document; only one with more brackets than ``limit`` is scanned.
    """
    if raw.count(b"[") + raw.count(b"{") <= limit:
        return False
    depth = 0
    for match in _STRUCTURE.finditer(raw):
        first = match.group()[0]
        if first in b"[{":
            depth += 1
            if depth > limit:
                return True
        elif first in b"]}":
            depth -= 1
    return False


def loads(data: bytes | str) -> Any:
    """Parse strict JSON (RFC 8259 text whose strings are Unicode): ValueError for anything else, including
    NaN, lone surrogates (``"\\ud800"``) and nesting beyond :data:`MAX_DEPTH`."""
    raw = data.encode("utf-8", "surrogatepass") if isinstance(data, str) else data
    if too_deep(raw):
        raise TooDeep(f"arrays and objects nested deeper than {MAX_DEPTH} levels")
    if _LONG_NUMBER.search(raw):
        try:
            document = json.loads(raw, parse_constant=_reject_constant)
        except RecursionError:
            raise ValueError("nested too deeply") from None
        _unicode_only(document)
        return document
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        # orjson is strict where the standard library is lax (lone surrogates): its refusal stands.
        raise ValueError(str(exc)) from None


def loads_own(data: bytes | str) -> Any:
    """Parse JSON this program wrote itself (a stored record, a validated line): no checks for hostile input,
    which cost a record read back from the store a quarter of its time. Integers beyond 64 bits still parse
    exactly."""
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError:
        return json.loads(data)


def _unicode_only(document: Any) -> None:
    """The standard library accepts lone surrogate escapes, which no encoder can write back: refuse them."""
    try:
        json.dumps(document, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError("a string holds a lone surrogate (not Unicode)") from None


def dumps(value: Any) -> bytes:
    try:
        return orjson.dumps(value)
    except TypeError:
        return json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode()
