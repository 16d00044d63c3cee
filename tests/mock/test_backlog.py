"""A backlog on disk: pending generations' records stay in SQLite, memory holds a compact schedule of them, and
they are read, run, expired and restored from the store."""

from __future__ import annotations

import asyncio
import gc
from pathlib import Path
from typing import Any

import pytest

from slowcheck.mock import Faults, Span
from slowcheck.mock.app import engine_of
from slowcheck.mock.records import Generation
from tests.mock.conftest import CHAT, fast, running, terminal, until

pytestmark = pytest.mark.anyio

BACKLOG = 1500
CACHE = 10


def body(i: int) -> dict[str, Any]:
    return CHAT | {"metadata": {"custom_id": f"b-{i}"}}


def held(ids: set[str]) -> int:
    """Records of these generations alive in the process."""
    gc.collect()
    return sum(1 for o in gc.get_objects() if isinstance(o, Generation) and o.id in ids)


async def test_a_backlog_holds_ids_and_times_in_memory_not_records_and_reads_them_from_the_store(
    tmp_path: Path,
) -> None:
    # One worker taken for an hour: everything after the first waits.
    settings = fast(db=str(tmp_path / "m.sqlite3"), cache_size=CACHE, workers=1, queue_time=Span(0, 0),
                    run_time=Span(3600, 3600))  # fmt: skip
    async with running(settings) as client:
        engine = engine_of(client.app)  # type: ignore[attr-defined]
        ids = [(await client.post("/v1/slow/chat/completions", json=body(i))).json()["id"] for i in range(BACKLOG)]
        # When
        records = {i: (await client.get(f"/v1/generation/{ids[i]}")).json() for i in range(0, BACKLOG, 7)}
        # Then
        alive = held(set(ids))
        queued, running_, cached = len(engine.schedule), len(engine.running), len(engine.recent)
        per_entry = engine.schedule.footprint() / queued
    assert queued + running_ == BACKLOG, "every one is scheduled or running"
    assert running_ == 1
    assert cached <= CACHE, "reading a backlog does not grow the cache"
    assert alive <= CACHE + 1, f"{alive} records of {BACKLOG} pending generations in memory"
    assert per_entry <= 64, f"the schedule holds {per_entry:.0f} bytes per queued generation"
    assert {r["state"] for i, r in records.items() if i > 0} == {"Queued"}
    assert all(r["request"] == body(i) for i, r in records.items()), "read back from the store, as sent"


async def test_a_pending_backlog_survives_a_restart_readable_and_the_schedule_resumes(tmp_path: Path) -> None:
    db = str(tmp_path / "m.sqlite3")
    hour = {"queue_time": Span(0, 0), "run_time": Span(3600, 3600), "cache_size": CACHE}
    async with running(fast(db=db, workers=1, **hour)) as client:
        ids = [(await client.post("/v1/slow/chat/completions", json=body(i))).json()["id"] for i in range(40)]
        first = (await until(client, ids[0], lambda r: r["state"] == "In Progress"))[-1]
        before = {i: (await client.get(f"/v1/generation/{i}")).json() for i in ids[1:]}
    assert {r["state"] for r in before.values()} == {"Queued"}, "one worker: the rest wait"

    # When the mock restarts with a worker for each
    async with running(fast(db=db, workers=40, **hour)) as client:
        engine = engine_of(client.app)  # type: ignore[attr-defined]
        after = {i: (await client.get(f"/v1/generation/{i}")).json() for i in ids}
        # Then they are read back while pending, and taken by the new workers
        resumed = [(await until(client, i, lambda r: r["state"] == "In Progress"))[-1] for i in ids]
        running_ = len(engine.running)
    assert after[ids[0]] == first, "the one that ran resumes where it was"
    assert all(after[i]["request"] == before[i]["request"] for i in ids[1:])
    assert {r["dispatchedAt"] is not None for r in resumed} == {True}
    assert resumed[0]["dispatchedAt"] == first["dispatchedAt"], "not dispatched twice"
    assert running_ == 40


@pytest.mark.parametrize("db", [pytest.param("file", id="durable"), pytest.param(":memory:", id="in-memory")])
async def test_a_queued_backlog_expires_with_its_records_read_back(tmp_path: Path, db: str) -> None:
    path = str(tmp_path / "m.sqlite3") if db == "file" else db
    settings = fast(db=path, cache_size=1, workers=1, queue_time=Span(0, 0), run_time=Span(30, 30), expiry=0.3)
    async with running(settings) as client:
        engine = engine_of(client.app)  # type: ignore[attr-defined]
        finished: list[Generation] = []
        all_expired = asyncio.Event()

        def seen(generation: Generation) -> None:  # what webhooks and batches are told, before any prune
            finished.append(generation)
            if len(finished) == 19:
                all_expired.set()

        engine.listeners.append(seen)
        for i in range(20):
            await client.post("/v1/slow/chat/completions", json=body(i))
        await asyncio.wait_for(all_expired.wait(), timeout=10)
    assert {g.state for g in finished} == {"Failed"}
    assert all(g.state_message.startswith("Expired") for g in finished)
    assert [g.request for g in finished] == [body(i) for i in range(1, 20)], "in order of arrival, as sent"


@pytest.mark.parametrize("db", [pytest.param("file", id="durable"), pytest.param(":memory:", id="in-memory")])
async def test_the_swap_fault_exchanges_responses_with_another_generation_never_itself(tmp_path: Path, db: str) -> None:
    # The cache holds records of every state: a finishing one is in it too, and must not be its own partner.
    path = str(tmp_path / "m.sqlite3") if db == "file" else db
    async with running(fast(db=path, faults=Faults(swap_ratio=1.0))) as client:
        first = (await client.post("/v1/slow/chat/completions", json=body(1))).json()["id"]
        await until(client, first, terminal)
        second = (await client.post("/v1/slow/chat/completions", json=body(2))).json()["id"]
        await until(client, second, terminal)
        records = [(await client.get(f"/v1/generation/{i}")).json() for i in (first, second)]
    assert [r["response"]["id"] for r in records] == [second, first]
