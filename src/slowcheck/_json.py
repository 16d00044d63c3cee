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

__all__ = ["JSONDecodeError", "dumps", "loads"]

JSONDecodeError = ValueError


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


_LONG_NUMBER = re.compile(rb"\d{19}")
"""2**63 has 19 digits: shorter integers fit orjson's 64 bits exactly."""


def loads(data: bytes | str) -> Any:
    raw = data.encode() if isinstance(data, str) else data
    if _LONG_NUMBER.search(raw):
        return json.loads(raw, parse_constant=_reject_constant)
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError:
        # Valid JSON that orjson cannot hold (big integers) parses here; anything else fails again.
        return json.loads(data, parse_constant=_reject_constant)


def dumps(value: Any) -> bytes:
    try:
        return orjson.dumps(value)
    except TypeError:
        return json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode()
