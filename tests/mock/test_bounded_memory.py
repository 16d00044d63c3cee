"""A soak-sized mock: finished generations live in SQLite, a bounded cache of them in the process, and the
expiry window removes old rows, so neither the process nor the file grows without end."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

import pytest

from slowcheck.mock import ids
from slowcheck.mock.app import engine_of
from slowcheck.mock.stats import WINDOW, Stats
from tests.mock.conftest import CHAT, fast, running, terminal, until

pytestmark = pytest.mark.anyio


async def submit_and_finish(client, count: int) -> list[str]:  # type: ignore[no-untyped-def]
    ids = [(await client.post("/v1/slow/chat/completions", json=CHAT | {"n": 1 + i % 3})).json()["id"]
           for i in range(count)]  # fmt: skip
    for generation_id in ids:
        await until(client, generation_id, terminal)
    return ids


async def test_a_cache_of_n_holds_at_most_n_finished_records_and_the_rest_read_back_identically(
    tmp_path: Path,
) -> None:
    async with running(fast(db=str(tmp_path / "m.sqlite3"), cache_size=5)) as client:
        engine = engine_of(client.app)  # type: ignore[attr-defined]
        ids = await submit_and_finish(client, 20)
        seen = {i: (await client.get(f"/v1/generation/{i}")).json() for i in ids}
        assert len(engine.recent) <= 5, "the cache is bounded"
        assert not engine.running, "nothing left running"
        assert not engine.schedule, "nothing left queued"
        evicted = [i for i in ids if i not in engine.recent]
        assert len(evicted) >= 15
        for generation_id in evicted:
            assert (await client.get(f"/v1/generation/{generation_id}")).json() == seen[generation_id]
        assert len(engine.recent) <= 5, "reading back does not grow it"
        stats = (await client.get("/_mock/stats")).json()
    assert stats["generations"] == {"Success": 20}, "counts come from the store, not the cache"


async def test_without_a_store_every_record_stays_in_memory() -> None:
    async with running(fast(db=":memory:", cache_size=2)) as client:
        ids = await submit_and_finish(client, 6)
        answers = [(await client.get(f"/v1/generation/{i}")).status_code for i in ids]
    assert answers == [200] * 6, "nothing to read back from: nothing is evicted"


async def test_the_expiry_window_removes_finished_rows_and_their_idempotency_keys(tmp_path: Path) -> None:
    keyed = {"Idempotency-Key": "nightly-1"}
    async with running(fast(db=str(tmp_path / "m.sqlite3"), expiry=1.0)) as client:
        engine = engine_of(client.app)  # type: ignore[attr-defined]
        old = (await client.post("/v1/slow/chat/completions", json=CHAT, headers=keyed)).json()["id"]
        await until(client, old, terminal)
        tenant = next(iter(engine.stats.by_key))
        assert engine.store.read_idempotency(tenant, "nightly-1") is not None
        for _ in range(200):  # the scheduler prunes at least once a second; 10 s is a failure
            if not engine.store.counts():
                break
            await asyncio.sleep(0.05)
        gone = await client.get(f"/v1/generation/{old}")
        stored_key = engine.store.read_idempotency(tenant, "nightly-1")
        engine._idempotency.clear()  # as after a restart, or once the key is evicted
        retried = await client.post("/v1/slow/chat/completions", json=CHAT, headers=keyed)
        (fresh,) = await submit_and_finish(client, 1)
        kept = await client.get(f"/v1/generation/{fresh}")
    assert gone.status_code == 404, "past its window, a finished generation is gone"
    assert stored_key is None, "its Idempotency-Key went with it"
    assert retried.status_code == 200
    assert retried.json()["id"] != old, "retried after, the key makes a new one"
    assert "idempotent-replayed" not in retried.headers
    assert kept.status_code == 200


def test_ids_sort_as_their_times_in_the_documented_form(monkeypatch: pytest.MonkeyPatch) -> None:
    made: list[tuple[int, str]] = []
    for ms in (1_700_000_000_000, 1_700_000_000_001, 1_764_000_000_000, 1_764_000_060_000, 2_000_000_000_000):
        monkeypatch.setattr(ids.time, "time_ns", lambda ms=ms: ms * 1_000_000)
        made += [(ms, ids.new_id()) for _ in range(50)]
    assert all(re.fullmatch(r"[A-Za-z][A-Za-z0-9_-]{20}", i) for _, i in made), "21 URL-safe characters, a letter first"
    assert len({i for _, i in made}) == len(made)
    assert [ms for ms, _ in sorted(made, key=lambda pair: pair[1])] == sorted(ms for ms, _ in made)
    floor = ids.id_floor(1_764_000_000.000)
    assert {ms for ms, i in made if i < floor} == {1_700_000_000_000, 1_700_000_000_001}


def test_per_generation_poll_counts_and_body_hashes_are_kept_for_a_window() -> None:
    stats = Stats()
    for n in range(WINDOW + 10):
        stats.polled("key_a", f"g{n}")
        stats.submitted("key_a", f"h{n}")
    assert len(stats.polls_by_generation) == WINDOW
    assert "g0" not in stats.polls_by_generation
    assert stats.polls_by_generation[f"g{WINDOW + 9}"] == 1
    assert len(stats.body_hashes["key_a"]) == WINDOW
    stats.submitted("key_a", f"h{WINDOW + 9}")
    assert stats.by_key["key_a"]["duplicate_bodies"] == 1, "a recent duplicate is still seen"


async def test_a_finished_group_and_an_old_idempotency_key_are_read_back(tmp_path: Path) -> None:
    async with running(fast(db=str(tmp_path / "m.sqlite3"), cache_size=2)) as client:
        engine = engine_of(client.app)  # type: ignore[attr-defined]
        keyed = {"Idempotency-Key": "order-17"}
        first = (await client.post("/v1/slow/chat/completions", json=CHAT, headers=keyed)).json()["id"]
        requests = [CHAT | {"metadata": {"custom_id": f"g-{i}"}} for i in range(3)]
        group_id = (await client.post("/v1/slow/group/chat/completions", json={"requests": requests})).json()["groupId"]
        listing: dict = {}  # type: ignore[type-arg]
        for _ in range(200):  # until every member is terminal (10 s at the most)
            answer = await client.get(f"/v1/slow/group/{group_id}/generations")
            listing = answer.json() if answer.status_code == 200 else {}
            if listing and all(terminal(g) for g in listing["generations"]):
                break
            await asyncio.sleep(0.05)
        await submit_and_finish(client, 4)  # push the group's members and the keyed one out of the cache
        assert group_id not in engine.groups, "a notified group leaves memory"
        assert len(engine.recent) <= 2
        again = await client.get(f"/v1/slow/group/{group_id}/generations")
        engine._idempotency.clear()  # as after a restart, or once the key is evicted
        replay = await client.post("/v1/slow/chat/completions", json=CHAT, headers=keyed)
    assert again.json() == listing, "the group's listing reads back from the store, identical"
    assert replay.json()["id"] == first
    assert replay.headers["idempotent-replayed"] == "true"
