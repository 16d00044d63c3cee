"""Hypothesis strategies generated from the JSON Schemas, never written beside them.

The schemas accept unknown keys where real servers do (extension sampling keys, extra message fields);
a generated body sticks to the documented keys, so that every generated body means the same thing to any
server. Everything else about its shape comes from the schema file.
"""

from __future__ import annotations

import functools
from typing import Any, cast

from hypothesis import strategies as st

# schemathesis 4.x compiles a schema into one hypothesis strategy, once, on top of jsonschema_rs's
# canonical form: ~60 chat bodies/s where hypothesis-jsonschema managed ~3 (and it breaks on
# hypothesis >= 6.170.10). The module is schemathesis's own; tests/test_strategies.py pins its behaviour.
from schemathesis.generation.jsonschema.builder import build

from slowcheck.schemas import schema_set
from slowcheck.types import JSON, JSONObject

__all__ = ["as_clients_send", "bodies", "chat_requests", "closed", "completion_requests"]


def bodies(kind: str) -> st.SearchStrategy[JSONObject]:
    """Valid payloads of schema ``kind``, closed to their documented keys."""
    return _strategy(kind)


def chat_requests() -> st.SearchStrategy[JSONObject]:
    """Valid bodies for ``POST /v1/slow/chat/completions``."""
    return _strategy("chat-completion-request")


def completion_requests() -> st.SearchStrategy[JSONObject]:
    """Valid bodies for ``POST /v1/slow/completions``."""
    return _strategy("completion-request")


@functools.cache
def _strategy(kind: str) -> st.SearchStrategy[JSONObject]:
    return cast("st.SearchStrategy[JSONObject]", build(closed(schema_set().bundle(kind)), draft=7, formats={}))


def as_clients_send(body: JSONObject) -> JSONObject:
    """A generated body as real clients write it, so that refusing it is never a spec corner.

    Integral numbers become JSON integers (a schema ``integer`` admits ``1.0``; OpenAI-compatible backends
    commonly refuse it), and ``prompt: null`` (in OpenAI's spec, sent by no client) becomes a prompt.
    """
    out = _integral(body)
    assert isinstance(out, dict)
    if "prompt" in out and out["prompt"] is None:
        out["prompt"] = "Say hello."
    return out


def _integral(value: JSON) -> JSON:
    if isinstance(value, float) and value.is_integer() and abs(value) < 2**53:
        return int(value)
    if isinstance(value, dict):
        return {k: _integral(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_integral(v) for v in value]
    return value


def closed(node: JSON) -> JSON:
    """A copy of a schema where objects take only the keys they declare.

    Only nodes typed ``object`` are closed; one combined with ``oneOf``/``allOf``, or whose ``anyOf`` branches
    name keys of their own, stays open, because its branches declare keys too.
    """
    if isinstance(node, list):
        return [closed(item) for item in node]
    if not isinstance(node, dict):
        return node
    out: dict[str, Any] = {key: closed(value) for key, value in node.items()}
    if _is_object(node) and "properties" in node and "additionalProperties" not in node and _declares_all(node):
        out["additionalProperties"] = False
    return out


def _is_object(node: dict[str, Any]) -> bool:
    kind = node.get("type")
    return kind == "object" or (isinstance(kind, list) and "object" in kind)


def _declares_all(node: dict[str, Any]) -> bool:
    if "oneOf" in node or "allOf" in node:
        return False
    own = set(node["properties"])
    return all(
        set(branch).isdisjoint({"$ref", "anyOf", "allOf", "oneOf"}) and set(branch.get("properties", {})) <= own
        for branch in node.get("anyOf", [])
    )
