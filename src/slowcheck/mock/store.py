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
from typing import Any, NamedTuple

from slowcheck import _json
from slowcheck.errors import ConfigError
from slowcheck.mock.ids import id_floor
from slowcheck.mock.records import Generation, Group, Idempotent

__all__ = ["Delivery", "PendingRow", "Snapshot", "Store"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS generations (
  id TEXT PRIMARY KEY, tenant TEXT NOT NULL, kind TEXT NOT NULL, request BLOB NOT NULL,
  created REAL NOT NULL, eligible_at REAL NOT NULL, run_time REAL NOT NULL,
  state TEXT NOT NULL, state_message TEXT NOT NULL, response BLOB,
  dispatched_at REAL, finished_at REAL, group_id TEXT, fail INTEGER NOT NULL, stuck INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS groups (
  id TEXT PRIMARY KEY, tenant TEXT NOT NULL, kind TEXT NOT NULL, members BLOB NOT NULL,
  created REAL NOT NULL, webhook_id TEXT, notified INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS idempotency (
  tenant TEXT NOT NULL, key TEXT NOT NULL, body_hash TEXT NOT NULL, target TEXT NOT NULL,
  PRIMARY KEY (tenant, key));
CREATE TABLE IF NOT EXISTS outbox (
  id TEXT PRIMARY KEY, webhook_id TEXT NOT NULL, event TEXT NOT NULL, subject TEXT NOT NULL,
  payload BLOB NOT NULL, done INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS webhooks (id TEXT PRIMARY KEY, url TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS files (id TEXT PRIMARY KEY, tenant TEXT NOT NULL, record BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS batches (id TEXT PRIMARY KEY, tenant TEXT NOT NULL, record BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS batch_lines (
  batch_id TEXT NOT NULL, line INTEGER NOT NULL, custom_id TEXT NOT NULL, generation_id TEXT NOT NULL,
  PRIMARY KEY (batch_id, line));
CREATE INDEX IF NOT EXISTS generations_pending ON generations (state) WHERE state IN ('Queued', 'In Progress');
DROP INDEX IF EXISTS generations_created;
CREATE INDEX IF NOT EXISTS idempotency_target ON idempotency (target);
"""
# Ids begin with their time (slowcheck.mock.ids), so the primary keys serve the expiry too: no index on
# `created`, which cost every insert a fourth b-tree. `created` is still checked, for rows of databases
# written before ids were time-ordered.
_PENDING = (
    "SELECT id, eligible_at, created, state, stuck, group_id FROM generations "
    "WHERE state IN ('Queued', 'In Progress') ORDER BY created"
)
_INSERT_GENERATION = "INSERT OR REPLACE INTO generations VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)"
_UPDATE_GENERATION = (
    "UPDATE generations SET state=?, state_message=?, response=?, dispatched_at=?, finished_at=? WHERE id=?"
)
_INSERT_GROUP = "INSERT INTO groups VALUES (?,?,?,?,?,?,?)"
_INSERT_IDEMPOTENCY = "INSERT OR REPLACE INTO idempotency VALUES (?,?,?,?)"
_INSERT_DELIVERY = "INSERT OR REPLACE INTO outbox VALUES (?,?,?,?,?,?)"
_DELIVERY_DONE = "UPDATE outbox SET done = 1 WHERE id = ?"
_GROUP_NOTIFIED = "UPDATE groups SET notified = 1 WHERE id = ?"
_SET_WEBHOOK = "INSERT OR REPLACE INTO webhooks VALUES (?, ?)"
_DELETE_WEBHOOK = "DELETE FROM webhooks WHERE id = ?"
_PUT_FILE = "INSERT OR REPLACE INTO files VALUES (?, ?, ?)"
_DELETE_FILE = "DELETE FROM files WHERE id = ?"
_PUT_BATCH = "INSERT OR REPLACE INTO batches VALUES (?, ?, ?)"
_INSERT_BATCH_LINE = "INSERT INTO batch_lines VALUES (?, ?, ?, ?)"
_DELETE_BATCH = "DELETE FROM batches WHERE id = ?"
_DELETE_BATCH_LINES = "DELETE FROM batch_lines WHERE batch_id = ?"
_ORDER = [_INSERT_GENERATION, _INSERT_GROUP, _INSERT_IDEMPOTENCY, _INSERT_DELIVERY, _PUT_FILE, _INSERT_BATCH_LINE,
          _UPDATE_GENERATION, _GROUP_NOTIFIED, _DELIVERY_DONE, _SET_WEBHOOK, _DELETE_WEBHOOK, _DELETE_FILE,
          _PUT_BATCH, _DELETE_BATCH_LINES, _DELETE_BATCH]  # fmt: skip
"""Within one commit: rows inserted before they are updated; a batch's record after the lines it counts."""


class PendingRow(NamedTuple):
    """What the schedule needs of a pending generation on start: no request."""

    id: str
    eligible_at: float
    created: float
    state: str
    stuck: bool
    group_id: str | None


@dataclass(slots=True)
class Delivery:
    """A webhook event waiting in the outbox until its endpoint has answered (or given up)."""

    id: str
    webhook_id: str
    event: str
    subject: str
    """The generation or group id the event is about."""
    payload: dict[str, Any]


@dataclass(slots=True)
class Snapshot:
    """What the mock needs in memory when it starts: pending groups, the outbox, webhooks (pending generations are
    streamed by ``Store.pending``)."""

    groups: dict[str, Group] = field(default_factory=dict)
    outbox: list[Delivery] = field(default_factory=list)
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
            conn.executescript(_SCHEMA)
        except sqlite3.Error as exc:
            raise ConfigError(f"cannot open the mock's database {path}: {exc}") from None
        self._conn = conn

    def load(self) -> Snapshot:
        snapshot = Snapshot()
        if self._conn is None:
            return snapshot
        for row in self._conn.execute("SELECT * FROM groups WHERE notified = 0"):
            group = _group(row)
            snapshot.groups[group.id] = group
        for did, webhook_id, event, subject, payload, _ in self._conn.execute("SELECT * FROM outbox WHERE done = 0"):
            snapshot.outbox.append(Delivery(did, webhook_id, event, subject, _json.loads_own(payload)))
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

    def unfinished(self, group_id: str) -> set[str]:
        """The ids of a group's (or a batch's) generations that are Queued or In Progress."""
        if self._conn is None:
            return set()
        self._flush()
        sql = "SELECT id FROM generations WHERE state IN ('Queued', 'In Progress') AND group_id = ?"
        return {gid for (gid,) in self._conn.execute(sql, (group_id,))}

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
        self._put(_PUT_FILE, (record["id"], record["tenant"], _json.dumps(record)))

    def delete_file(self, file_id: str) -> None:
        self._put(_DELETE_FILE, (file_id,))

    def put_batch(self, record: dict[str, Any]) -> None:
        self._put(_PUT_BATCH, (record["id"], record["tenant"], _json.dumps(record)))

    def delete_batch(self, batch_id: str) -> None:
        """A batch past its retention: its record and its line rows."""
        self._put(_DELETE_BATCH, (batch_id,))
        self._put(_DELETE_BATCH_LINES, (batch_id,))

    async def committed(self) -> None:
        """Returns once everything queued so far is committed (at once without a store)."""
        await self.add(())

    def read(self, generation_id: str, *, flush: bool = True) -> Generation | None:
        """One stored generation, or None. ``flush=False`` reads the row as last committed, without committing
        what is queued: right for a Queued generation (its insert was awaited, and nothing else writes its row
        until it leaves the queue), and it keeps one loop turn's writes in one commit."""
        row = self._one("SELECT * FROM generations WHERE id = ?", (generation_id,), flush=flush)
        return _generation(row) if row is not None else None

    def read_group(self, group_id: str) -> Group | None:
        """One stored group, or None."""
        row = self._one("SELECT * FROM groups WHERE id = ?", (group_id,))
        return _group(row) if row is not None else None

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
            "DELETE FROM generations WHERE id < ? AND created < ? AND state NOT IN ('Queued', 'In Progress')",
            (floor, created_before),
        )
        self._conn.execute("DELETE FROM groups WHERE id < ? AND created < ? AND notified = 1", (floor, created_before))
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
        ops: list[tuple[str, tuple[Any, ...]]] = [(_INSERT_GENERATION, _row(g)) for g in generations]
        ops += [(_INSERT_BATCH_LINE, line) for line in batch_lines]
        if group is not None:
            ops.append((_INSERT_GROUP, _group_row(group)))
        if idempotency is not None:
            ops.append((_INSERT_IDEMPOTENCY, idempotency))
        waiter: asyncio.Future[None] = self._running_loop().create_future()
        self._pending.extend(ops)
        self._waiters.append(waiter)
        self._schedule()
        await waiter

    def update(self, generation: Generation) -> None:
        """Record a state change; not awaited (a lost transition is replayed by the scheduler on start)."""
        response = _json.dumps(generation.response) if generation.response is not None else None
        self._put(
            _UPDATE_GENERATION,
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
        self._put(_GROUP_NOTIFIED, (group_id,))

    def enqueue_delivery(self, delivery: Delivery) -> None:
        payload = _json.dumps(delivery.payload)
        row = (delivery.id, delivery.webhook_id, delivery.event, delivery.subject, payload, 0)
        self._put(_INSERT_DELIVERY, row)

    def delivery_done(self, delivery_id: str) -> None:
        self._put(_DELIVERY_DONE, (delivery_id,))

    def set_webhook(self, webhook_id: str, url: str | None) -> None:
        if url is None:
            self._put(_DELETE_WEBHOOK, (webhook_id,))
        else:
            self._put(_SET_WEBHOOK, (webhook_id, url))

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
            for sql in sorted(by_statement, key=_rank):
                self._conn.executemany(sql, by_statement[sql])
            self._conn.execute("COMMIT")
        except sqlite3.Error as exc:
            error = exc
            if self._conn.in_transaction:
                self._conn.execute("ROLLBACK")
        _settle(waiters, error)


def _rank(sql: str) -> int:
    """A statement's place in a commit; other modules' statements (``Store.queue``) come last."""
    return _ORDER.index(sql) if sql in _ORDER else len(_ORDER)


def _settle(waiters: list[asyncio.Future[None]], error: BaseException | None) -> None:
    for waiter in waiters:
        if waiter.done():
            continue
        if error is None:
            waiter.set_result(None)
        else:
            waiter.set_exception(error)


def _row(g: Generation) -> tuple[Any, ...]:
    response = _json.dumps(g.response) if g.response is not None else None
    return (
        g.id,
        g.tenant,
        g.kind,
        g.raw if g.raw is not None else _json.dumps(g.request),
        g.created,
        g.eligible_at,
        g.run_time,
        g.state,
        g.state_message,
        response,
        g.dispatched_at,
        g.finished_at,
        g.group_id,
        int(g.fail),
        int(g.stuck),
    )


def _group_row(group: Group) -> tuple[Any, ...]:
    members = _json.dumps(group.member_ids)
    return (group.id, group.tenant, group.kind, members, group.created, group.webhook_id, int(group.notified))


def _group(row: tuple[Any, ...]) -> Group:
    gid, tenant, kind, members, created, webhook_id, notified = row
    return Group(gid, tenant, kind, _json.loads_own(members), created, webhook_id, bool(notified))


def _generation(row: tuple[Any, ...]) -> Generation:
    (
        gid,
        tenant,
        kind,
        request,
        created,
        eligible_at,
        run_time,
        state,
        message,
        response,
        dispatched,
        finished,
        group_id,
        fail,
        stuck,
    ) = row
    return Generation(
        id=gid,
        tenant=tenant,
        kind=kind,
        request=_json.loads_own(request),
        created=created,
        eligible_at=eligible_at,
        run_time=run_time,
        state=state,
        state_message=message,
        response=_json.loads_own(response) if response is not None else None,
        dispatched_at=dispatched,
        finished_at=finished,
        group_id=group_id,
        fail=bool(fail),
        stuck=bool(stuck),
    )
