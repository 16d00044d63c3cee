"""The mock's Batch API: files, the batch status machine, output and error files, cancel, expiry, listing,
tenants, and a batch that survives kill -9 with every line answered exactly once."""

from __future__ import annotations

import asyncio
import json
import signal
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from slowcheck.mock.settings import Span
from slowcheck.schemas import schema_set
from tests.mock.conftest import KEY, TEXT, fast, running
from tests.mock.test_durability import mock_process

pytestmark = pytest.mark.anyio
ORDER = ["validating", "in_progress", "finalizing", "completed"]


def chat_line(n: int, **extra: Any) -> bytes:
    body = {"model": "inference-net/load-test", "messages": [{"role": "user", "content": f"Question {n}?"}]}
    return json.dumps({"custom_id": f"q-{n}", "method": "POST", "body": body} | extra).encode() + b"\n"


async def upload(client: httpx.AsyncClient, content: bytes, **headers: str) -> dict[str, Any]:
    answer = await client.post("/v1/files", files={"file": ("input.jsonl", content)}, data={"purpose": "batch"},
                               headers=headers)  # fmt: skip
    assert answer.status_code == 200, answer.text
    return answer.json()  # type: ignore[no-any-return]


async def create(client: httpx.AsyncClient, file_id: str, **extra: Any) -> dict[str, Any]:
    body = {"input_file_id": file_id, "endpoint": "/v1/chat/completions", "completion_window": "24h"} | extra
    answer = await client.post("/v1/batches", json=body)
    assert answer.status_code == 200, answer.text
    return answer.json()  # type: ignore[no-any-return]


async def until_done(client: httpx.AsyncClient, batch_id: str, timeout: float = 20.0) -> list[dict[str, Any]]:
    """Every distinct status the batch showed, polled as a client would, until a terminal one."""
    seen: list[dict[str, Any]] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        batch = (await client.get(f"/v1/batches/{batch_id}")).json()
        if not seen or seen[-1]["status"] != batch["status"]:
            seen.append(batch)
        if batch["status"] in ("completed", "failed", "expired", "cancelled"):
            seen[-1] = batch
            return seen
        await asyncio.sleep(0.02)
    raise AssertionError(f"batch {batch_id} not finished in {timeout} s: {seen[-1] if seen else None}")


async def lines_of(client: httpx.AsyncClient, file_id: str | None) -> list[dict[str, Any]]:
    if file_id is None:
        return []
    answer = await client.get(f"/v1/files/{file_id}/content")
    assert answer.status_code == 200
    return [json.loads(line) for line in answer.content.splitlines()]


@pytest.mark.parametrize("durable", [False, True], ids=["memory", "sqlite"])
async def test_a_batch_runs_every_line_once_through_the_documented_statuses(tmp_path: Path, durable: bool) -> None:
    schemas = schema_set()
    db = str(tmp_path / "m.sqlite3") if durable else ":memory:"
    content = b"".join(chat_line(n) for n in range(30)) + b"\n" + chat_line(30, url="/v1/chat/completions")
    async with running(fast(db=db, workers=4)) as client:
        stored = await upload(client, content)
        created = await create(client, stored["id"], metadata={"job": "nightly"})
        seen = await until_done(client, created["id"])
        final = seen[-1]
        output = await lines_of(client, final["output_file_id"])
        output_file = (await client.get(f"/v1/files/{final['output_file_id']}")).json()
        raw = (await client.get(f"/v1/files/{stored['id']}/content")).content
    assert schemas.errors("file", stored) == []
    assert (stored["bytes"], stored["purpose"], raw) == (len(content), "batch", content)
    assert schemas.errors("batch", created) == []
    assert (created["status"], created["metadata"], created["endpoint"]) == ("validating", {"job": "nightly"},
                                                                              "/v1/chat/completions")  # fmt: skip
    statuses = [b["status"] for b in seen]
    assert statuses == sorted(statuses, key=ORDER.index), "statuses only move forward"
    assert statuses[-1] == "completed"
    assert all(schemas.errors("batch", b) == [] for b in seen), "each status carries its timestamps"
    assert final["request_counts"] == {"total": 31, "completed": 31, "failed": 0}
    assert final["created_at"] <= final["in_progress_at"] <= final["finalizing_at"] <= final["completed_at"]
    assert final["error_file_id"] is None, "no error file when nothing failed"
    assert sorted(line["custom_id"] for line in output) == sorted(f"q-{n}" for n in range(31)), "each once"
    assert all(schemas.errors("batch-output-line", line) == [] for line in output)
    assert all(line["response"]["body"]["object"] == "chat.completion" for line in output)
    assert (output_file["purpose"], schemas.errors("file", output_file)) == ("batch_output", [])


async def test_an_invalid_input_file_fails_with_the_numbers_of_its_bad_lines() -> None:
    content = b"".join([
        chat_line(1),
        b"{not json\n",
        chat_line(3, method="GET"),
        chat_line(1),
        json.dumps({"custom_id": "t", "method": "POST", "url": "/v1/completions", "body": TEXT}).encode() + b"\n",
        json.dumps({"custom_id": "e", "method": "POST", "body": {"model": "m", "input": "x"}}).encode() + b"\n",
    ])  # fmt: skip
    async with running(fast()) as client:
        stored = await upload(client, content)
        final = (await until_done(client, (await create(client, stored["id"]))["id"]))[-1]
    assert schema_set().errors("batch", final) == []
    assert final["status"] == "failed"
    found = {(e["line"], e["code"]) for e in final["errors"]["data"]}
    assert found == {(2, "invalid_json_line"), (3, "invalid_request"), (4, "duplicate_custom_id"),
                     (5, "mismatched_url"), (6, "mismatched_body")}  # fmt: skip


async def test_cancel_moves_through_cancelling_and_keeps_what_finished() -> None:
    content = b"".join(chat_line(n) for n in range(10))
    settings = fast(workers=1, queue_time=Span(0.0, 0.0), run_time=Span(0.05, 0.05))
    async with running(settings) as client:
        stored = await upload(client, content)
        batch_id = (await create(client, stored["id"]))["id"]
        while (await client.get(f"/v1/batches/{batch_id}")).json()["request_counts"]["completed"] < 2:
            await asyncio.sleep(0.01)
        cancelling = (await client.post(f"/v1/batches/{batch_id}/cancel")).json()
        final = (await until_done(client, batch_id))[-1]
        again = await client.post(f"/v1/batches/{batch_id}/cancel")
        output = await lines_of(client, final["output_file_id"])
        errors = await lines_of(client, final["error_file_id"])
    assert cancelling["status"] == "cancelling"
    assert schema_set().errors("batch", cancelling) == []
    assert final["status"] == "cancelled"
    assert final["cancelling_at"] <= final["cancelled_at"]
    assert len(output) >= 2, "what finished before the cancel is kept"
    assert sorted(x["custom_id"] for x in output + errors) == sorted(f"q-{n}" for n in range(10))
    assert {e["error"]["code"] for e in errors} == {"batch_cancelled"}
    assert again.status_code == 409


async def test_a_batch_past_its_window_expires_and_keeps_its_partial_output() -> None:
    content = b"".join(chat_line(n) for n in range(6))
    settings = fast(workers=1, batch_window=0.6, queue_time=Span(0.0, 0.0), run_time=Span(0.15, 0.15))
    async with running(settings) as client:
        stored = await upload(client, content)
        final = (await until_done(client, (await create(client, stored["id"]))["id"]))[-1]
        output = await lines_of(client, final["output_file_id"])
        errors = await lines_of(client, final["error_file_id"])
    assert final["status"] == "expired"
    assert schema_set().errors("batch", final) == []
    assert 1 <= len(output) < 6
    assert sorted(x["custom_id"] for x in output + errors) == sorted(f"q-{n}" for n in range(6))
    assert {e["error"]["code"] for e in errors} == {"batch_expired"}


async def test_listing_pages_newest_first_without_repeats_or_gaps() -> None:
    async with running(fast()) as client:
        stored = await upload(client, chat_line(0))
        made = [(await create(client, stored["id"]))["id"] for _ in range(5)]
        pages, after = [], None
        while True:
            query = {"limit": 2} | ({"after": after} if after else {})
            page = (await client.get("/v1/batches", params=query)).json()
            pages.append(page)
            if not page["has_more"]:
                break
            after = page["last_id"]
        bad = await client.get("/v1/batches", params={"limit": 0})
    assert all(schema_set().errors("batch-list", p) == [] for p in pages)
    listed = [b["id"] for p in pages for b in p["data"]]
    assert listed == sorted(made, reverse=True)
    assert [len(p["data"]) for p in pages] == [2, 2, 1]
    assert bad.status_code == 400


async def test_files_and_batches_belong_to_their_key() -> None:
    other = {"Authorization": "Bearer sk-other"}
    async with running(fast(api_keys=[KEY, "sk-other"])) as client:
        stored = await upload(client, chat_line(0))
        batch = await create(client, stored["id"])
        answers = [
            await client.get(f"/v1/files/{stored['id']}", headers=other),
            await client.get(f"/v1/files/{stored['id']}/content", headers=other),
            await client.get(f"/v1/batches/{batch['id']}", headers=other),
            await client.post(f"/v1/batches/{batch['id']}/cancel", headers=other),
            await client.post(
                "/v1/batches",
                headers=other,
                json={"input_file_id": stored["id"], "endpoint": "/v1/chat/completions", "completion_window": "24h"},
            ),  # fmt: skip
        ]
        listing = (await client.get("/v1/batches", headers=other)).json()
    assert [a.status_code for a in answers] == [404] * 5
    assert listing["data"] == []


@pytest.mark.parametrize(
    ("body", "param"),
    [
        pytest.param({"endpoint": "/v1/chat/completions", "completion_window": "24h"}, "input_file_id", id="no-file"),
        pytest.param({"endpoint": "/v1/responses", "completion_window": "24h"}, "endpoint", id="endpoint"),
        pytest.param({"endpoint": "/v1/completions", "completion_window": "1h"}, "completion_window", id="window"),
        pytest.param(
            {"endpoint": "/v1/completions", "completion_window": "24h", "metadata": {"k": 1}}, "metadata", id="metadata"
        ),  # fmt: skip
        pytest.param(
            {"endpoint": "/v1/completions", "completion_window": "24h", "webhook_url": 3},
            "webhook_url",
            id="webhook-url",
        ),  # fmt: skip
    ],
)
async def test_a_bad_batch_request_is_a_400_naming_the_field(body: dict[str, Any], param: str) -> None:
    async with running(fast()) as client:
        stored = await upload(client, chat_line(0))
        answer = await client.post("/v1/batches", json={"input_file_id": stored["id"]} | body
                                   if param != "input_file_id" else body)  # fmt: skip
        purpose = await client.post("/v1/files", files={"file": ("x.jsonl", b"{}")}, data={"purpose": "fine-tune"})
        no_file = await client.post("/v1/files", data={"purpose": "batch"})
    for refused in (answer, purpose, no_file):
        assert refused.status_code == 400
        assert schema_set().errors("error", refused.json()) == []
    assert answer.json()["error"]["param"] == param
    assert purpose.json()["error"]["param"] == "purpose"


@pytest.mark.slow
def test_a_batch_survives_kill_9_mid_run_and_answers_every_line_exactly_once(tmp_path: Path) -> None:
    db = str(tmp_path / "mock.sqlite3")
    timing = ["--db", db, "--queue-time", "0", "--run-time", "0.02..0.05", "--workers", "4", "--api-key", "sk-k"]
    headers = {"Authorization": "Bearer sk-k"}
    content = b"".join(chat_line(n) for n in range(400))
    with mock_process(*timing) as (process, url, _):
        with httpx.Client(base_url=url, headers=headers) as client:
            file_id = client.post("/v1/files", files={"file": ("in.jsonl", content)}, data={"purpose": "batch"})
            body = {"input_file_id": file_id.json()["id"], "endpoint": "/v1/chat/completions",
                    "completion_window": "24h"}  # fmt: skip
            batch_id = client.post("/v1/batches", json=body).json()["id"]
            while client.get(f"/v1/batches/{batch_id}").json()["request_counts"]["completed"] < 40:
                time.sleep(0.02)
        process.send_signal(signal.SIGKILL)
        process.wait()
    with mock_process(*timing) as (_, url, restored), httpx.Client(base_url=url, headers=headers) as client:
        deadline = time.monotonic() + 60
        while (batch := client.get(f"/v1/batches/{batch_id}").json())["status"] != "completed":
            assert time.monotonic() < deadline, batch
            time.sleep(0.05)
        answer = client.get(f"/v1/files/{batch['output_file_id']}/content")
        output = [json.loads(x) for x in answer.content.splitlines()]
    assert restored > 0, "the batch's pending lines were restored"
    assert batch["request_counts"] == {"total": 400, "completed": 400, "failed": 0}
    assert sorted(line["custom_id"] for line in output) == sorted(f"q-{n}" for n in range(400)), "each once"
    generation_ids = [line["response"]["body"]["id"] for line in output]
    assert len(set(generation_ids)) == 400, "no line ran twice"


async def test_upload_needs_multipart_and_a_key() -> None:
    async with running(fast()) as client:
        as_json = await client.post("/v1/files", json={"purpose": "batch"})
        anonymous = await client.post("/v1/files", files={"file": ("x", b"")}, data={"purpose": "batch"},
                                      headers={"Authorization": ""})  # fmt: skip
    assert as_json.status_code == 400
    assert as_json.json()["error"]["code"] == "invalid_content_type"
    assert anonymous.status_code == 401


async def test_past_the_retention_window_a_batch_its_lines_and_its_files_are_gone(tmp_path: Path) -> None:
    db = str(tmp_path / "m.sqlite3")
    async with running(fast(db=db, expiry=1.0)) as client:
        stored = await upload(client, b"".join(chat_line(n) for n in range(3)))
        final = (await until_done(client, (await create(client, stored["id"]))["id"]))[-1]
        output_path = Path(db + "-files") / final["output_file_id"]
        assert output_path.exists()
        deadline = time.monotonic() + 10  # pruned about once a second
        while (await client.get(f"/v1/batches/{final['id']}")).status_code == 200:
            assert time.monotonic() < deadline, "the batch outlived its window"
            await asyncio.sleep(0.05)
        answers = [(await client.get(f"/v1/files/{i}")).status_code for i in (stored["id"], final["output_file_id"])]
        store = client.app.state.mock.engine.store  # type: ignore[attr-defined]
        rows = list(store.batch_results(final["id"]))
        others = store._conn.execute("SELECT COUNT(*) FROM batches").fetchone()[0]
    assert answers == [404, 404]
    assert not output_path.exists(), "the result file left the disk"
    assert (rows, others) == ([], 0), "its line rows and its record left the store"


async def test_line_level_refusals_complete_the_batch_with_only_an_error_file() -> None:
    from slowcheck.mock import Faults

    async with running(fast(faults=Faults(batch_line_error_ratio=1.0))) as client:
        stored = await upload(client, b"".join(chat_line(n) for n in range(4)))
        final = (await until_done(client, (await create(client, stored["id"]))["id"]))[-1]
        errors = await lines_of(client, final["error_file_id"])
    assert (final["status"], final["output_file_id"]) == ("completed", None), "no output file, as OpenAI does"
    assert final["request_counts"] == {"total": 4, "completed": 0, "failed": 4}
    assert sorted(e["custom_id"] for e in errors) == [f"q-{n}" for n in range(4)]
    assert {e["response"]["status_code"] for e in errors} == {400}
    assert all(schema_set().errors("batch-output-line", e) == [] for e in errors)


async def test_an_upload_form_is_held_to_its_published_schema() -> None:
    async with running(fast()) as client:
        text_file = await client.post("/v1/files", data={"file": "not a file part", "purpose": "batch"},
                                      files={"other": ("x.jsonl", b"{}")})  # fmt: skip
        no_purpose = await client.post("/v1/files", files={"file": ("x.jsonl", b"{}")})
    for refused, param in ((text_file, "file"), (no_purpose, "purpose")):
        assert refused.status_code == 400
        assert schema_set().errors("error", refused.json()) == []
        assert refused.json()["error"]["param"] == param


@pytest.mark.parametrize("durable", [False, True], ids=["memory", "sqlite"])
async def test_a_batch_lines_generation_names_its_batch_and_no_group(tmp_path: Path, durable: bool) -> None:
    db = str(tmp_path / "m.sqlite3") if durable else ":memory:"
    async with running(fast(db=db)) as client:
        single = (await client.post("/v1/slow/chat/completions", json=json.loads(chat_line(9))["body"])).json()
        stored = await upload(client, b"".join(chat_line(n) for n in range(3)))
        final = (await until_done(client, (await create(client, stored["id"]))["id"]))[-1]
        ids = [line["response"]["body"]["id"] for line in await lines_of(client, final["output_file_id"])]
        engine = client.app.state.mock.engine  # type: ignore[attr-defined]
        lines = [engine.store.read(i) if durable else engine.generation(i) for i in ids]
        shown = (await client.get(f"/v1/generation/{single['id']}")).json()
    assert len(lines) == 3
    assert {(g.batch_id, g.group_id) for g in lines} == {(final["id"], None)}, "in memory and in the store"
    assert all(g.to_json().keys() == shown.keys() for g in lines), "the record a client sees is the same"
