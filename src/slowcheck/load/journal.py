"""The ``jobs`` scenario's journal: one JSON Lines file per share of the arrivals, written as the run goes.

A run of hours holds nothing per finished job in memory: each arrival's row is written when its answer comes
(``sent``, or ``drop`` when nobody was free to send it), and each job's row when it is seen terminal
(``done``). The summary and the page are built from the journal, and ``--resume`` reads it to know what was
sent, what is still open, and where the plan stopped. A process killed mid-write leaves at most one torn
last line, which the reader skips.

The journal lives in one folder, the master's: a user does not write it but ships its rows (a
:class:`Shipment`, in batches, over locust's messaging), and the master (or the only process) writes them with
a :class:`Journal` per share. So workers on other machines, each with a disk of its own, give the master every
row; and a resumed run's :class:`Previous` is read there and handed to each share.

Rows are arrays, first element the row's type:

- ``["sent", index, planned, sent, acked, status, id, created, kind, canary, worst]``: ``created`` is the ack's
  (epoch seconds), else null; ``id`` null when the submission was refused; ``worst`` its worst case in USD.
- ``["drop", index, planned]``; ``["over", index, planned]``: not sent, ``--max-spend`` would have been passed.
- ``["unanswered", index, planned, worst]``: on its way (sent, or waiting for a connection) when the run was
  stopped, and no answer came in the moment a stopped user waits. The API may have taken it (and billed it), so
  a resume does not send it again, and its worst case stays in the spend's upper bound; with no id, it is not
  followed.
- ``["done", index, id, seen, state, dispatched, finished, tokens, polls, problems, canary, prompt, model]``:
  ``problems`` lists what did not belong to the job (``request``, ``custom_id``, ``record_id``,
  ``response_id``); ``canary`` is null, ``"correct"``, ``"mismatched"`` (another job's nonce) or
  ``"unanswered"``; ``tokens`` and ``prompt`` the usage's completion and prompt tokens.
"""

from __future__ import annotations

import bisect
import math
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from slowcheck import _json

__all__ = ["ARRIVAL_ROWS", "FLUSH_SECONDS", "Journal", "Previous", "Shipment", "clear", "files", "rows"]

ARRIVAL_ROWS = ("sent", "drop", "unanswered")
"""The rows that settle an arrival: it went (answered or not), or it never will. A resume does not offer it again."""
FLUSH_SECONDS = 1.0
"""Rows reach the disk at least this often: a killed run loses at most the last second."""
_BATCH_ROWS = 2000
"""A shipment goes at least every second, sooner when it holds this many rows: messages stay small."""
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

    def write_many(self, rows: list[list[Any]]) -> None:
        """A shipment's rows at once (one clock read for them all)."""
        dumps = _json.dumps
        self._buffer.extend(dumps(row) for row in rows)
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


class Shipment:
    """A user's rows on their way to the master's journal: ``send({"share": ..., "rows": [...]})`` when it holds
    2,000 rows, when its owner's timer says (every second) and on close, in order (locust delivers one worker's
    messages in the order they were sent)."""

    def __init__(self, send: Callable[[dict[str, Any]], None], share: int) -> None:
        self._send, self.share = send, share
        self._buffer: list[list[Any]] = []
        self.closed = False

    def write(self, row: list[Any]) -> None:
        self._buffer.append(row)
        if len(self._buffer) >= _BATCH_ROWS:
            self.flush()

    def flush(self) -> None:
        if self._buffer:
            self._send({"share": self.share, "rows": self._buffer})
            self._buffer = []  # after the send: rows a failed send raised on are still here

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            self.flush()


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


@dataclass
class Previous:
    """What a stopped run's journal says about one share: the arrivals already handled (as ``[first, last]``
    runs of the share's indices, every ``of``-th: a long run's are a few runs, not a million numbers), and the
    jobs still open."""

    seen: list[list[int]] = field(default_factory=list)
    open: dict[int, tuple[str, float]] = field(default_factory=dict)
    """index -> (generation id, when it was sent)."""

    def handled(self, index: int) -> bool:
        if not self.seen:  # a fresh run: every arrival asks
            return False
        at = bisect.bisect_right(self.seen, [index, math.inf]) - 1
        return at >= 0 and self.seen[at][0] <= index <= self.seen[at][1]

    @classmethod
    def read(cls, folder: Path, of: int) -> dict[int, Previous]:
        """Each share's (of ``of`` shares, by ``index % of``) from the journal in ``folder``."""
        seen: dict[int, set[int]] = {}
        found: dict[int, Previous] = {}
        done: set[int] = set()
        for row in rows(folder):
            index = row[1]
            if row[0] in ARRIVAL_ROWS:
                seen.setdefault(index % of, set()).add(index)
                if row[0] == "sent" and row[6]:
                    found.setdefault(index % of, cls()).open[index] = (row[6], row[3])
            elif row[0] == "done":
                done.add(index)  # rows of one job may sit in two files (a resume with other processes)
        for share, indices in seen.items():
            entry = found.setdefault(share, cls())
            entry.seen = _runs(indices, of)
            entry.open = {i: job for i, job in entry.open.items() if i not in done}
        return found

    def to_json(self) -> dict[str, Any]:
        return {"seen": self.seen, "open": [[i, gid, sent] for i, (gid, sent) in self.open.items()]}

    @classmethod
    def from_json(cls, document: dict[str, Any]) -> Previous:
        return cls([list(pair) for pair in document["seen"]], {i: (gid, sent) for i, gid, sent in document["open"]})


def _runs(indices: Iterable[int], step: int) -> list[list[int]]:
    ranges: list[list[int]] = []
    for index in sorted(indices):
        if ranges and index == ranges[-1][1] + step:
            ranges[-1][1] = index
        else:
            ranges.append([index, index])
    return ranges
