"""Errors, auth and tenancy, idempotency, rate limits, groups and faults."""

from __future__ import annotations

import time
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings

from slowcheck.mock import Faults, Span
from slowcheck.mock.app.validation import _GROUP_FORM, _REQUEST
from slowcheck.mock.records import Kind
from slowcheck.schemas import schema_set
from tests.mock.conftest import CHAT, KEY, TEXT, app_of, fast, running, terminal, until
from tests.test_strategies import JSON_VALUES

pytestmark = pytest.mark.anyio
CHAT_URL = "/v1/slow/chat/completions"


def assert_envelope(answer: httpx.Response, status: int, param: str | None = "<any>") -> dict[str, Any]:
    assert answer.status_code == status, answer.text
    body = answer.json()
    assert schema_set().errors("error", body) == []
    if param != "<any>":
        assert body["error"]["param"] == param
    assert "x-request-id" in answer.headers
    return body["error"]  # type: ignore[no-any-return]


@pytest.mark.parametrize(
    ("content", "status", "param", "code"),
    [
        pytest.param(b'{"model": "m",', 400, None, "invalid_json", id="malformed-json"),
        pytest.param(b"NaN", 400, None, "invalid_json", id="nan"),
        pytest.param(b'{"model":"m"}', 400, "messages", "invalid_value", id="missing-messages"),
        pytest.param(
            b'{"messages":[{"role":"user","content":"x"}]}', 400, "model", "invalid_value", id="missing-model"
        ),
        pytest.param(
            b'{"model":"m","messages":[{"role":"robot","content":"x"}]}',
            400,
            "messages[0].role",
            "invalid_value",
            id="unknown-role",
        ),
        pytest.param(
            b'{"model":"m","messages":[{"role":"user","content":"x"}],"temperature":7}',
            400,
            "temperature",
            "invalid_value",
            id="out-of-range",
        ),
        pytest.param(
            b'{"model":"m","messages":[{"role":"user","content":"x"}],"n":"2"}',
            400,
            "n",
            "invalid_value",
            id="wrong-type",
        ),
        pytest.param(
            b'{"model":"m","messages":[{"role":"user","content":"x"}],"stream":true}',
            400,
            "stream",
            "stream_not_supported",
            id="stream-true",
        ),
        pytest.param(b"[1, 2]", 400, None, "invalid_value", id="array-body"),
        pytest.param(
            b'{"model":"m","messages":[{"role":"user","content":"x"}],"seed":123456789012345678901234567890}',
            400,
            "seed",
            "invalid_value",
            id="huge-integer",
        ),
    ],
)
async def test_bad_submissions_get_a_400_envelope_naming_the_param(
    content: bytes, status: int, param: str | None, code: str
) -> None:
    async with running() as client:
        answer = await client.post(CHAT_URL, content=content, headers={"Content-Type": "application/json"})
        stats = (await client.get("/_mock/stats")).json()
    error = assert_envelope(answer, status, param)
    assert error["code"] == code
    assert stats["generations"] == {}, "nothing was stored"


async def test_stream_refusal_says_why() -> None:
    async with running() as client:
        answer = await client.post(CHAT_URL, json=CHAT | {"stream": True})
    message = assert_envelope(answer, 400, "stream")["message"]
    assert "stream" in message
    assert "lose the id" in message


async def test_oversize_wrong_method_unknown_path_and_content_type() -> None:
    async with running(fast(max_body_bytes=1000)) as client:
        big = CHAT | {"messages": [{"role": "user", "content": "x" * 2000}]}
        assert_envelope(await client.post(CHAT_URL, json=big), 413)
        method = await client.get(CHAT_URL)
        assert_envelope(method, 405)
        assert "POST" in method.headers["allow"]
        assert_envelope(await client.delete("/v1/generation/abc"), 405)
        assert_envelope(await client.get("/v1/nothing-here"), 404)
        form = await client.post(
            CHAT_URL, content=b"model=m", headers={"Content-Type": "application/x-www-form-urlencoded"}
        )
        assert assert_envelope(form, 400)["code"] == "invalid_content_type"


async def test_unknown_generation_is_404_with_the_envelope() -> None:
    async with running() as client:
        assert_envelope(await client.get("/v1/generation/N2mZQjrvh-k_m8nMMN7Jn"), 404, "id")


@given(body=JSON_VALUES)
@settings(max_examples=60, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_no_body_ever_gets_a_5xx(body: Any) -> None:
    import asyncio

    async def post() -> list[httpx.Response]:
        async with running() as client:
            return [
                await client.post(url, json=body)
                for url in (CHAT_URL, "/v1/slow/completions", "/v1/slow/group/chat/completions")
            ]

    for answer in asyncio.run(post()):
        assert answer.status_code in (200, 400), answer.text
        if answer.status_code == 400:
            assert schema_set().errors("error", answer.json()) == []


async def test_auth_missing_or_wrong_key_is_401_and_never_echoes_the_key() -> None:
    async with running(fast(api_keys=[KEY])) as client:
        ack = (await client.post(CHAT_URL, json=CHAT)).json()
        for headers in ({"Authorization": ""}, {"Authorization": "Bearer sk-wrong-key-9999"}, {"Authorization": KEY}):
            for answer in (
                await client.post(CHAT_URL, json=CHAT, headers=headers),
                await client.get(f"/v1/generation/{ack['id']}", headers=headers),
            ):
                assert_envelope(answer, 401)
                assert "sk-wrong-key-9999" not in answer.text
                assert KEY not in answer.text
        wrong = await client.post(CHAT_URL, json=CHAT, headers={"Authorization": "Bearer sk-wrong-key-9999"})
        assert wrong.json()["error"]["code"] == "invalid_api_key"


async def test_one_key_never_sees_another_keys_generations() -> None:
    async with running(fast(api_keys=[KEY, "sk-test-beta-0002"])) as client:
        ack = (await client.post(CHAT_URL, json=CHAT)).json()
        other = {"Authorization": "Bearer sk-test-beta-0002"}
        assert_envelope(await client.get(f"/v1/generation/{ack['id']}", headers=other), 404, "id")
        assert (await client.get(f"/v1/generation/{ack['id']}")).status_code == 200
        stats = await client.get("/_mock/stats")
    assert KEY not in stats.text, "stats name keys by fingerprint only"


async def test_idempotency_key_replays_the_same_id_and_refuses_another_body() -> None:
    async with running() as client:
        first = await client.post(CHAT_URL, json=CHAT, headers={"Idempotency-Key": "k-1"})
        again = await client.post(CHAT_URL, json=CHAT, headers={"Idempotency-Key": "k-1"})
        other = await client.post(CHAT_URL, json=CHAT | {"n": 2}, headers={"Idempotency-Key": "k-1"})
        plain = [await client.post(CHAT_URL, json=CHAT) for _ in range(2)]
        stats = (await client.get("/_mock/stats")).json()
    assert first.json()["id"] == again.json()["id"]
    assert again.headers["idempotent-replayed"] == "true"
    assert_envelope(other, 409)
    assert plain[0].json()["id"] != plain[1].json()["id"], "without a key, a retry is a new generation"
    totals = stats["totals"]
    assert totals["submissions"] == 3
    assert totals["idempotent_replays"] == 1
    assert totals["duplicate_bodies"] == 2, "the same body, stored again without a key (twice)"


async def test_rate_limits_answer_429_with_retry_headers_and_recover() -> None:
    # A submission and a poll per 2 s, bursts of two and one: the third submission and the second poll, sent at
    # once, are over the limit whatever a busy machine's timing (a refill of 0.2 s was not).
    async with running(fast(submit_rate=0.5, submit_burst=2, poll_rate=0.5, poll_burst=1)) as client:
        answers = [await client.post(CHAT_URL, json=CHAT) for _ in range(3)]
        ack = answers[0].json()
        polls = [await client.get(f"/v1/generation/{ack['id']}") for _ in range(2)]
        stats = (await client.get("/_mock/stats")).json()
    assert [a.status_code for a in answers] == [200, 200, 429]
    limited = answers[2]
    assert_envelope(limited, 429)
    assert limited.json()["error"]["type"] == "rate_limit_error"
    assert int(limited.headers["retry-after"]) >= 1
    assert 0 < int(limited.headers["retry-after-ms"]) <= 2000
    assert limited.headers["x-ratelimit-limit-requests"] == "2"
    assert limited.headers["x-ratelimit-remaining-requests"] == "0"
    assert answers[0].headers["x-ratelimit-remaining-requests"] == "1"
    assert polls[0].status_code == 200
    assert polls[1].status_code == 429, "polls have their own limit"
    assert_envelope(polls[1], 429)
    assert int(polls[1].headers["retry-after"]) >= 1
    assert stats["totals"]["rate_limited_submissions"] == 1
    assert stats["totals"]["rate_limited_polls"] == 1


async def test_groups_submit_list_and_enforce_their_limits() -> None:
    requests = [CHAT | {"metadata": {"custom_id": f"c-{i}"}} for i in range(3)]
    async with running() as client:
        ack = (await client.post("/v1/slow/group/chat/completions", json={"requests": requests})).json()
        assert schema_set().errors("group-ack", ack) == []
        assert ack["groupSize"] == 3
        listing_url = f"/v1/slow/group/{ack['groupId']}/generations"
        listing = (await client.get(listing_url)).json()
        for generation in listing["generations"]:
            await until(client, generation["id"], terminal)
        done = (await client.get(listing_url.replace("/slow/", "/async/"))).json()
        too_many = await client.post("/v1/slow/group/chat/completions", json={"requests": [CHAT] * 51})
        mixed = await client.post("/v1/slow/group/chat/completions", json={"requests": [CHAT, TEXT]})
        empty = await client.post("/v1/slow/group/completions", json={"requests": []})
        other = await client.get(listing_url, headers={"Authorization": "Bearer someone-else"})
    assert schema_set().errors("group-listing", listing) == []
    assert [g["request"]["metadata"]["custom_id"] for g in done["generations"]] == ["c-0", "c-1", "c-2"]
    assert {g["state"] for g in done["generations"]} == {"Success"}
    assert_envelope(too_many, 400, "requests")
    assert_envelope(mixed, 400, "requests[1].messages")
    assert_envelope(empty, 400, "requests")
    assert_envelope(other, 404)


async def test_a_groups_limit_is_the_one_its_schema_declares() -> None:
    most = schema_set().document("group-request")["definitions"]["chat"]["properties"]["requests"]["maxItems"]
    async with running() as client:
        full = await client.post("/v1/slow/group/chat/completions", json={"requests": [CHAT] * most})
        over = await client.post("/v1/slow/group/chat/completions", json={"requests": [CHAT] * (most + 1)})
    assert full.json()["groupSize"] == most
    error = assert_envelope(over, 400, "requests")
    assert error["code"] == "group_too_large"
    assert f"at most {most} requests, got {most + 1}" in error["message"]


@pytest.mark.parametrize("kind", ["chat", "text"])
def test_a_groups_form_holds_requests_of_its_kinds_schema(kind: Kind) -> None:
    """The mock checks a group's requests one by one against the kind's request schema (so that an error names
    the request): the form in group-request.schema.json must hold the same."""
    form = schema_set().document("group-request")["definitions"][_GROUP_FORM[kind]]
    assert form["properties"]["requests"]["items"] == {"$ref": f"{_REQUEST[kind]}.schema.json"}


async def test_models_health_and_model_restriction() -> None:
    async with running(fast(models=["only/model"])) as client:
        models = (await client.get("/v1/models")).json()
        health = (await client.get("/health", headers={"Authorization": ""})).json()
        unknown = await client.post(CHAT_URL, json=CHAT)
    assert schema_set().errors("model-list", models) == []
    assert [m["id"] for m in models["data"]] == ["only/model"]
    assert health["status"] == "ok"
    assert_envelope(unknown, 404, "model")
    assert unknown.json()["error"]["code"] == "model_not_found"


async def test_fault_error_ratio_answers_503_envelopes_and_stores_nothing() -> None:
    async with running(fast(faults=Faults(error_ratio=1.0))) as client:
        answer = await client.post(CHAT_URL, json=CHAT)
        stats = (await client.get("/_mock/stats")).json()
    error = assert_envelope(answer, 503)
    assert error["type"] == "server_error"
    assert stats["generations"] == {}


async def test_fault_not_found_until_dispatched() -> None:
    async with running(fast(queue_time=Span(0.2, 0.2), faults=Faults(not_found_until_dispatched=True))) as client:
        ack = (await client.post(CHAT_URL, json=CHAT)).json()
        early = await client.get(f"/v1/generation/{ack['id']}")
        final = (await until(client, ack["id"], terminal))[-1]
    assert_envelope(early, 404)
    assert final["state"] == "Success"


async def test_fault_stuck_generations_never_finish() -> None:
    async with running(fast(faults=Faults(stuck_ratio=1.0))) as client:
        ack = (await client.post(CHAT_URL, json=CHAT)).json()
        stuck = (await until(client, ack["id"], lambda r: r["state"] == "In Progress"))[-1]
        answer = await client.get(f"/v1/generation/{ack['id']}")
        engine = app_of(client).state.mock.engine
        assert engine.next_change_in(engine.generation(ack["id"])) is None
        assert not engine._tasks, "no worker is running it, so nothing will finish it"
    assert stuck["finishedAt"] is None
    assert "openai-poll-after-ms" not in answer.headers


async def test_fault_ack_latency_delays_the_answer() -> None:
    async with running(fast(faults=Faults(ack_latency=0.2))) as client:
        started = time.monotonic()
        answer = await client.post(CHAT_URL, json=CHAT)
        elapsed = time.monotonic() - started
    assert answer.status_code == 200
    assert elapsed >= 0.2
