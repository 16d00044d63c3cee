"""The answers: ack, generation record per state, completion objects, errors, webhooks and groups."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from slowcheck.schemas import SchemaSet
from tests.conftest import payload

ACK = payload("overview-ack.json")
SUCCESS = payload("overview-generation.json")
TEXT = payload("spec-text-completion.json")


def changed(base: dict[str, Any], *removed: str, **values: Any) -> dict[str, Any]:
    out = copy.deepcopy(base)
    for key in removed:
        out.pop(key)
    out.update(values)
    return out


@pytest.mark.parametrize(
    ("ack", "path", "says"),
    [
        pytest.param(changed(ACK, created=1749061362), "$.created", "minimum", id="created-in-seconds"),
        pytest.param(changed(ACK, created=1749061362809.5), "$.created", "not of type", id="created-float"),
        pytest.param(changed(ACK, created="1749061362809"), "$.created", "not of type", id="created-string"),
        pytest.param(changed(ACK, choices=[{"index": 0}]), "$.choices", "empty array", id="choices-not-empty"),
        pytest.param(changed(ACK, choices=None), "$.choices", "not of type", id="choices-null"),
        pytest.param(changed(ACK, "id"), "$", "'id' is a required property", id="no-id"),
        pytest.param(changed(ACK, id=""), "$.id", "should be non-empty", id="empty-id"),
        pytest.param(changed(ACK, "object"), "$", "'object' is a required property", id="no-object"),
        pytest.param(changed(ACK, object="chat.completion.chunk"), "$.object", "is not one of", id="chunk"),
        pytest.param(changed(ACK, "model"), "$", "'model' is a required property", id="no-model"),
    ],
)
def test_broken_acks_are_rejected(ack: dict[str, Any], path: str, says: str, schemas: SchemaSet) -> None:
    assert not schemas.is_valid("submit-ack", ack)
    assert any(e.path == path and says in e.message for e in schemas.errors("submit-ack", ack)), schemas.errors(
        "submit-ack", ack
    )


def test_text_ack_and_extra_ack_keys_are_accepted(schemas: SchemaSet) -> None:
    assert schemas.errors("submit-ack", changed(ACK, object="text_completion")) == []
    assert schemas.errors("submit-ack", changed(ACK, status="queued")) == []


PENDING = changed(SUCCESS, "response", "finishedAt", state="Queued", stateMessage="Queued")


@pytest.mark.parametrize(
    "record",
    [
        pytest.param(PENDING, id="queued"),
        pytest.param(changed(PENDING, state="In Progress", dispatchedAt="2025-06-04T18:20:00.000Z"), id="in-progress"),
        pytest.param(changed(PENDING, response=None, finishedAt=None), id="queued-with-nulls"),
        pytest.param(changed(SUCCESS, dispatchedAt="2025-06-04T18:22:40.100+00:00"), id="success-offset-time"),
        pytest.param(
            changed(SUCCESS, "response", state="Failed", stateMessage="Expired", finishedAt="2025-06-07T18:22:42Z"),
            id="failed-expired",
        ),
        pytest.param(changed(SUCCESS, id="N2mZQjrvh-k_m8nMMN7Jn"), id="with-id"),
        pytest.param(
            {
                "state": "Success",
                "stateMessage": "ok",
                "request": {"model": "m", "prompt": "Once"},
                "response": TEXT,
                "finishedAt": "2025-06-04T18:22:42Z",
            },
            id="text-success",
        ),
    ],
)
def test_generation_records_in_every_state_validate(record: dict[str, Any], schemas: SchemaSet) -> None:
    assert schemas.errors("generation", record) == []
    assert schemas.is_valid("generation", record)


@pytest.mark.parametrize(
    ("record", "path"),
    [
        pytest.param(changed(SUCCESS, "response"), "$", id="success-without-response"),
        pytest.param(changed(SUCCESS, "finishedAt"), "$", id="success-without-finished-at"),
        pytest.param(changed(SUCCESS, finishedAt="yesterday"), "$.finishedAt", id="finished-at-not-iso"),
        pytest.param(changed(SUCCESS, finishedAt="2025-06-04 18:22:42"), "$.finishedAt", id="finished-at-no-t"),
        pytest.param(changed(SUCCESS, state="Succeeded"), "$.state", id="unknown-state"),
        pytest.param(changed(SUCCESS, state="in progress"), "$.state", id="state-case"),
        pytest.param(changed(PENDING, finishedAt="2025-06-04T18:22:42Z"), "$.finishedAt", id="queued-with-finished"),
        pytest.param(changed(PENDING, response=SUCCESS["response"]), "$.response", id="queued-with-response"),
        pytest.param(changed(SUCCESS, "stateMessage", "response", state="Failed"), "$", id="failed-no-message"),
        pytest.param(
            changed(SUCCESS, "response", state="Failed", stateMessage=""), "$.stateMessage", id="failed-empty"
        ),
        pytest.param(changed(SUCCESS, response=TEXT), "$", id="chat-request-text-response"),
        pytest.param(changed(SUCCESS, "request"), "$", id="no-request"),
        pytest.param(
            changed(SUCCESS, response=dict(SUCCESS["response"], created=1749061362809)),
            "$",
            id="response-created-in-ms",
        ),
    ],
)
def test_generation_records_breaking_state_rules_are_rejected(
    record: dict[str, Any], path: str, schemas: SchemaSet
) -> None:
    assert not schemas.is_valid("generation", record)
    errors = schemas.errors("generation", record)
    assert any(e.path == path or e.path.startswith(path + ".") for e in errors), errors


@pytest.mark.parametrize(
    ("mutate", "path"),
    [
        pytest.param(lambda c: c["choices"][0].update(finish_reason="done"), "$.choices[0].finish_reason", id="reason"),
        pytest.param(lambda c: c["choices"][0]["message"].update(role="user"), "$.choices[0].message.role", id="role"),
        pytest.param(lambda c: c["usage"].update(total_tokens=-1), "$.usage", id="negative-usage"),
        pytest.param(lambda c: c.update(object="chat.completion.chunk"), "$.object", id="object"),
        pytest.param(lambda c: c["choices"][0].pop("index"), "$.choices[0]", id="no-index"),
    ],
)
def test_broken_chat_completions_are_rejected(mutate: Any, path: str, schemas: SchemaSet) -> None:
    completion = copy.deepcopy(SUCCESS["response"])
    mutate(completion)
    errors = schemas.errors("chat-completion", completion)
    assert any(e.path.startswith(path) for e in errors), errors


def test_text_completion_rejects_chat_finish_reasons(schemas: SchemaSet) -> None:
    broken = copy.deepcopy(TEXT)
    broken["choices"][0]["finish_reason"] = "tool_calls"
    assert [e.path for e in schemas.errors("text-completion", broken)] == ["$.choices[0].finish_reason"]


@pytest.mark.parametrize(
    "body",
    [
        pytest.param({"error": {"message": "bad", "type": "invalid_request_error", "param": None}}, id="no-code-key"),
        pytest.param({"error": {"message": "bad", "type": "x", "code": None}}, id="no-param-key"),
        pytest.param({"error": "bad"}, id="string-error"),
        pytest.param({"object": "error", "message": "bad"}, id="vllm-style"),
        pytest.param({"detail": "Not Found"}, id="starlette-default"),
    ],
)
def test_non_envelope_errors_are_rejected(body: dict[str, Any], schemas: SchemaSet) -> None:
    assert not schemas.is_valid("error", body)


def test_webhook_ids_in_camel_case_are_accepted(schemas: SchemaSet) -> None:
    event = payload("notes-webhook-generation.json")
    camel = changed(event, "webhook_id", "generation_id", webhookId="AhALzdz8S", generationId="XBKcs7F1s2oJ_AHiLMbF4")
    assert schemas.errors("webhook-event", camel) == []
    assert (
        schemas.errors(
            "webhook-event", {"event": "webhook.test", "timestamp": "2025-03-08T01:20:03Z", "webhook_id": "AhALzdz8S"}
        )
        == []
    )


@pytest.mark.parametrize(
    "event",
    [
        pytest.param(changed(payload("notes-webhook-generation.json"), "webhook_id"), id="no-webhook-id"),
        pytest.param(changed(payload("notes-webhook-generation.json"), "generation_id"), id="no-generation-id"),
        pytest.param(
            changed(payload("notes-webhook-generation.json"), data=PENDING), id="completed-event-with-pending-state"
        ),
        pytest.param(changed(payload("notes-webhook-generation.json"), event="generation.done"), id="unknown-event"),
        pytest.param(changed(payload("notes-webhook-group.json"), "group_id"), id="group-without-id"),
        pytest.param(changed(payload("notes-webhook-generation.json"), timestamp=1741395603), id="numeric-timestamp"),
    ],
)
def test_broken_webhook_events_are_rejected(event: dict[str, Any], schemas: SchemaSet) -> None:
    assert not schemas.is_valid("webhook-event", event)
    assert schemas.errors("webhook-event", event)


def test_group_limits(schemas: SchemaSet) -> None:
    request = {"model": "m", "messages": [{"role": "user", "content": "hi"}]}
    text = {"model": "m", "prompt": "hi"}
    assert schemas.errors("group-request", {"requests": [request] * 50}) == []
    assert schemas.errors("group-request", {"requests": [text] * 3}) == []
    assert not schemas.is_valid("group-request", {"requests": [request] * 51})
    assert not schemas.is_valid("group-request", {"requests": []})
    assert not schemas.is_valid("group-request", {"requests": [request, text]}), "chat and text mixed"
    assert not schemas.is_valid("group-ack", {"groupId": "g", "groupSize": 51})
    listing = {"generations": [changed(PENDING, id="a")]}
    assert schemas.errors("group-listing", listing) == []
    assert not schemas.is_valid("group-listing", {"generations": [PENDING]}), "listed generations carry their id"
