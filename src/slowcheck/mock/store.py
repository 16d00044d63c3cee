"""Durability: every acknowledged generation is in SQLite before its ack is sent.

Writes are queued and committed together, once per turn of the event loop (group commit): a burst of
submissions costs one transaction, not one each. The commit runs on the loop's own thread. A writer
thread was tried and measured 5x slower: sqlite3 releases the GIL around every row, and each row then
waits for the busy event loop to hand the GIL back.

The engine keeps a compact schedule of what is queued and a bounded cache of records in memory; any record it
no longer holds, pending or finished, is read back here (after committing what is queued, so a read sees every
write). On start the pending rows are streamed to the schedule, oldest first, without their requests.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from slowcheck import _json
from slowcheck.errors import ConfigError
from slowcheck.mock import tables
from slowcheck.mock.ids import id_floor
from slowcheck.mock.records import Generation, Group, Idempotent
from slowcheck.mock.tables import OutboxEntry, PendingRow

__all__ = ["OutboxEntry", "PendingRow", "Snapshot", "Store"]

_PENDING = (
    "SELECT id, eligible_at, created, state, stuck, group_id FROM generations "
    "WHERE state IN ('Queued', 'In Progress') ORDER BY created"
)


@dataclass(slots=True)
class Snapshot:
    """What the mock needs in memory when it starts: pending groups, the outbox, webhooks (pending generations are
    streamed by ``Store.pending``)."""

    groups: dict[str, Group] = field(default_factory=dict)
    outbox: list[OutboxEntry] = field(default_factory=list)
    webhooks: dict[str, str] = field(default_factory=dict)
    files: list[dict[str, Any]] = field(default_factory=list)
    batches: list[dict[str, Any]] = field(default_factory=list)
    """The Batch API's records, as slowcheck.mock.batches writes them (with their private fields)."""


class Store:
    """SQLite with group commit; ``":memory:"`` keeps nothing and never waits."""

    def __init__(self, path: str, *, fsync: bool = False) -> None:
        self.durable = path != ":memory:"
        self._pending: list[tuple[str, tuple[Any, ...]]] = []
        self._waiters: list[asyncio.Future[None]] = []
        self._flush_scheduled = False
        self._loop: asyncio.AbstractEventLoop | None = None
        self._conn: sqlite3.Connection | None = None
        if not self.durable:
            return
        try:
            # Created where the app is built, used on the thread that runs its loop: one user at a time.
            conn = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
            conn.execute("PRAGMA journal_mode=WAL")
            # OFF hands each commit to the operating system without waiting for the disk: it survives the
            # mock being killed (kill -9), not the machine losing power, which is what --fsync (FULL) is for.
            # NORMAL sat between the two and cost a third more per row, in the checkpoints' fsyncs.
            conn.execute(f"PRAGMA synchronous={'FULL' if fsync else 'OFF'}")
            conn.executescript(tables.LAYOUT)
            tables.upgrade(conn)
        except sqlite3.Error as exc:
            raise ConfigError(f"cannot open the mock's database {path}: {exc}") from None
        self._conn = conn

    def load(self) -> Snapshot:
        snapshot = Snapshot()
        if self._conn is None:
            return snapshot
        for row in self._conn.execute("SELECT * FROM groups WHERE notified = 0"):
            group = tables.group_of(row)
            snapshot.groups[group.id] = group
        for eid, webhook_id, event, subject, payload, _ in self._conn.execute("SELECT * FROM outbox WHERE done = 0"):
            snapshot.outbox.append(OutboxEntry(eid, webhook_id, event, subject, _json.loads_own(payload)))
        snapshot.webhooks = dict(self._conn.execute("SELECT id, url FROM webhooks"))
        snapshot.files = [_json.loads_own(record) for (record,) in self._conn.execute("SELECT record FROM files")]
        snapshot.batches = [_json.loads_own(record) for (record,) in self._conn.execute("SELECT record FROM batches")]
        return snapshot

    def pending(self) -> Iterator[PendingRow]:
        """Every Queued and In Progress generation, oldest first, without its request: streamed, so a backlog of
        millions is never all in memory at once."""
        if self._conn is None:
            return
        self._flush()
        for gid, eligible_at, created, state, stuck, group_id in self._conn.execute(_PENDING):
            yield PendingRow(gid, eligible_at, created, state, bool(stuck), group_id)

    def unfinished_lines(self, batch_id: str) -> set[str]:
        """The ids of a batch's generations that are Queued or In Progress."""
        if self._conn is None:
            return set()
        self._flush()
        sql = "SELECT id FROM generations WHERE state IN ('Queued', 'In Progress') AND batch_id = ?"
        return {gid for (gid,) in self._conn.execute(sql, (batch_id,))}

    def batch_results(self, batch_id: str) -> Iterator[tuple[str, str | None, str | None, Any]]:
        """A batch's dispatched lines as (custom_id, state, state message, response), in the order they finished:
        one query, rows streamed, no record rebuilt (a batch of a million lines is read back at its end)."""
        if self._conn is None:
            return
        self._flush()
        rows = self._conn.execute(
            "SELECT l.custom_id, g.state, g.state_message, g.response FROM batch_lines l LEFT JOIN generations g "
            "ON g.id = l.generation_id WHERE l.batch_id = ? ORDER BY g.finished_at, l.line",
            (batch_id,),
        )
        for custom_id, state, message, response in rows:
            yield custom_id, state, message, _json.loads_own(response) if response is not None else None

    def put_file(self, record: dict[str, Any]) -> None:
        self._put(tables.PUT_FILE, (record["id"], record["tenant"], _json.dumps(record)))

    def delete_file(self, file_id: str) -> None:
        self._put(tables.DELETE_FILE, (file_id,))

    def put_batch(self, record: dict[str, Any]) -> None:
        self._put(tables.PUT_BATCH, (record["id"], record["tenant"], _json.dumps(record)))

    def delete_batch(self, batch_id: str) -> None:
        """A batch past its retention: its record and its line rows."""
        self._put(tables.DELETE_BATCH, (batch_id,))
        self._put(tables.DELETE_BATCH_LINES, (batch_id,))

    async def committed(self) -> None:
        """Returns once everything queued so far is committed (at once without a store)."""
        await self.add(())

    def read(self, generation_id: str, *, flush: bool = True) -> Generation | None:
        """One stored generation, or None. ``flush=False`` reads the row as last committed, without committing
        what is queued: right for a Queued generation (its insert was awaited, and nothing else writes its row
        until it leaves the queue), and it keeps one loop turn's writes in one commit."""
        row = self._one("SELECT * FROM generations WHERE id = ?", (generation_id,), flush=flush)
        return tables.generation_of(row) if row is not None else None

    def read_group(self, group_id: str) -> Group | None:
        """One stored group, or None."""
        row = self._one("SELECT * FROM groups WHERE id = ?", (group_id,))
        return tables.group_of(row) if row is not None else None

    def read_idempotency(self, tenant: str, key: str) -> Idempotent | None:
        """An Idempotency-Key's record, or None."""
        row = self._one("SELECT * FROM idempotency WHERE tenant = ? AND key = ?", (tenant, key))
        return Idempotent(*row) if row is not None else None

    def _one(self, sql: str, params: tuple[Any, ...], *, flush: bool = True) -> tuple[Any, ...] | None:
        """One row, after committing what is queued (so a read sees every write); None without a store."""
        if self._conn is None:
            return None
        if flush:
            self._flush()
        row: tuple[Any, ...] | None = self._conn.execute(sql, params).fetchone()
        return row

    def counts(self, tenant: str | None = None) -> Counter[str]:
        """Stored generations by state: all, or one tenant's."""
        if self._conn is None:
            return Counter()
        self._flush()
        where, params = ("WHERE tenant = ?", (tenant,)) if tenant is not None else ("", ())
        rows = self._conn.execute(f"SELECT state, COUNT(*) FROM generations {where} GROUP BY state", params)
        return Counter(dict(rows))

    def prune(self, created_before: float) -> int:
        """Delete finished generations created before this time (their retention is over); how many went."""
        if self._conn is None:
            return 0
        self._flush()
        floor = id_floor(created_before)
        done = self._conn.execute(
            "DELETE FROM generations WHERE id < ? AND state NOT IN ('Queued', 'In Progress')", (floor,)
        )
        self._conn.execute("DELETE FROM groups WHERE id < ? AND notified = 1", (floor,))
        # A key outlives its generation by no more than this: retried after, it makes a new one.
        self._conn.execute(
            "DELETE FROM idempotency WHERE target < ? AND target NOT IN (SELECT id FROM generations WHERE id < ?)",
            (floor, floor),
        )
        return done.rowcount

    def close(self) -> None:
        """Commit what is queued, then close."""
        if self._conn is not None:
            self._flush()
            self._conn.close()
            self._conn = None

    async def add(
        self,
        generations: Iterable[Generation],
        *,
        group: Group | None = None,
        idempotency: Idempotent | None = None,
        batch_lines: Iterable[tuple[str, int, str, str]] = (),
    ) -> None:
        """Store new generations (and their group, idempotency key or batch lines); returns once committed."""
        if not self.durable:
            return
        ops: list[tuple[str, tuple[Any, ...]]] = [
            (tables.INSERT_GENERATION, tables.generation_row(g)) for g in generations
        ]
        ops += [(tables.INSERT_BATCH_LINE, line) for line in batch_lines]
        if group is not None:
            ops.append((tables.INSERT_GROUP, tables.group_row(group)))
        if idempotency is not None:
            ops.append((tables.INSERT_IDEMPOTENCY, idempotency))
        waiter: asyncio.Future[None] = self._running_loop().create_future()
        self._pending.extend(ops)
        self._waiters.append(waiter)
        self._schedule()
        await waiter

    def update(self, generation: Generation) -> None:
        """Record a state change; not awaited (a lost transition is replayed by the scheduler on start)."""
        response = _json.dumps(generation.response) if generation.response is not None else None
        self._put(
            tables.UPDATE_GENERATION,
            (
                generation.state,
                generation.state_message,
                response,
                generation.dispatched_at,
                generation.finished_at,
                generation.id,
            ),
        )

    def group_notified(self, group_id: str) -> None:
        self._put(tables.GROUP_NOTIFIED, (group_id,))

    def enqueue_delivery(self, entry: OutboxEntry) -> None:
        self._put(tables.INSERT_OUTBOX, entry.row())

    def delivery_done(self, entry_id: str) -> None:
        self._put(tables.OUTBOX_DONE, (entry_id,))

    def set_webhook(self, webhook_id: str, url: str | None) -> None:
        if url is None:
            self._put(tables.DELETE_WEBHOOK, (webhook_id,))
        else:
            self._put(tables.SET_WEBHOOK, (webhook_id, url))

    def add_tables(self, script: str) -> None:
        """Another module's tables (the credit ledger), created if missing; nothing without a store."""
        if self._conn is not None:
            self._conn.executescript(script)

    def queue(self, sql: str, params: tuple[Any, ...]) -> None:
        """A write to another module's table, in the next group commit after this module's own writes: in one
        transaction with the generations queued in the same turn of the loop."""
        self._put(sql, params)

    def rows(self, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        """Every row of a query, after committing what is queued; none without a store."""
        if self._conn is None:
            return []
        self._flush()
        return self._conn.execute(sql, params).fetchall()

    def _put(self, sql: str, params: tuple[Any, ...]) -> None:
        if self._conn is not None:
            self._pending.append((sql, params))
            self._schedule()

    def _schedule(self) -> None:
        if not self._flush_scheduled:
            self._flush_scheduled = True
            # After the callbacks already ready: whatever arrives in this turn of the loop joins the commit.
            self._running_loop().call_soon(self._flush)

    def _running_loop(self) -> asyncio.AbstractEventLoop:
        # Kept, not asked for each time: Python 3.11's get_running_loop() makes a getpid() system call, 4 % of
        # a submission's cost under load.
        loop = self._loop
        if loop is None or loop.is_closed():
            loop = self._loop = asyncio.get_running_loop()
        return loop

    def _flush(self) -> None:
        self._flush_scheduled = False
        pending, waiters = self._pending, self._waiters
        self._pending, self._waiters = [], []
        if self._conn is None or not pending:
            _settle(waiters, None)
            return
        by_statement: dict[str, list[tuple[Any, ...]]] = {}
        for sql, params in pending:
            by_statement.setdefault(sql, []).append(params)
        error: BaseException | None = None
        try:
            self._conn.execute("BEGIN")
            # One executemany per statement, inserts before updates: an update never precedes the insert
            # of its row, and within a statement the order of arrival is kept.
            for sql in sorted(by_statement, key=tables.rank):
                self._conn.executemany(sql, by_statement[sql])
            self._conn.execute("COMMIT")
        except sqlite3.Error as exc:
            error = exc
            if self._conn.in_transaction:
                self._conn.execute("ROLLBACK")
        _settle(waiters, error)


def _settle(waiters: list[asyncio.Future[None]], error: BaseException | None) -> None:
    for waiter in waiters:
        if waiter.done():
            continue
        if error is None:
            waiter.set_result(None)
        else:
            waiter.set_exception(error)
