"""The store's SQLite tables: their layout, the statements that write them in the order one commit runs them,
and records turned into rows and back."""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from typing import Any, NamedTuple

from slowcheck import _json
from slowcheck.mock.records import Generation, Group

__all__ = ["LAYOUT", "OutboxEntry", "PendingRow", "generation_of", "generation_row", "group_of", "group_row",
           "rank", "upgrade"]  # fmt: skip

LAYOUT = """
CREATE TABLE IF NOT EXISTS generations (
  id TEXT PRIMARY KEY, tenant TEXT NOT NULL, kind TEXT NOT NULL, request BLOB NOT NULL,
  created REAL NOT NULL, eligible_at REAL NOT NULL, run_time REAL NOT NULL,
  state TEXT NOT NULL, state_message TEXT NOT NULL, response BLOB,
  dispatched_at REAL, finished_at REAL, group_id TEXT, fail INTEGER NOT NULL, stuck INTEGER NOT NULL,
  batch_id TEXT);
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
CREATE INDEX IF NOT EXISTS idempotency_target ON idempotency (target);
"""
# Ids begin with their time (slowcheck.mock.ids), so the primary keys serve the expiry too: no index on
# `created`, which cost every insert a fourth b-tree.

INSERT_GENERATION = "INSERT OR REPLACE INTO generations VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)"
UPDATE_GENERATION = (
    "UPDATE generations SET state=?, state_message=?, response=?, dispatched_at=?, finished_at=? WHERE id=?"
)
INSERT_GROUP = "INSERT INTO groups VALUES (?,?,?,?,?,?,?)"
INSERT_IDEMPOTENCY = "INSERT OR REPLACE INTO idempotency VALUES (?,?,?,?)"
INSERT_OUTBOX = "INSERT OR REPLACE INTO outbox VALUES (?,?,?,?,?,?)"
OUTBOX_DONE = "UPDATE outbox SET done = 1 WHERE id = ?"
GROUP_NOTIFIED = "UPDATE groups SET notified = 1 WHERE id = ?"
SET_WEBHOOK = "INSERT OR REPLACE INTO webhooks VALUES (?, ?)"
DELETE_WEBHOOK = "DELETE FROM webhooks WHERE id = ?"
PUT_FILE = "INSERT OR REPLACE INTO files VALUES (?, ?, ?)"
DELETE_FILE = "DELETE FROM files WHERE id = ?"
PUT_BATCH = "INSERT OR REPLACE INTO batches VALUES (?, ?, ?)"
INSERT_BATCH_LINE = "INSERT INTO batch_lines VALUES (?, ?, ?, ?)"
DELETE_BATCH = "DELETE FROM batches WHERE id = ?"
DELETE_BATCH_LINES = "DELETE FROM batch_lines WHERE batch_id = ?"
_ORDER = [INSERT_GENERATION, INSERT_GROUP, INSERT_IDEMPOTENCY, INSERT_OUTBOX, PUT_FILE, INSERT_BATCH_LINE,
          UPDATE_GENERATION, GROUP_NOTIFIED, OUTBOX_DONE, SET_WEBHOOK, DELETE_WEBHOOK, DELETE_FILE,
          PUT_BATCH, DELETE_BATCH_LINES, DELETE_BATCH]  # fmt: skip
"""Within one commit: rows inserted before they are updated; a batch's record after the lines it counts."""


def rank(sql: str) -> int:
    """A statement's place in a commit; other modules' statements (``Store.queue``) come last."""
    return _ORDER.index(sql) if sql in _ORDER else len(_ORDER)


def upgrade(conn: sqlite3.Connection) -> None:
    """A database written before batch lines had a column of their own (they had their batch's id as group_id:
    a batch's id begins with ``batch_``, a group's never does) gets it, and its lines are moved into it."""
    if any(column[1] == "batch_id" for column in conn.execute("PRAGMA table_info(generations)")):
        return
    conn.executescript(
        "BEGIN; ALTER TABLE generations ADD COLUMN batch_id TEXT; "
        "UPDATE generations SET batch_id = group_id, group_id = NULL WHERE substr(group_id, 1, 6) = 'batch_'; "
        "COMMIT;"
    )


class PendingRow(NamedTuple):
    """What the schedule needs of a pending generation on start: no request."""

    id: str
    eligible_at: float
    created: float
    state: str
    stuck: bool
    group_id: str | None


@dataclass(slots=True)
class OutboxEntry:
    """A webhook event waiting in the outbox until its endpoint has answered (or given up)."""

    id: str
    webhook_id: str
    event: str
    subject: str
    """The generation or group id the event is about."""
    payload: dict[str, Any]

    def row(self) -> tuple[Any, ...]:
        return (self.id, self.webhook_id, self.event, self.subject, _json.dumps(self.payload), 0)


def generation_row(g: Generation) -> tuple[Any, ...]:
    response = _json.dumps(g.response) if g.response is not None else None
    request = g.raw if g.raw is not None else _json.dumps(g.request)
    return (g.id, g.tenant, g.kind, request, g.created, g.eligible_at, g.run_time, g.state, g.state_message, response,
            g.dispatched_at, g.finished_at, g.group_id, int(g.fail), int(g.stuck), g.batch_id)  # fmt: skip


def generation_of(row: tuple[Any, ...]) -> Generation:
    (gid, tenant, kind, request, created, eligible_at, run_time, state, message, response, dispatched, finished,
     group_id, fail, stuck, batch_id) = row  # fmt: skip
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
        batch_id=batch_id,
        fail=bool(fail),
        stuck=bool(stuck),
    )


def group_row(group: Group) -> tuple[Any, ...]:
    members = _json.dumps(group.member_ids)
    return (group.id, group.tenant, group.kind, members, group.created, group.webhook_id, int(group.notified))


def group_of(row: tuple[Any, ...]) -> Group:
    gid, tenant, kind, members, created, webhook_id, notified = row
    return Group(gid, tenant, kind, _json.loads_own(members), created, webhook_id, bool(notified))
