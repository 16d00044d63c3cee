"""Bodies generated from the schemas are valid, and both validators judge any payload alike."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, strategies as st

from slowcheck.schemas import KINDS, SchemaSet, schema_set
from slowcheck.strategies import as_clients_send, bodies, chat_requests, client_bodies, closed, completion_requests

JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=8),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=6), children, max_size=3),
    max_leaves=6,
)


HEAVY = {"chat-completion-request", "chat-completion", "generation", "webhook-event", "group-request", "group-listing",
         "batch-list"}  # fmt: skip
"""Kinds whose bodies take seconds to generate (deep or long documents): their round trip is in the slow tier."""


@pytest.mark.parametrize("kind", [pytest.param(k, marks=pytest.mark.slow) if k in HEAVY else k for k in KINDS])
@given(data=st.data())
def test_generated_bodies_validate_after_a_json_round_trip(kind: str, data: st.DataObject) -> None:
    schemas = schema_set()
    body = data.draw(bodies(kind))
    wire = json.loads(json.dumps(body))
    assert wire == body
    assert schemas.errors(kind, wire) == []
    assert schemas.is_valid(kind, wire)


@given(body=chat_requests())
def test_generated_chat_requests_use_only_documented_keys(body: dict[str, Any]) -> None:
    declared = set(schema_set().document("chat-completion-request")["properties"])
    assert set(body) <= declared
    assert {"model", "messages"} <= set(body)


@given(body=completion_requests())
def test_generated_completion_requests_use_only_documented_keys(body: dict[str, Any]) -> None:
    declared = set(schema_set().document("completion-request")["properties"])
    assert set(body) <= declared
    assert {"model", "prompt"} <= set(body)


def _mutate(body: Any, data: st.DataObject) -> Any:
    """Replace one value somewhere inside ``body`` (or add a key) with arbitrary JSON."""
    if isinstance(body, dict) and body and data.draw(st.booleans()):
        key = data.draw(st.sampled_from(sorted(body)))
        return {**body, key: _mutate(body[key], data)}
    if isinstance(body, list) and body and data.draw(st.booleans()):
        index = data.draw(st.integers(0, len(body) - 1))
        return [*body[:index], _mutate(body[index], data), *body[index + 1 :]]
    if isinstance(body, dict) and data.draw(st.booleans()):
        return {
            **body,
            data.draw(st.sampled_from(["model", "n", "stop", "role", "content", "x"])): data.draw(JSON_VALUES),
        }
    return data.draw(JSON_VALUES)


@pytest.mark.parametrize("kind", ["chat-completion-request", "completion-request", "submit-ack", "generation"])
@given(data=st.data())
def test_fast_and_explaining_validators_agree(kind: str, data: st.DataObject) -> None:
    schemas = schema_set()
    mutated = _mutate(data.draw(bodies(kind)), data)
    assert schemas.is_valid(kind, mutated) == (schemas.errors(kind, mutated) == [])


def test_closed_schema_forbids_undeclared_keys_but_keeps_combined_objects_open(schemas: SchemaSet) -> None:
    schema = closed(schemas.bundle("submit-ack"))
    base = schema["definitions"]["submit-ack.base"]
    assert base["additionalProperties"] is False
    # A branch of an allOf only narrows "object"; closing it would reject "id".
    chat_branch = schema["definitions"]["submit-ack.chat"]["allOf"][1]
    assert "additionalProperties" not in chat_branch
    assert closed({"type": "object", "properties": {"a": {}}, "additionalProperties": True})["additionalProperties"]


@pytest.mark.parametrize("kind", ["chat-completion-request", "completion-request"])
@given(data=st.data())
def test_client_bodies_are_valid_and_send_nothing_deprecated_or_a_backends_own(kind: str, data: st.DataObject) -> None:
    body = data.draw(client_bodies(kind))
    document = schema_set().document(kind)
    unsent = {k for k, v in document["properties"].items() if v.get("deprecated") or v.get("x-extension")}
    assert unsent >= {"top_k", "guided_json"}, "the schema marks them"
    assert schema_set().is_valid(kind, body)
    assert not set(body) & unsent
    for message in body.get("messages", []):
        assert message["role"] != "function"
        assert "function_call" not in message
    for text in _strings(body):
        assert not any("\ud800" <= c <= "\udfff" or (ord(c) < 32 and c not in "\n\t") for c in text), repr(text)


def _strings(value: Any) -> list[str]:
    """Every string in a JSON value, keys included."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for k, v in value.items() for s in (k, *_strings(v))]
    if isinstance(value, list):
        return [s for item in value for s in _strings(item)]
    return []


@pytest.mark.parametrize("key", ["²", "٣", "12345678901234567890"])
def test_a_logit_bias_key_that_is_no_token_id_is_dropped_not_a_crash(key: str) -> None:
    """Unicode digits ('²', Arabic-Indic three) pass str.isdigit but are no token id a program writes."""
    body = {"model": "m", "messages": [{"role": "user", "content": "hi"}], "logit_bias": {key: 1, "42": 2}}
    assert "logit_bias" not in as_clients_send(body)
    assert as_clients_send({**body, "logit_bias": {"42": 2}})["logit_bias"] == {"42": 2}
