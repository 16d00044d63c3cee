"""The official OpenAI Python SDK against the mock, as the README shows it (base_url=.../v1/slow)."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import openai
import pytest

from slowcheck.background import serve_in_background
from slowcheck.mock import create_app
from tests.mock.conftest import KEY, fast, terminal

pytestmark = pytest.mark.slow  # the mock served on a real socket
MODEL = "google/gemma-3-27b-instruct/bf-16"


@pytest.fixture(scope="module")
def base_url() -> Iterator[str]:
    with serve_in_background(create_app(fast())) as url:
        yield url


@pytest.fixture
def client(base_url: str) -> Iterator[openai.OpenAI]:
    with openai.OpenAI(base_url=f"{base_url}/v1/slow", api_key=KEY, max_retries=0) as sdk:
        yield sdk


def test_sdk_submits_and_the_generation_is_fetched_by_id(client: openai.OpenAI, base_url: str) -> None:
    ack = client.chat.completions.create(
        model=MODEL,
        messages=[{"role": "user", "content": "What is the capital of France?"}],
        max_tokens=8,
        metadata={"custom_id": "sdk-1"},
    )
    assert ack.choices == []
    assert ack.model == MODEL
    assert ack.created > 10**12, "milliseconds, as the API documents"
    raw = client.chat.completions.with_raw_response.create(model=MODEL, messages=[{"role": "user", "content": "x"}])
    assert raw.headers["x-request-id"].startswith("req_")

    with httpx.Client(base_url=base_url, headers={"Authorization": f"Bearer {KEY}"}) as http:
        for _ in range(2000):
            record = http.get(f"/v1/generation/{ack.id}").json()
            if terminal(record):
                break
    assert record["state"] == "Success"
    assert record["request"]["metadata"] == {"custom_id": "sdk-1"}


def test_sdk_sees_the_stream_refusal_as_a_bad_request(client: openai.OpenAI) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        client.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": "x"}], stream=True)
    assert caught.value.status_code == 400
    assert caught.value.body["param"] == "stream"  # type: ignore[index]


def test_sdk_text_completions(client: openai.OpenAI) -> None:
    ack = client.completions.create(model=MODEL, prompt="Once upon a time", max_tokens=5)
    assert ack.object == "text_completion"
    assert ack.choices == []


def test_a_batch_as_the_openai_docs_show_it(base_url: str, tmp_path: Path) -> None:
    """Upload, create, poll, download: the SDK's own calls, its own types, against the mock's Batch API."""
    requests = tmp_path / "batchinput.jsonl"
    body = {"model": MODEL, "messages": [{"role": "user", "content": "What is 2+2?"}], "max_tokens": 8}
    requests.write_text("".join(
        json.dumps({"custom_id": f"request-{i}", "method": "POST", "url": "/v1/chat/completions", "body": body})
        + "\n" for i in range(1, 4)
    ))  # fmt: skip
    with openai.OpenAI(base_url=f"{base_url}/v1", api_key=KEY, max_retries=0) as client:
        with requests.open("rb") as handle:
            batch_input_file = client.files.create(file=handle, purpose="batch")
        batch = client.batches.create(
            input_file_id=batch_input_file.id,
            endpoint="/v1/chat/completions",
            completion_window="24h",
            metadata={"description": "nightly eval job"},
        )
        deadline = time.monotonic() + 20
        while batch.status not in ("completed", "failed", "expired", "cancelled"):
            assert time.monotonic() < deadline, batch.status
            time.sleep(0.05)
            batch = client.batches.retrieve(batch.id)
        assert batch.output_file_id is not None
        file_response = client.files.content(batch.output_file_id)
        listed = client.batches.list(limit=10)
    results = [json.loads(line) for line in file_response.text.splitlines()]
    assert batch.status == "completed"
    assert batch.request_counts is not None
    assert (batch.request_counts.total, batch.request_counts.completed) == (3, 3)
    assert batch.metadata == {"description": "nightly eval job"}
    assert sorted(r["custom_id"] for r in results) == ["request-1", "request-2", "request-3"]
    assert all(r["response"]["body"]["choices"][0]["message"]["content"] for r in results)
    assert batch.id in [b.id for b in listed.data]
