"""The webhook and ack checks on their own."""

from __future__ import annotations

from typing import Any

from slowcheck.checks import acks, webhooks

RECORD = {"id": "G1", "state": "Failed", "stateMessage": "the worker died", "request": {"model": "m", "prompt": "x"},
          "response": None, "finishedAt": "2027-01-15T08:00:02.000Z"}  # fmt: skip
EVENT = {"event": "generation.completed", "timestamp": "2027-01-15T08:00:03.000Z", "webhook_id": "h1",
         "generation_id": "G1", "data": {k: v for k, v in RECORD.items() if k != "id"}}  # fmt: skip
HEADERS = {"x-inference-event": "generation.completed", "x-inference-webhook-id": "h1",
           "x-inference-generation-id": "G1", "content-type": "application/json",
           "user-agent": "inference.net-Webhook/1.0"}  # fmt: skip


def test_the_payload_is_its_schema_then_its_data_against_the_record() -> None:
    assert webhooks.payload(EVENT) is None
    assert webhooks.payload(EVENT, RECORD) is None, "the docs' records have no id: the data need not either"
    found = webhooks.payload(EVENT, RECORD | {"stateMessage": "other", "dispatchedAt": "2027-01-15T08:00:01.000Z"})
    assert found is not None
    assert found.message == "data differs from GET /v1/generation/G1 in dispatchedAt, stateMessage"
    broken = webhooks.payload(EVENT | {"timestamp": "yesterday"}, RECORD)
    assert broken is not None
    assert broken.message.startswith("the event breaks the schema")


def test_the_headers_agree_with_the_body_and_with_what_was_expected_when_known() -> None:
    assert webhooks.headers(EVENT, HEADERS) is None
    assert (
        webhooks.headers(EVENT, HEADERS, event_name="generation.completed", webhook_id="h1", generation_id="G1") is None
    )
    expected = webhooks.headers(EVENT, HEADERS, webhook_id="h2")
    assert expected is not None
    assert expected.message == "X-Inference-Webhook-ID: header 'h1', body 'h1', expected 'h2'"
    camel: dict[str, Any] = {k: v for k, v in EVENT.items() if k != "generation_id"} | {"generationId": "G1"}
    assert webhooks.headers(camel, HEADERS) is None, "either spelling of the id"
    for name, value in (("x-inference-event", "other"), ("user-agent", "curl/8.0"), ("content-type", "text/plain")):
        assert webhooks.headers(EVENT, HEADERS | {name: value}) is not None, name


def test_a_group_event_names_no_generation() -> None:
    group = {"event": "slow-group.completed", "webhook_id": "h1", "group_id": "X", "data": {}}
    headers = {k: v for k, v in HEADERS.items() if k != "x-inference-generation-id"} | {
        "x-inference-event": "slow-group.completed"
    }
    assert webhooks.headers(group, headers) is None


def test_the_ack_shape() -> None:
    ack = {"id": "N2mZQjrvh-k_m8nMMN7Jn", "object": "chat.completion", "created": 1749061362809, "model": "m",
           "choices": []}  # fmt: skip
    assert acks.ack_shape(ack, "chat") is None
    found = acks.ack_shape({k: v for k, v in ack.items() if k != "created"}, "text")
    assert found is not None
    assert found.message.startswith("text ack breaks the schema: ")
    assert "created" in found.message
    assert acks.ack_shape("not json", "chat") is not None
