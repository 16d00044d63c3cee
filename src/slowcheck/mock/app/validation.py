"""Request bodies checked against the schemas the mock publishes (``schemas/``), refused as OpenAI refuses a bad
request: a 400 whose ``param`` names the field.

A single request is checked against its kind's request schema; a group against its form in
``group-request.schema.json``; a batch's creation, a file's upload form and a page's ``limit`` against their
operations in ``openapi.yaml``. What the mock adds to the schemas (no ``stream: true``, the served models, the size
of an embedding answer) is checked after them.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any

import jsonschema
import referencing
import referencing.jsonschema
from jsonschema.exceptions import ValidationError
from starlette.datastructures import FormData, UploadFile

from slowcheck import api
from slowcheck.errors import SchemaError
from slowcheck.mock import generator
from slowcheck.mock.errors import ApiError, excerpt
from slowcheck.mock.records import Kind
from slowcheck.mock.settings import MockSettings
from slowcheck.schemas import KINDS, schema_set
from slowcheck.types import JSONObject

__all__ = ["Checks"]

_REQUEST: dict[Kind, str] = {
    "chat": "chat-completion-request",
    "text": "completion-request",
    "embedding": "embedding-request",
}
_GROUP_FORM: dict[Kind, str] = {"chat": "chat", "text": "completion"}
"""The group-request schema's form (one of its ``definitions``) per kind of group."""
_STREAM_REFUSED = (
    "stream=true is not supported on the asynchronous API: the answer is an id to poll, not a stream. "
    "OpenAI SDKs given stream=True read an empty stream and lose the id; send stream=false or omit it."
)
_SHOWN = 60
"""Characters of a refused value quoted in a message."""


class Checks:
    """The checks of one mock (its settings name the models it serves)."""

    def __init__(self, settings: MockSettings) -> None:
        self.settings = settings
        self.schemas = schema_set()
        self._published = _published()

    def request(self, kind: Kind, body: Any, prefix: str = "") -> JSONObject:
        """A single request of ``kind`` (``prefix`` places it in a group, as ``requests[1].``)."""
        schema = _REQUEST[kind]
        if not self.schemas.is_valid(schema, body):
            error = (self.schemas.errors(schema, body) or [SchemaError("$", "invalid")])[0]
            param = _param(error, prefix)
            raise ApiError(
                400, f"Invalid request: {param or 'body'}: {error.message}", param=param, code="invalid_value"
            )
        if body.get("stream") is True:
            raise ApiError(400, _STREAM_REFUSED, param=prefix + "stream", code="stream_not_supported")
        if kind == "embedding" and generator.numbers(body) > generator.MAX_NUMBERS:
            limit = f"{generator.MAX_NUMBERS:,}"
            raise ApiError(400, f"The mock answers at most {limit} numbers a request: fewer inputs or dimensions.",
                           param=prefix + "dimensions", code="too_large")  # fmt: skip
        models = self.settings.models
        if models and body["model"] not in models:
            raise ApiError(
                404,
                f"The model {excerpt(body['model'])} does not exist.",
                param=prefix + "model",
                code="model_not_found",
            )
        return body  # type: ignore[no-any-return]

    def group(self, kind: Kind, body: Any) -> list[JSONObject]:
        """A group's requests. The group is held to its form's ``requests`` array (how many), and each request is
        checked as a single one is, so that an error names it (``requests[1].messages``)."""
        error = next(self._published.groups[kind].iter_errors(body), None)
        if error is not None:
            if error.validator == "maxItems":
                most, given = error.validator_value, len(error.instance)
                raise ApiError(400, f"A group holds at most {most} requests, got {given}.", param="requests",
                               code="group_too_large")  # fmt: skip
            raise ApiError(400, "Invalid request: 'requests' must be a non-empty array of requests.", param="requests")
        requests: list[JSONObject] = body["requests"]
        for index, item in enumerate(requests):
            self.request(kind, item, prefix=f"requests[{index}].")
        return requests

    def batch_create(self, body: Any) -> JSONObject:
        """The body of ``POST /v1/batches``; ``param`` names its field, the message the place within it."""
        _refuse(self._published.batch_create, body)
        return body  # type: ignore[no-any-return]

    def list_limit(self, given: str | None) -> int:
        """The ``limit`` of a page of batches: the parameter's default, or a whole number its schema allows."""
        schema = self._published.list_limit
        if given is None:
            return int(schema["default"])
        if not given.isdigit() or not schema["minimum"] <= int(given) <= schema["maximum"]:
            low, high = schema["minimum"], schema["maximum"]
            raise ApiError(400, f"limit must be {low} to {high}, not {excerpt(given)}.", param="limit")
        return int(given)

    def upload_form(self, form: FormData) -> tuple[UploadFile, str]:
        """The file part and the purpose of an upload. The schema's ``binary`` is a file part and its strings are
        text fields: a text field named ``file`` (or a file named ``purpose``) is as good as missing."""
        upload, purpose = form.get("file"), form.get("purpose")
        fields: dict[str, str] = {}
        if isinstance(upload, UploadFile):
            fields["file"] = upload.filename or ""
        if isinstance(purpose, str):
            fields["purpose"] = purpose
        _refuse(self._published.upload, fields)
        assert isinstance(upload, UploadFile), "the schema requires a file part"
        assert isinstance(purpose, str), "the schema requires a purpose"
        return upload, purpose


def _refuse(validator: jsonschema.Draft7Validator, instance: Any) -> None:
    """A 400 for the first error of ``instance``, if it has one."""
    error = next(validator.iter_errors(instance), None)
    if error is None:
        return
    missing = _missing(error)
    field = str(error.absolute_path[0]) if error.absolute_path else missing
    place = ".".join(map(str, error.absolute_path)) or missing or "body"
    raise ApiError(400, f"Invalid request: {place}: {_message(error)}", param=field, code="invalid_value")


def _missing(error: ValidationError) -> str | None:
    """The property a ``required`` error is about."""
    required, instance = error.validator_value, error.instance
    if error.validator != "required" or not isinstance(required, list) or not isinstance(instance, dict):
        return None
    return next((str(name) for name in required if name not in instance), None)


def _message(error: ValidationError) -> str:
    """jsonschema's message, with the value it quotes cut short (it may be the whole body)."""
    shown = repr(error.instance)
    if len(shown) <= _SHOWN:
        return str(error.message)
    return str(error.message).replace(shown, shown[: _SHOWN - 1] + "…", 1)


def _param(error: SchemaError, prefix: str) -> str | None:
    """OpenAI's ``param``: the offending field (a missing one included), or null for the body itself."""
    path = error.path.removeprefix("$").removeprefix(".")
    if error.message.endswith("is a required property") and error.message.startswith("'"):
        missing = error.message.split("'")[1]
        path = f"{path}.{missing}" if path else missing
    return (prefix + path if path else prefix.rstrip(".")) or None


@dataclass(frozen=True, slots=True)
class _Published:
    """What the checks read of the published schemas, built once per process."""

    groups: dict[Kind, jsonschema.Draft7Validator]
    """Per kind, its group form without the items (each request is checked on its own)."""
    batch_create: jsonschema.Draft7Validator
    upload: jsonschema.Draft7Validator
    list_limit: JSONObject
    """The schema of the batch listing's ``limit`` parameter."""


@functools.cache
def _published() -> _Published:
    schemas = schema_set()
    group = schemas.document("group-request")["definitions"]
    forms = {kind: jsonschema.Draft7Validator(_without_items(group[form])) for kind, form in _GROUP_FORM.items()}
    openapi = schemas.openapi()
    # openapi.yaml refers to the schema files by relative path: the files and it share one registry.
    draft7 = referencing.jsonschema.DRAFT7
    registry: referencing.Registry[Any] = referencing.Registry().with_resources(
        [(f"{kind}.schema.json", draft7.create_resource(schemas.document(kind))) for kind in KINDS]
        + [("openapi.yaml", draft7.create_resource(openapi))]
    )

    def body_of(path: str, media: str) -> jsonschema.Draft7Validator:
        parts = ("paths", path, "post", "requestBody", "content", media, "schema")
        pointer = "/".join(part.replace("~", "~0").replace("/", "~1") for part in parts)
        return jsonschema.Draft7Validator({"$ref": f"openapi.yaml#/{pointer}"}, registry=registry)

    limit = next(p for p in openapi["paths"][api.BATCHES]["get"]["parameters"] if p["name"] == "limit")
    return _Published(
        forms, body_of(api.BATCHES, "application/json"), body_of(api.FILES, "multipart/form-data"), limit["schema"]
    )


def _without_items(form: JSONObject) -> JSONObject:
    """A group form holding the group only: its requests are checked one by one (``Checks.group``)."""
    requests = {key: value for key, value in form["properties"]["requests"].items() if key != "items"}
    return form | {"properties": form["properties"] | {"requests": requests}}
