"""A real mock process: acknowledged generations survive kill -9, and 1,000 concurrent submissions get unique ids."""

from __future__ import annotations

import asyncio
import json
import os
import re
import selectors
import signal
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from slowcheck.mock.store import Store
from tests.mock.conftest import AUTH, CHAT, KEY, fast, running, terminal, until

pytestmark = pytest.mark.anyio


@contextmanager
def mock_process(*args: str) -> Iterator[tuple[subprocess.Popen[str], str, int]]:
    """``slowcheck mock`` in its own process; yields it, its URL and how many generations it restored."""
    process = subprocess.Popen(
        [sys.executable, "-m", "slowcheck", "mock", "--port", "0", *args],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert process.stdout is not None
        selector = selectors.DefaultSelector()
        selector.register(process.stdout, selectors.EVENT_READ)
        if not selector.select(timeout=60):
            raise AssertionError("the mock did not say it was listening within 60 s")
        line = process.stdout.readline()
        found = re.search(r"listening on (http://\S+) .*; (\d+) restored\)", line)
        assert found, f"unexpected first line: {line!r} / {process.stderr.read() if process.poll() is not None else ''}"
        yield process, found.group(1), int(found.group(2))
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        for pipe in (process.stdout, process.stderr):
            if pipe is not None:
                pipe.close()


@pytest.mark.slow
async def test_every_acknowledged_generation_survives_kill_9_mid_load_and_still_progresses(tmp_path: Path) -> None:
    db = str(tmp_path / "mock.sqlite3")
    timing = ["--db", db, "--queue-time", "0.2..0.5", "--run-time", "0.1..0.3", "--workers", "8"]
    acked: list[str] = []
    with mock_process(*timing) as (process, url, restored):
        assert restored == 0
        limits = httpx.Limits(max_connections=16)
        async with httpx.AsyncClient(base_url=url, headers=AUTH, timeout=30, limits=limits) as client:

            async def submit(i: int) -> None:
                answer = await client.post("/v1/slow/chat/completions", json=CHAT | {"metadata": {"i": str(i)}})
                if answer.status_code == 200:
                    acked.append(answer.json()["id"])
                    if len(acked) == 300:
                        os.kill(process.pid, signal.SIGKILL)  # mid-load: more submissions are in flight

            await asyncio.gather(*(submit(i) for i in range(600)), return_exceptions=True)
        process.wait(timeout=20)
        assert process.returncode == -signal.SIGKILL
    assert len(acked) >= 300

    with mock_process(*timing) as (_, url, restored):
        assert restored >= len(acked)
        async with httpx.AsyncClient(base_url=url, headers=AUTH, timeout=30) as client:
            missing = [i for i in acked if (await client.get(f"/v1/generation/{i}")).status_code != 200]
            assert missing == [], f"{len(missing)} acknowledged generations were lost"
            finals = [(await until(client, i, terminal, timeout=60))[-1] for i in acked[:50]]
    assert {f["state"] for f in finals} == {"Success"}, "restored generations still move forward"


@pytest.mark.slow
async def test_in_memory_mode_keeps_nothing_across_restarts() -> None:
    with mock_process("--db", ":memory:") as (_, url, _restored):
        async with httpx.AsyncClient(base_url=url, headers=AUTH) as client:
            generation_id = (await client.post("/v1/slow/chat/completions", json=CHAT)).json()["id"]
    with mock_process("--db", ":memory:") as (_, url, restored):
        async with httpx.AsyncClient(base_url=url, headers=AUTH) as client:
            gone = await client.get(f"/v1/generation/{generation_id}")
    assert restored == 0
    assert gone.status_code == 404


async def test_a_thousand_concurrent_durable_submissions_get_unique_ids(tmp_path: Path) -> None:
    async with running(fast(db=str(tmp_path / "burst.sqlite3"))) as client:
        answers = await asyncio.gather(*(client.post("/v1/slow/chat/completions", json=CHAT) for _ in range(1000)))
        stats = (await client.get("/_mock/stats")).json()
    ids = [a.json()["id"] for a in answers]
    assert {a.status_code for a in answers} == {200}
    assert len(set(ids)) == 1000
    assert all(re.fullmatch(r"[A-Za-z0-9_-]{21}", i) for i in ids)
    assert stats["totals"]["submissions"] == 1000


@pytest.mark.slow
def test_startup_errors_are_one_line(tmp_path: Path) -> None:
    folder = tmp_path / "not-a-file"
    folder.mkdir()
    done = subprocess.run([sys.executable, "-m", "slowcheck", "mock", "--db", str(folder)],
                          capture_output=True, text=True, timeout=60, check=False)  # fmt: skip
    assert done.returncode == 2
    assert done.stderr.startswith("slowcheck: error: cannot open the mock's database")
    assert done.stderr.count("\n") == 1


async def test_api_keys_reach_no_stored_byte(tmp_path: Path) -> None:
    db = tmp_path / "keys.sqlite3"
    async with running(fast(db=str(db), api_keys=[KEY], webhooks={"wh": "http://127.0.0.1:9/x"})) as client:
        ack = (await client.post("/v1/slow/chat/completions", json=CHAT, headers={"Idempotency-Key": "i-1"})).json()
        await until(client, ack["id"], terminal)
        stats = (await client.get("/_mock/stats")).text
    stored = b"".join(p.read_bytes() for p in tmp_path.rglob("*") if p.is_file())  # the batch files' folder too
    assert ack["id"].encode() in stored, "the generation was stored"
    assert KEY.encode() not in stored
    assert KEY not in stats


def test_a_database_from_before_batch_ids_opens_with_its_batch_lines_moved(tmp_path: Path) -> None:
    """Batch lines once had their batch's id as group_id: such a database gets the batch_id column on opening."""
    db = tmp_path / "before.sqlite3"
    conn = sqlite3.connect(db)
    conn.execute(
        "CREATE TABLE generations (id TEXT PRIMARY KEY, tenant TEXT NOT NULL, kind TEXT NOT NULL, request BLOB NOT "
        "NULL, created REAL NOT NULL, eligible_at REAL NOT NULL, run_time REAL NOT NULL, state TEXT NOT NULL, "
        "state_message TEXT NOT NULL, response BLOB, dispatched_at REAL, finished_at REAL, group_id TEXT, "
        "fail INTEGER NOT NULL, stuck INTEGER NOT NULL)"
    )
    request = json.dumps(CHAT).encode()
    rows = [(gid, "key_x", "chat", request, 1.0, 1.0, 0.1, "Queued", "Queued", None, None, None, group, 0, 0)
            for gid, group in (("line", "batch_B"), ("member", "G1"), ("single", None))]  # fmt: skip
    conn.executemany("INSERT INTO generations VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)", rows)
    conn.commit()
    conn.close()
    store = Store(str(db))
    try:
        read = {gid: store.read(gid) for gid in ("line", "member", "single")}
        unfinished = store.unfinished_lines("batch_B")
    finally:
        store.close()
    assert {gid: (g.batch_id, g.group_id) for gid, g in read.items() if g is not None} == {
        "line": ("batch_B", None), "member": (None, "G1"), "single": (None, None)}  # fmt: skip
    assert unfinished == {"line"}
