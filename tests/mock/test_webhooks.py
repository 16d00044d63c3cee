"""Webhook delivery against a real receiver on 127.0.0.1."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from slowcheck.background import serve_in_background
from slowcheck.mock import Faults, MockSettings
from slowcheck.schemas import schema_set
from tests.mock.conftest import CHAT, TEXT, fast, running, terminal, until

pytestmark = [pytest.mark.anyio, pytest.mark.slow]  # the receiver is a real server
SECRET = "whsec_" + base64.b64encode(b"0123456789abcdef0123456789abcdef").decode()


@dataclass
class Receiver:
    """Records every request; answers the POSTs with the statuses queued in ``answers`` (then 200)."""

    url: str = ""
    answers: list[int] = field(default_factory=list)
    requests: list[tuple[str, dict[str, str], bytes, float]] = field(default_factory=list)

    def posts(self) -> list[tuple[dict[str, str], dict[str, Any]]]:
        return [(h, json.loads(b)) for m, h, b, _ in self.requests if m == "POST"]


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    recorder = Receiver()

    async def hook(request: Request) -> Response:
        recorder.requests.append((request.method, dict(request.headers), await request.body(), time.time()))
        if request.method == "OPTIONS":
            return Response(status_code=200, headers={"Access-Control-Allow-Methods": "POST, OPTIONS"})
        return Response(status_code=recorder.answers.pop(0) if recorder.answers else 200)

    app = Starlette(routes=[Route("/hook", hook, methods=["POST", "OPTIONS"])])
    with serve_in_background(app) as base:
        recorder.url = f"{base}/hook"
        yield recorder


ADMIN = {"Authorization": "Bearer admin-token-for-tests"}
"""Webhook deliveries are in the admin's statistics only (they name URLs): these tests read them as the admin."""


def hooked(receiver: Receiver, **overrides: Any) -> MockSettings:
    base = {
        "webhooks": {"wh_1": receiver.url},
        "webhook_retry_delays": [0.05, 0.1],
        "admin_token": ADMIN["Authorization"][7:],
    }
    return fast(**(base | overrides))


async def wait_for(condition: Any, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("the condition did not hold in time")
        await asyncio.sleep(0.01)


async def test_generation_completed_is_delivered_as_documented(receiver: Receiver) -> None:
    body = CHAT | {"metadata": {"webhook_id": "wh_1", "custom_id": "c-9"}}
    async with running(hooked(receiver)) as client:
        ack = (await client.post("/v1/slow/chat/completions", json=body)).json()
        record = (await until(client, ack["id"], terminal))[-1]
        engine = client.app.state.mock.engine  # type: ignore[attr-defined]
        # The receiver sees the POST before the mock reads the answer and counts it: wait for the count.
        await wait_for(lambda: engine.stats.webhooks.get("delivered") == 1)
        stats = (await client.get("/_mock/stats", headers=ADMIN)).json()
    methods = [m for m, *_ in receiver.requests]
    assert methods == ["OPTIONS", "POST"], "a readiness check precedes the event"
    headers, event = receiver.posts()[0]
    assert schema_set().errors("webhook-event", event) == []
    assert headers["x-inference-event"] == event["event"] == "generation.completed"
    assert headers["x-inference-webhook-id"] == event["webhook_id"] == "wh_1"
    assert headers["x-inference-generation-id"] == event["generation_id"] == ack["id"]
    assert headers["content-type"] == "application/json"
    assert headers["user-agent"] == "inference.net-Webhook/1.0"
    assert event["data"] == record, "data equals what GET /v1/generation/{id} returns"
    assert "webhook-signature" not in headers, "inference.net does not sign; signing is opt-in"
    assert stats["webhooks"] == {"attempts": 1, "delivered": 1}


async def test_5xx_is_retried_up_to_three_attempts_and_4xx_is_not(receiver: Receiver) -> None:
    receiver.answers = [500, 503, 500, 400]
    body = CHAT | {"metadata": {"webhook_id": "wh_1"}}
    async with running(hooked(receiver, webhook_retry_delays=[0.05, 1.0])) as client:
        first = (await client.post("/v1/slow/chat/completions", json=body)).json()
        await wait_for(lambda: len(receiver.posts()) == 3)
        second = (await client.post("/v1/slow/chat/completions", json=body)).json()
        await wait_for(lambda: len(receiver.posts()) == 4)
        await until(client, second["id"], terminal)
        engine = client.app.state.mock.engine  # type: ignore[attr-defined]
        await wait_for(lambda: engine.stats.webhooks["rejected"] == 1)
        stats = (await client.get("/_mock/stats", headers=ADMIN)).json()
    ids = [event["generation_id"] for _, event in receiver.posts()]
    assert ids == [first["id"]] * 3 + [second["id"]]
    times = [t for m, _, _, t in receiver.requests if m == "POST"][:3]
    # Each gap at least its configured delay, 0.05 s then 1 s (a busy machine can only lengthen one), and the
    # first well short of the second.
    assert 0.05 <= times[1] - times[0] < 1.0, "the first delay, not the second"
    assert times[2] - times[1] >= 1.0, "the second delay, not the first again"
    assert stats["webhooks"]["failed"] == 1
    assert stats["webhooks"]["rejected"] == 1


async def test_text_completions_and_unregistered_ids_send_nothing(receiver: Receiver) -> None:
    async with running(hooked(receiver)) as client:
        text = (await client.post("/v1/slow/completions", json=TEXT | {"metadata": {"webhook_id": "wh_1"}})).json()
        unknown = (
            await client.post("/v1/slow/chat/completions", json=CHAT | {"metadata": {"webhook_id": "nope"}})
        ).json()
        marker = (
            await client.post("/v1/slow/chat/completions", json=CHAT | {"metadata": {"webhook_id": "wh_1"}})
        ).json()
        for generation in (text, unknown, marker):
            await until(client, generation["id"], terminal)
        await wait_for(lambda: receiver.posts())
        stats = (await client.get("/_mock/stats", headers=ADMIN)).json()
    assert [event["generation_id"] for _, event in receiver.posts()] == [marker["id"]]
    assert stats["webhooks"]["unknown_webhook_id"] == 1


async def test_a_group_sends_one_slow_group_completed(receiver: Receiver) -> None:
    requests = [CHAT | {"metadata": {"webhook_id": "wh_1", "custom_id": f"g-{i}"}} for i in range(4)]
    async with running(hooked(receiver)) as client:
        ack = (await client.post("/v1/slow/group/chat/completions", json={"requests": requests})).json()
        engine = client.app.state.mock.engine  # type: ignore[attr-defined]
        await wait_for(lambda: receiver.posts())
        listing = (await client.get(f"/v1/slow/group/{ack['groupId']}/generations")).json()
        # Every member is terminal and nothing is left to send: a duplicate would have been sent by now.
        assert all(g["state"] in ("Success", "Failed") for g in listing["generations"])
        await wait_for(lambda: engine.webhooks.idle)
        stats = (await client.get("/_mock/stats", headers=ADMIN)).json()
    assert stats["webhooks"]["attempts"] == 1
    assert len(receiver.posts()) == 1
    headers, event = receiver.posts()[0]
    assert schema_set().errors("webhook-event", event) == []
    assert event["event"] == headers["x-inference-event"] == "slow-group.completed"
    assert event["group_id"] == headers["x-inference-group-id"] == ack["groupId"]
    assert event["data"]["group_size"] == len(event["data"]["generations"]) == 4
    assert [g["id"] for g in event["data"]["generations"]] == [g["id"] for g in listing["generations"]]


async def test_standard_webhooks_signature_verifies(receiver: Receiver) -> None:
    async with running(hooked(receiver, webhook_secret=SECRET)) as client:
        await client.post("/v1/slow/chat/completions", json=CHAT | {"metadata": {"webhook_id": "wh_1"}})
        await wait_for(lambda: receiver.posts())
    _, headers, body, _ = next(r for r in receiver.requests if r[0] == "POST")
    key = base64.b64decode(SECRET.removeprefix("whsec_"))
    signed = f"{headers['webhook-id']}.{headers['webhook-timestamp']}.".encode() + body
    expected = base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()
    assert headers["webhook-signature"] == f"v1,{expected}"
    assert abs(int(headers["webhook-timestamp"]) - time.time()) < 60


@pytest.mark.parametrize(
    ("faults", "posts", "counter"),
    [
        pytest.param(Faults(webhook_duplicate_ratio=1.0), 2, "duplicated", id="duplicated"),
        pytest.param(Faults(webhook_drop_ratio=1.0), 0, "dropped", id="dropped"),
    ],
)
async def test_webhook_faults(receiver: Receiver, faults: Faults, posts: int, counter: str) -> None:
    async with running(hooked(receiver, faults=faults)) as client:
        ack = (await client.post("/v1/slow/chat/completions", json=CHAT | {"metadata": {"webhook_id": "wh_1"}})).json()
        await until(client, ack["id"], terminal)
        engine = client.app.state.mock.engine  # type: ignore[attr-defined]
        await wait_for(lambda: engine.stats.webhooks[counter] == 1 and len(receiver.posts()) == posts)
    events = [event for _, event in receiver.posts()]
    assert all(e["generation_id"] == ack["id"] for e in events)


async def test_webhooks_registered_through_the_admin_endpoint(receiver: Receiver) -> None:
    async with running(fast(webhook_retry_delays=[0.05])) as client:
        registered = await client.post("/_mock/webhooks", json={"id": "wh_admin", "url": receiver.url})
        bad = await client.post("/_mock/webhooks", json={"id": "x", "url": "ftp://nowhere"})
        await client.post("/v1/slow/chat/completions", json=CHAT | {"metadata": {"webhook_id": "wh_admin"}})
        await wait_for(lambda: receiver.posts())
        removed = await client.delete("/_mock/webhooks/wh_admin")
    assert registered.json()["webhooks"] == [{"id": "wh_admin", "url": receiver.url}]
    assert bad.status_code == 400
    assert removed.json()["webhooks"] == []
    assert receiver.posts()[0][1]["webhook_id"] == "wh_admin"
