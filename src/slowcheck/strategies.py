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

__all__ = [
    "as_clients_send",
    "bodies",
    "chat_requests",
    "client_bodies",
    "closed",
    "completion_requests",
    "for_clients",
]


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


def client_bodies(kind: str) -> st.SearchStrategy[JSONObject]:
    """Valid payloads of ``kind`` as clients write them: the keys OpenAI's clients send (no deprecated key or
    role, no backend extension: :func:`for_clients`), text a person or a program would write, and
    :func:`as_clients_send`'s habits. What a backend refuses of these is a strict corner, not a broken body."""
    return _client_strategy(kind)


@functools.cache
def _client_strategy(kind: str) -> st.SearchStrategy[JSONObject]:
    schemas = schema_set()
    schema = for_clients(closed(schemas.bundle(kind)))
    built = cast("st.SearchStrategy[JSONObject]", build(schema, draft=7, formats={}))
    return built.map(lambda body: as_clients_send(_readable(body))).filter(lambda body: schemas.is_valid(kind, body))


def as_clients_send(body: JSONObject) -> JSONObject:
    """A generated body as real clients write it, so that refusing it is never a spec corner.

    Integral numbers become JSON integers (a schema ``integer`` admits ``1.0``; OpenAI-compatible backends
    commonly refuse it); ``prompt: null`` or ``[]`` (in OpenAI's spec, sent by no client) becomes a prompt; a
    message's ``content: null`` is text, except an assistant's with tool calls (which clients do send).
    """
    out = _integral(body)
    assert isinstance(out, dict)
    if "prompt" in out and (out["prompt"] in (None, []) or _beyond_a_vocabulary(out["prompt"])):
        out["prompt"] = "Say hello."
    bias = out.get("logit_bias")
    if isinstance(bias, dict) and not all(k.isascii() and k.isdecimal() and int(k) < _VOCABULARY for k in bias):
        del out["logit_bias"]  # keys are token ids, as a program that biases tokens writes them
    for message in out.get("messages") or []:
        if isinstance(message, dict) and message.get("content", "") is None:
            if not (message.get("role") == "assistant" and message.get("tool_calls")):
                message["content"] = "Say hello."
    return out


_VOCABULARY = 2**18
"""Token ids a program sends stay within a tokenizer's vocabulary (about 260,000 at most today)."""


def _beyond_a_vocabulary(prompt: JSON) -> bool:
    items = prompt if isinstance(prompt, list) else []
    ids = [x for item in items for x in (item if isinstance(item, list) else [item])]
    return any(isinstance(x, int) and not 0 <= x < _VOCABULARY for x in ids)


def for_clients(node: JSON, root: JSON | None = None) -> JSON:
    """A copy of a bundled schema without what no current OpenAI client sends: properties and ``anyOf``
    branches marked ``deprecated`` (``functions``, the ``function`` role) or ``x-extension`` (a backend's own
    sampling keys). The schemas mark them; the marks change nothing for validation."""
    root = node if root is None else root
    if isinstance(node, list):
        return [for_clients(item, root) for item in node]
    if not isinstance(node, dict):
        return node
    out: dict[str, Any] = {}
    for key, value in node.items():
        if key == "properties" and isinstance(value, dict):
            out[key] = {k: for_clients(v, root) for k, v in value.items() if not _unsent(v, root)}
        elif key == "anyOf" and isinstance(value, list):
            out[key] = [for_clients(v, root) for v in value if not _unsent(v, root)]
        else:
            out[key] = for_clients(value, root)
    return out


def _unsent(node: JSON, root: JSON) -> bool:
    if isinstance(node, dict) and isinstance(node.get("$ref"), str) and node["$ref"].startswith("#/"):
        target: JSON = root
        for part in node["$ref"][2:].split("/"):
            target = target.get(part) if isinstance(target, dict) else None
        node = target
    return isinstance(node, dict) and bool(node.get("deprecated") or node.get("x-extension"))


def _readable(value: JSON) -> JSON:
    """Strings as a person or a program writes them: no lone surrogates, no control characters but newline
    and tab (valid JSON all the same, but only a hostile client sends them: the ROBUST rules do)."""
    if isinstance(value, str):
        return "".join(c for c in value if (c.isprintable() or c in "\n\t") and not "\ud800" <= c <= "\udfff")
    if isinstance(value, dict):
        return {str(_readable(k)): _readable(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_readable(v) for v in value]
    return value


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
