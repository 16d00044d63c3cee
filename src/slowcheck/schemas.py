"""The JSON Schemas: found, loaded and compiled once, for validation, generation and documents.

The files in the repository's top-level ``schemas/`` are the single source of truth. A wheel carries them
as ``slowcheck/_schemas``; an editable install reads them from the checkout.
"""

from __future__ import annotations

import copy
import functools
import json
from collections import defaultdict
from collections.abc import Iterable, Iterator
from importlib import resources
from pathlib import Path
from typing import Any

import jsonschema
import jsonschema_rs
import referencing
import referencing.jsonschema
import yaml
from jsonschema.exceptions import ValidationError

from slowcheck.errors import ConfigError, SchemaError, SchemaViolation, UnknownSchema
from slowcheck.types import JSON, JSONObject

__all__ = ["KINDS", "SchemaSet", "schema_dir", "schema_set"]

# Public names: a kind is a file ``schemas/<kind>.schema.json``.
KINDS: tuple[str, ...] = (
    "chat-completion-request",
    "completion-request",
    "submit-ack",
    "generation",
    "chat-completion",
    "text-completion",
    "error",
    "webhook-event",
    "group-request",
    "group-ack",
    "group-listing",
    "model-list",
    "embedding-request",
    "embedding-list",
    "batch-request-line",
    "batch-output-line",
    "batch",
    "batch-list",
    "file",
)
_SUFFIX = ".schema.json"
_MAX_ERRORS = 10


def schema_dir() -> Path:
    """The folder holding the schema files, in a wheel or in the checkout of an editable install."""
    packaged = Path(str(resources.files("slowcheck"))) / "_schemas"
    if packaged.is_dir():
        return packaged
    checkout = Path(__file__).resolve().parents[2] / "schemas"
    if checkout.is_dir():
        return checkout
    raise ConfigError(f"the JSON Schemas are missing: neither {packaged} nor {checkout} exists; reinstall slowcheck")


class SchemaSet:
    """All schemas of one folder, with compiled validators cached per kind."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self._documents: dict[str, JSONObject] = {}
        for kind in KINDS:
            path = directory / f"{kind}{_SUFFIX}"
            try:
                self._documents[kind] = json.loads(path.read_text(encoding="utf-8"))
            except (OSError, ValueError) as exc:
                raise ConfigError(f"cannot load schema {path}: {exc}") from exc
        # Files refer to each other by file name, so a resource's URI is its file name.
        self._registry: referencing.Registry[Any] = referencing.Registry().with_resources(
            (f"{kind}{_SUFFIX}", referencing.jsonschema.DRAFT7.create_resource(doc))
            for kind, doc in self._documents.items()
        )
        self._validators: dict[str, jsonschema.Draft7Validator] = {}
        self._fast: dict[str, Any] = {}
        self._bundles: dict[str, JSONObject] = {}

    def document(self, kind: str) -> JSONObject:
        """The schema file of ``kind`` as written (external ``$ref``s left in place)."""
        try:
            return self._documents[kind]
        except KeyError:
            raise UnknownSchema(f"unknown schema kind {kind!r}; known kinds: {', '.join(KINDS)}") from None

    def validator(self, kind: str) -> jsonschema.Draft7Validator:
        """A jsonschema validator: slower, but its errors say where and why."""
        if kind not in self._validators:
            self._validators[kind] = jsonschema.Draft7Validator(self.document(kind), registry=self._registry)
        return self._validators[kind]

    def is_valid(self, kind: str, instance: JSON) -> bool:
        """The fast yes/no answer (compiled validator over the bundled schema), for hot paths."""
        fast = self._fast.get(kind)
        if fast is None:
            # Formats are annotations in draft 7; patterns carry the strictness, as for jsonschema.
            fast = self._fast[kind] = jsonschema_rs.Draft7Validator(self.bundle(kind), validate_formats=False)
        return bool(fast.is_valid(instance))

    def errors(self, kind: str, instance: JSON) -> list[SchemaError]:
        """Readable errors, deepest cause first within each place; empty when ``instance`` is valid."""
        raw = sorted(self.validator(kind).iter_errors(instance), key=lambda e: list(map(str, e.absolute_path)))
        found: list[SchemaError] = []
        seen: set[tuple[str, str]] = set()
        for error in raw:
            for leaf in _explain(error):
                item = SchemaError(_json_path(leaf.absolute_path), _message(leaf))
                # One "allowed values" verdict per place, however many schema paths reached it.
                key = (item.path, "values" if leaf.validator in ("const", "enum") else item.message)
                if key not in seen:
                    seen.add(key)
                    found.append(item)
        # A "none of the forms" verdict on a place adds nothing when a deeper error explains it.
        found = [e for e in found if not (_is_form_error(e) and any(_below(o, e) for o in found))]
        return found[:_MAX_ERRORS]

    def check(self, kind: str, instance: JSON) -> None:
        """Raise :class:`SchemaViolation` unless ``instance`` is a valid ``kind``."""
        if not self.is_valid(kind, instance):
            raise SchemaViolation(kind, self.errors(kind, instance) or [SchemaError("$", "invalid")])

    def bundle(self, kind: str) -> JSONObject:
        """``kind`` as one self-contained draft-07 document: every ``$ref`` points into its ``definitions``.

        For tools that only follow local references (hypothesis-jsonschema, compiled validators).
        """
        if kind not in self._bundles:
            self._bundles[kind] = _Bundler(self).bundle(kind)
        return copy.deepcopy(self._bundles[kind])

    def openapi(self) -> JSONObject:
        """The OpenAPI 3.1 document that assembles the schemas by ``$ref``."""
        path = self.directory / "openapi.yaml"
        try:
            loaded: JSONObject = yaml.safe_load(path.read_text(encoding="utf-8"))
        except (OSError, yaml.YAMLError) as exc:
            raise ConfigError(f"cannot load {path}: {exc}") from exc
        return loaded


@functools.cache
def schema_set() -> SchemaSet:
    """The schemas shipped with this installation, loaded once."""
    return SchemaSet(schema_dir())


class _Bundler:
    """Inlines cross-file references as ``definitions`` named ``<kind>`` or ``<kind>.<definition>``."""

    def __init__(self, schemas: SchemaSet) -> None:
        self.schemas = schemas
        self.definitions: dict[str, JSON] = {}

    def bundle(self, kind: str) -> JSONObject:
        root = self._rewrite(_strip(self.schemas.document(kind)), kind)
        root["$schema"] = "http://json-schema.org/draft-07/schema#"
        if self.definitions:
            root["definitions"] = self.definitions
        return root  # type: ignore[no-any-return]

    def _rewrite(self, node: JSON, kind: str) -> JSON:
        if isinstance(node, list):
            return [self._rewrite(item, kind) for item in node]
        if not isinstance(node, dict):
            return node
        out = {key: self._rewrite(value, kind) for key, value in node.items() if key != "$ref"}
        if "$ref" in node:
            out["$ref"] = "#/definitions/" + self._define(node["$ref"], kind)
        return out

    def _define(self, ref: str, kind: str) -> str:
        file, _, fragment = ref.partition("#")
        target = file.removesuffix(_SUFFIX) if file else kind
        if fragment in ("", "/"):
            name, subschema = target, _strip(self.schemas.document(target))
        elif fragment.startswith("/definitions/") and fragment.count("/") == 2:
            definition = fragment.removeprefix("/definitions/")
            name, subschema = f"{target}.{definition}", self.schemas.document(target)["definitions"][definition]
        else:
            raise ConfigError(f"unsupported $ref {ref!r} in {kind}{_SUFFIX}")
        if name not in self.definitions:
            self.definitions[name] = True  # placeholder, so a cycle terminates
            self.definitions[name] = self._rewrite(subschema, target)
        return name


def _strip(document: JSONObject) -> JSONObject:
    return {k: v for k, v in document.items() if k not in ("$schema", "definitions")}


def _explain(error: ValidationError) -> Iterator[ValidationError]:
    """Descend into the one oneOf/anyOf branch whose discriminating keys matched, if there is one."""
    if error.validator not in ("oneOf", "anyOf") or not error.context:
        yield error
        return
    branches: dict[Any, list[ValidationError]] = defaultdict(list)
    for sub in error.context:
        branches[sub.schema_path[0]].append(sub)
    plausible = [errs for errs in branches.values() if not any(_misses_discriminator(e) for e in errs)]
    if len(plausible) == 1:
        for sub in plausible[0]:
            yield from _explain(sub)
        return
    discriminators = [_discriminator_miss(errs) for errs in branches.values()]
    keys = {tuple(miss.relative_path) for miss in discriminators if miss is not None}
    if not plausible and len(keys) == 1 and all(discriminators):
        # Every form failed on the same key (say "role"): name the key and the values it may take.
        first = discriminators[0]
        assert first is not None
        allowed = [v for miss in discriminators if miss is not None for v in _allowed(miss)]
        first.message = f"{_short(first.instance)} is not one of {', '.join(map(_short, dict.fromkeys(allowed)))}"
        yield first
        return
    types: list[Any] = [
        e.validator_value for errs in branches.values() for e in errs if e.validator == "type" and not e.path
    ]
    missing = [_missing(e) for errs in branches.values() for e in errs if e.validator == "required" and not e.path]
    if not plausible and len(types) == len(branches):
        names = sorted({t for value in types for t in ([value] if isinstance(value, str) else value)})
        error.message = f"{_short(error.instance)} is not of type {' or '.join(names)}"
    elif len(missing) == len(branches):
        names = list(dict.fromkeys(missing))
        error.message = f"{names[0]} is a required property" if len(names) == 1 else "needs one of " + ", ".join(names)
    else:
        error.message = f"{_short(error.instance)} matches none of the allowed forms"
    yield error


def _missing(error: ValidationError) -> str:
    # jsonschema's message for a missing key is "'name' is a required property".
    return str(error.message).split(" is a required property")[0]


def _discriminator_miss(errors: list[ValidationError]) -> ValidationError | None:
    return next((e for e in errors if e.validator in ("const", "enum") and len(e.relative_path) == 1), None)


def _allowed(error: ValidationError) -> list[JSON]:
    value: Any = error.validator_value
    return [value] if error.validator == "const" else list(value)


def _misses_discriminator(error: ValidationError) -> bool:
    # A wrong type at the branch's root, or a wrong const/enum in one of its own properties,
    # means the payload was never meant to be that branch.
    if error.validator == "type" and not error.relative_path:
        return True
    return error.validator in ("const", "enum") and len(error.relative_path) == 1


def _message(error: ValidationError) -> str:
    if error.validator == "maxItems" and error.validator_value == 0:
        return "must be an empty array"
    if error.validator in ("const", "enum", "type", "oneOf", "anyOf"):
        return str(error.message)
    return str(error.message).replace(repr(error.instance), _short(error.instance), 1)


def _short(value: JSON, limit: int = 60) -> str:
    text = json.dumps(value, ensure_ascii=False)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _json_path(parts: Iterable[Any]) -> str:
    out = "$"
    for part in parts:
        if isinstance(part, int):
            out += f"[{part}]"
        elif str(part).isidentifier():
            out += f".{part}"
        else:
            out += f"[{json.dumps(part)}]"
    return out


def _is_form_error(error: SchemaError) -> bool:
    return error.message.endswith("matches none of the allowed forms")


def _below(other: SchemaError, error: SchemaError) -> bool:
    rest = other.path.removeprefix(error.path)
    return rest != other.path and rest[:1] in (".", "[")
