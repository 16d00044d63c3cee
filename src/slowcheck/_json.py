"""Fast JSON with exact fallbacks: orjson where it can, the standard library where orjson cannot.

orjson refuses integers beyond 64 bits, which are valid JSON (and which a schema may then reject with a
proper message); the standard library takes them. NaN and Infinity are not JSON, and neither side accepts them.
"""

from __future__ import annotations

import json
from typing import Any

import orjson

__all__ = ["JSONDecodeError", "dumps", "loads"]

JSONDecodeError = ValueError


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def loads(data: bytes | str) -> Any:
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
