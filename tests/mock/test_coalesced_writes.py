"""The mock's server writes an answer's head and body in one send, and still streams large bodies at once."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from slowcheck.mock.server import _Coalesced

pytestmark = pytest.mark.anyio


class _Transport:
    def __init__(self) -> None:
        self.writes: list[bytes] = []
        self.closed = False

    def write(self, data: bytes) -> None:
        self.writes.append(data)

    def is_closing(self) -> bool:
        return self.closed

    def close(self) -> None:
        self.closed = True

    def get_extra_info(self, name: str) -> Any:
        return ("127.0.0.1", 1) if name == "peername" else None


async def test_one_turns_writes_leave_together_in_order() -> None:
    raw = _Transport()
    transport = _Coalesced(raw, asyncio.get_running_loop())  # type: ignore[arg-type]
    transport.write(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n")
    transport.write(b"{}")
    assert raw.writes == [], "nothing leaves before the turn ends"
    await asyncio.sleep(0)
    assert raw.writes == [b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n{}"]
    assert transport.get_extra_info("peername") == ("127.0.0.1", 1), "everything else is the transport's own"


async def test_a_large_body_is_written_at_once_and_close_flushes() -> None:
    raw = _Transport()
    transport = _Coalesced(raw, asyncio.get_running_loop())  # type: ignore[arg-type]
    transport.write(b"head")
    transport.write(b"x" * 70_000)
    assert raw.writes == [b"head" + b"x" * 70_000], "past 64 KiB the transport's own flow control takes over"
    transport.write(b"tail")
    transport.close()
    assert raw.writes[-1] == b"tail"
    assert raw.closed
