"""The JSON layer keeps what JSON says exactly, whichever parser does the work."""

from __future__ import annotations

import pytest

from slowcheck import _json


@pytest.mark.parametrize(
    "text",
    [
        b'{"prompt": [[18446744073709551617]]}',  # beyond 64 bits: orjson would make it a float
        b'{"seed": -9223372036854775809}',
        b'{"seed": 9223372036854775807, "x": "fits"}',
    ],
)
def test_big_integers_survive_a_round_trip(text: bytes) -> None:
    value = _json.loads(text)
    assert all(isinstance(v, (int, str)) for v in _flat(value))
    assert _json.loads(_json.dumps(value)) == value
    assert _json.dumps(value).replace(b" ", b"") == text.replace(b" ", b"")


def test_nan_is_refused() -> None:
    with pytest.raises(ValueError, match="NaN"):
        _json.loads(b'{"temperature": NaN, "seed": 12345678901234567890}')


def _flat(value: object) -> list[object]:
    if isinstance(value, dict):
        return [x for v in value.values() for x in _flat(v)]
    if isinstance(value, list):
        return [x for v in value for x in _flat(v)]
    return [value]
