"""Rules about bad submissions: a 4xx with the OpenAI envelope naming the param, never a 5xx.

Each judges the answer to its bad body, so a 5xx that comes back on every try reaches it (``judges_failure``).

Which refusals matter: a 5xx, or a 4xx a client cannot read, breaks every client (a violation). Accepting a
body OpenAI's spec refuses is a violation only where nothing could be generated from it (no model, no
messages); accepting an out-of-range value is what OpenAI-compatible backends commonly do (a deviation).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any, Literal

from slowcheck import api
from slowcheck.contract.budget import share
from slowcheck.contract.rules import rule
from slowcheck.contract.target import Exchange, Target
from slowcheck.findings import Deviation, NotRun, Violation, worst_of


@dataclass(frozen=True, slots=True)
class BadBody:
    what: str
    change: dict[str, Any]
    """Merged over a valid chat body; a value of None removes the key."""
    param: str
    """The param a precise answer names."""
    if_accepted: Literal["violation", "deviation"]


BAD_BODIES = (
    BadBody("missing model", {"model": None}, "model", "violation"),
    BadBody("missing messages", {"messages": None}, "messages", "violation"),
    BadBody("empty messages", {"messages": []}, "messages", "violation"),
    BadBody("unknown role", {"messages": [{"role": "robot", "content": "x"}]}, "messages[0].role", "deviation"),
    BadBody("temperature 3", {"temperature": 3}, "temperature", "deviation"),
    BadBody("top_p 1.5", {"top_p": 1.5}, "top_p", "deviation"),
    BadBody("n 0", {"n": 0}, "n", "deviation"),
    BadBody("five stop strings", {"stop": ["a", "b", "c", "d", "e"]}, "stop", "deviation"),
    BadBody("max_tokens as a string", {"max_tokens": "8"}, "max_tokens", "deviation"),
    BadBody("metadata value not a string", {"metadata": {"k": 1}}, "metadata.k", "deviation"),
)

share("bad-bodies", "schema-invalid bodies", floor=lambda target: len(BAD_BODIES))


def _answers(target: Target) -> list[tuple[BadBody, Exchange]]:
    def send() -> list[tuple[BadBody, Exchange]]:
        out = []
        for case in BAD_BODIES:
            body = {k: v for k, v in (target.chat() | case.change).items() if v is not None}
            out.append((case, target.submit(body, judges_failure=True)))
        return out

    return target.session.once("bad-bodies", send)


def _refused(target: Target, case: BadBody, exchange: Exchange) -> None:
    if exchange.status // 100 == 2:
        raise (Violation if case.if_accepted == "violation" else Deviation)(
            f"{case.what}: accepted ({exchange.status})", **exchange.summary()
        )
    target.expect_error(exchange, case.what)


@rule(
    "REQ-INVALID-4XX",
    "validation",
    "A schema-invalid body gets a 4xx with the OpenAI error envelope, never a 5xx.",
    source="documented",
    uses=("bad-bodies",),
    deviation="an out-of-range value accepted (temperature 3, five stop strings...); a missing model or "
    "messages accepted is a violation",
)
def invalid_bodies(target: Target) -> None:
    worst_of([functools.partial(_refused, target, case, exchange) for case, exchange in _answers(target)])


@rule(
    "REQ-PARAM-NAMED",
    "validation",
    "The error envelope's param names the offending field.",
    source="inferred",
    uses=("bad-bodies",),
    deviation="every finding: a param that is missing, broader (messages for messages[0].role) or another field",
)
def param_named(target: Target) -> None:
    refused = [(c, e) for c, e in _answers(target) if 400 <= e.status < 500 and isinstance(e.json, dict)]
    if not refused:
        raise NotRun("no invalid body was refused, so there is no param to judge")
    for case, exchange in refused:
        given = (
            (exchange.json.get("error") or {}).get("param") if isinstance(exchange.json.get("error"), dict) else None
        )
        if not isinstance(given, str) or not _same_field(given, case.param):
            raise Deviation(f"{case.what}: param is {given!r}, expected {case.param!r}", **exchange.summary())


@rule(
    "REQ-MALFORMED-400",
    "validation",
    "Malformed JSON gets 400 with the envelope.",
    source="inferred",
    cost=1,
    deviation="another 4xx with the envelope",
)
def malformed(target: Target) -> None:
    exchange = target.request("POST", api.CHAT, content=b'{"model": "m", "messages": [', judges_failure=True)
    target.expect_error(exchange, "malformed JSON", status=400, lax=True)


@rule(
    "REQ-STREAM-REFUSED",
    "validation",
    "stream: true on the slow endpoint is refused with a 400 naming stream (an SDK would lose the id).",
    source="inferred",
    cost=1,
    deviation="refused with the envelope but another 4xx, or a param other than stream",
)
def stream_refused(target: Target) -> None:
    exchange = target.submit(target.chat(stream=True), judges_failure=True)
    if exchange.status // 100 == 2:
        raise Violation(
            f"stream=true answered {exchange.status}; an SDK streaming this answer reads zero chunks and loses "
            "the generation id",
            **exchange.summary(),
        )
    target.expect_error(exchange, "stream=true", status=400, lax=True)
    param = (exchange.json.get("error") or {}).get("param")
    if param != "stream":
        raise Deviation(f"stream=true refused, but param is {param!r}, not 'stream'", **exchange.summary())


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
    cost=1,
    deviation="accepted (the generation is left to fail later), or refused without naming model",
)
def unknown_model(target: Target) -> None:
    exchange = target.submit(target.chat(model="slowcheck/no-such-model-7c1e"), judges_failure=True)
    if exchange.status // 100 == 2:
        raise Deviation("an unknown model was accepted", **exchange.summary())
    target.expect_error(exchange, "an unknown model", lax=True)
    error = exchange.json["error"]
    if exchange.status not in (400, 404) or error.get("param") != "model":
        raise Deviation(
            f"an unknown model answered {exchange.status} with param {error.get('param')!r}", **exchange.summary()
        )
