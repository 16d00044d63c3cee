"""The schema files themselves: dialect, references, and the OpenAPI document that assembles them."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest
import schemathesis

from slowcheck.schemas import KINDS, SchemaSet, schema_dir
from tests.conftest import payload

REPO_SCHEMAS = Path(__file__).resolve().parents[1] / "schemas"


def test_every_schema_file_is_a_kind_and_every_kind_has_a_file() -> None:
    files = {p.name.removesuffix(".schema.json") for p in REPO_SCHEMAS.glob("*.schema.json")}
    assert files == set(KINDS)
    assert sorted(p.name for p in REPO_SCHEMAS.iterdir()) == sorted(
        [f"{k}.schema.json" for k in KINDS] + ["openapi.yaml"]
    )


@pytest.mark.parametrize("kind", KINDS)
def test_schema_is_valid_draft_07(kind: str, schemas: SchemaSet) -> None:
    document = schemas.document(kind)
    assert document["$schema"] == "http://json-schema.org/draft-07/schema#"
    jsonschema.Draft7Validator.check_schema(document)
    assert document.get("title")


@pytest.mark.parametrize("kind", KINDS)
def test_bundle_is_self_contained(kind: str, schemas: SchemaSet) -> None:
    bundle = schemas.bundle(kind)
    refs = _refs(bundle)
    assert all(ref.startswith("#/definitions/") for ref in refs)
    assert {ref.removeprefix("#/definitions/") for ref in refs} <= set(bundle.get("definitions", {}))
    jsonschema.Draft7Validator.check_schema(bundle)


def test_editable_checkout_reads_the_top_level_folder() -> None:
    assert schema_dir() == REPO_SCHEMAS


def test_openapi_document_references_only_existing_files_and_definitions(schemas: SchemaSet) -> None:
    for ref in _refs(schemas.openapi()):
        file, _, fragment = ref.partition("#")
        if not file:
            continue
        kind = Path(file).name.removesuffix(".schema.json")
        document = schemas.document(kind)
        if fragment:
            assert fragment.removeprefix("/definitions/") in document["definitions"], ref


def test_schemathesis_loads_every_operation_of_the_openapi_document() -> None:
    loaded = schemathesis.openapi.from_path(REPO_SCHEMAS / "openapi.yaml")
    operations = {(op.ok().method.upper(), op.ok().path) for op in loaded.get_all_operations()}
    assert operations == {
        ("POST", "/v1/slow/chat/completions"),
        ("POST", "/v1/slow/completions"),
        ("GET", "/v1/generation/{id}"),
        ("POST", "/v1/slow/group/chat/completions"),
        ("POST", "/v1/slow/group/completions"),
        ("GET", "/v1/slow/group/{groupId}/generations"),
        ("GET", "/v1/models"),
        ("POST", "/v1/slow/embeddings"),
        ("POST", "/v1/files"),
        ("GET", "/v1/files/{id}"),
        ("DELETE", "/v1/files/{id}"),
        ("GET", "/v1/files/{id}/content"),
        ("POST", "/v1/batches"),
        ("GET", "/v1/batches"),
        ("GET", "/v1/batches/{id}"),
        ("POST", "/v1/batches/{id}/cancel"),
    }
    assert loaded.raw_schema["openapi"] == "3.1.0"
    assert set(loaded.raw_schema["webhooks"]) == {"generation.completed", "slow-group.completed", "webhook.test"}


@pytest.mark.parametrize(
    ("kind", "name"),
    [
        pytest.param("submit-ack", "overview-ack.json", id="overview-ack"),
        pytest.param("submit-ack", "notes-ack.json", id="notes-ack"),
        pytest.param("chat-completion-request", "overview-chat-request.json", id="overview-request"),
        pytest.param("chat-completion-request", "notes-batch-line-chat.json", id="batch-line-nulls"),
        pytest.param("generation", "overview-generation.json", id="overview-generation"),
        pytest.param("generation", "notes-generation.json", id="notes-generation"),
        pytest.param("webhook-event", "notes-webhook-generation.json", id="webhook-generation"),
        pytest.param("webhook-event", "notes-webhook-group.json", id="webhook-group"),
        pytest.param("group-ack", "notes-group-ack.json", id="group-ack"),
        pytest.param("error", "notes-error.json", id="error-envelope"),
        pytest.param("text-completion", "spec-text-completion.json", id="spec-text-completion"),
    ],
)
def test_documented_examples_validate(kind: str, name: str, schemas: SchemaSet) -> None:
    instance = payload(name)
    assert schemas.errors(kind, instance) == []
    assert schemas.is_valid(kind, instance)


def test_overview_generation_embeds_a_valid_chat_completion(schemas: SchemaSet) -> None:
    record = payload("overview-generation.json")
    assert schemas.errors("chat-completion", record["response"]) == []
    assert schemas.errors("chat-completion-request", record["request"]) == []


def _refs(node: object) -> list[str]:
    if isinstance(node, dict):
        own = [node["$ref"]] if isinstance(node.get("$ref"), str) else []
        return own + [ref for value in node.values() for ref in _refs(value)]
    if isinstance(node, list):
        return [ref for item in node for ref in _refs(item)]
    return []


def test_refs_helper_finds_nested_references() -> None:
    assert _refs(json.loads('{"a": [{"$ref": "x"}], "b": {"$ref": "y"}}')) == ["x", "y"]
