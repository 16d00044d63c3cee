"""Rules about bad submissions: a 4xx with the OpenAI envelope naming the param, never a 5xx."""

from __future__ import annotations

from typing import Any

from slowcheck.contract.rules import Violation, rule
from slowcheck.contract.target import Target


def _bad_bodies(target: Target) -> list[tuple[str, Any, str | None]]:
    """(what, body, the param a precise answer names)"""
    ok = target.chat()
    return [
        ("missing model", {"messages": ok["messages"]}, "model"),
        ("missing messages", {"model": target.model}, "messages"),
        ("empty messages", ok | {"messages": []}, "messages"),
        ("unknown role", ok | {"messages": [{"role": "robot", "content": "x"}]}, "messages[0].role"),
        ("temperature 3", ok | {"temperature": 3}, "temperature"),
        ("top_p 1.5", ok | {"top_p": 1.5}, "top_p"),
        ("n 0", ok | {"n": 0}, "n"),
        ("five stop strings", ok | {"stop": ["a", "b", "c", "d", "e"]}, "stop"),
        ("max_tokens as a string", ok | {"max_tokens": "8"}, "max_tokens"),
        ("metadata value not a string", ok | {"metadata": {"k": 1}}, "metadata.k"),
    ]


@rule(
    "REQ-INVALID-4XX",
    "validation",
    "A schema-invalid body gets a 4xx with the OpenAI error envelope, never a 5xx.",
    source="documented",
)
def invalid_bodies(target: Target) -> None:
    for what, body, _ in _bad_bodies(target):
        target.expect_error(target.submit(body), what)


@rule("REQ-PARAM-NAMED", "validation", "The error envelope's param names the offending field.", source="inferred")
def param_named(target: Target) -> None:
    for what, body, param in _bad_bodies(target):
        exchange = target.submit(body)
        given = ((exchange.json or {}).get("error") or {}).get("param") if isinstance(exchange.json, dict) else None
        if given is None or param is None or not _same_field(given, param):
            raise Violation(f"{what}: param is {given!r}, expected {param!r}", **exchange.summary())


@rule("REQ-MALFORMED-400", "validation", "Malformed JSON gets 400 with the envelope.", source="inferred")
def malformed(target: Target) -> None:
    exchange = target.request("POST", "/v1/slow/chat/completions", content=b'{"model": "m", "messages": [')
    target.expect_error(exchange, "malformed JSON", status=400)


@rule(
    "REQ-STREAM-REFUSED",
    "validation",
    "stream: true on the slow endpoint is refused with a 400 naming stream (an SDK would lose the id).",
    source="inferred",
)
def stream_refused(target: Target) -> None:
    exchange = target.submit(target.chat(stream=True))
    param = ((exchange.json or {}).get("error") or {}).get("param") if isinstance(exchange.json, dict) else None
    if exchange.status != 400 or param != "stream":
        raise Violation(
            f"stream=true answered {exchange.status} (param {param!r}); an SDK streaming this answer "
            "reads zero chunks and loses the generation id",
            **exchange.summary(),
        )


def _same_field(given: str, expected: str) -> bool:
    # OpenAI spells nested params several ways: messages[0].role, messages.[0].role, messages.0.role.
    def norm(text: str) -> str:
        return text.replace(".[", "[").replace("[", ".").replace("]", "").strip(".")

    return norm(given) == norm(expected)


@rule(
    "REQ-UNKNOWN-MODEL",
    "validation",
    "An unknown model is refused with 404 model_not_found (or a 400) naming model.",
    source="inferred",
)
def unknown_model(target: Target) -> None:
    exchange = target.submit(target.chat(model="slowcheck/no-such-model-7c1e"))
    error = (exchange.json or {}).get("error") if isinstance(exchange.json, dict) else None
    if exchange.status not in (400, 404) or not isinstance(error, dict) or error.get("param") != "model":
        raise Violation(f"an unknown model answered {exchange.status}", **exchange.summary())
