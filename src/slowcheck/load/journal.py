"""The ``jobs`` scenario's journal: one JSON Lines file per process, written as the run goes.

A run of hours holds nothing per finished job in memory: each arrival's row is written when its answer comes
(``sent``, or ``drop`` when nobody was free to send it), and each job's row when it is seen terminal
(``done``). The summary and the page are built from the journal, and ``--resume`` reads it to know what was
sent, what is still open, and where the plan stopped. A process killed mid-write leaves at most one torn
last line, which the reader skips.

Rows are arrays, first element the row's type:

- ``["sent", index, planned, sent, acked, status, id, created, kind, canary, worst]``: ``created`` is the ack's
  (epoch seconds), else null; ``id`` null when the submission was refused; ``worst`` its worst case in USD.
- ``["drop", index, planned]``; ``["over", index, planned]``: not sent, ``--max-spend`` would have been passed.
- ``["done", index, id, seen, state, dispatched, finished, tokens, polls, problems, canary, prompt, model]``:
  ``problems`` lists what did not belong to the job (``request``, ``custom_id``, ``record_id``,
  ``response_id``); ``canary`` is null, ``"correct"``, ``"mismatched"`` (another job's nonce) or
  ``"unanswered"``; ``tokens`` and ``prompt`` the usage's completion and prompt tokens.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

from slowcheck import _json

__all__ = ["FLUSH_SECONDS", "Journal", "clear", "files", "rows"]

FLUSH_SECONDS = 1.0
"""Rows reach the disk at least this often: a killed run loses at most the last second."""
_PATTERN = "journal-*.jsonl"


class Journal:
    """Appends rows to ``journal-<share>.jsonl``; buffered, flushed every second and on close."""

    def __init__(self, folder: Path, share: int, *, resume: bool = False) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        self.path = folder / f"journal-{share}.jsonl"
        self._handle: IO[bytes] = self.path.open("ab" if resume else "wb")
        self._buffer: list[bytes] = []
        self._flushed = time.monotonic()

    def write(self, row: list[Any]) -> None:
        self._buffer.append(_json.dumps(row))
        if time.monotonic() - self._flushed >= FLUSH_SECONDS:
            self.flush()

    def flush(self) -> None:
        if self._buffer:
            self._handle.write(b"\n".join(self._buffer) + b"\n")
            self._buffer.clear()
        self._handle.flush()
        self._flushed = time.monotonic()

    def close(self) -> None:
        self.flush()
        self._handle.close()


def clear(folder: Path) -> None:
    """A new run in a folder: the journals of an earlier one there must not count."""
    for path in files(folder):
        path.unlink()


def files(folder: Path) -> list[Path]:
    return sorted(folder.glob(_PATTERN))


def rows(folder: Path) -> Iterator[list[Any]]:
    """Every row of every process's journal in ``folder``; a torn line (a killed writer's last) is skipped."""
    for path in files(folder):
        with path.open("rb") as handle:
            for line in handle:
                try:
                    row = _json.loads_own(line)
                except ValueError:
                    continue
                if isinstance(row, list) and row:
                    yield row
