"""Rules about the immediate answer to a submission."""

from __future__ import annotations

import re
import time
from concurrent.futures import ThreadPoolExecutor

from slowcheck import api
from slowcheck.checks import acks
from slowcheck.contract.budget import share
from slowcheck.contract.rules import rule, rule_of
from slowcheck.contract.target import Exchange, Target
from slowcheck.findings import Deviation, Violation

_ACK_BUDGET_S = 2.0  # "returns instantly"; the suggested p99 budget in our reference notes
_CONCURRENT = 12  # enough to see a shared counter or a racy id generator; each one is billed

_ACK_OBJECTS: dict[api.Kind, str] = {"chat": "chat.completion", "text": "text_completion"}

share("acks", "a chat and a text ack", floor=lambda target: 2)


def submitted(target: Target, kind: api.Kind = "chat") -> tuple[Exchange, float]:
    """The run's plain chat or text submission and the client's clock when it was sent (ms), sent once."""

    def send() -> tuple[Exchange, float]:
        sent_ms = time.time() * 1000
        return target.submit(target.chat() if kind == "chat" else target.text(), kind=kind), sent_ms

    return target.session.once(f"ack-{kind}", send)


def _ack(target: Target, kind: api.Kind = "chat") -> Exchange:
    exchange, _ = submitted(target, kind)
    if exchange.status // 100 != 2:
        raise Violation(f"a valid submission was answered {exchange.status}", **exchange.summary())
    return exchange


@rule_of(acks.ack_shape, "ack", uses=("acks",))
def ack_shape(target: Target) -> None:
    for kind in api.SUBMIT:
        exchange = _ack(target, kind)
        found = acks.ack_shape(exchange.json, kind)
        if found is not None:
            raise Violation(found.message, **exchange.summary())


@rule(
    "ACK-CREATED-MS",
    "ack",
    "The ack's created is epoch milliseconds near the client's clock.",
    source="documented",
    uses=("acks",),
)
def ack_created_ms(target: Target) -> None:
    _ack(target)
    exchange, sent_ms = submitted(target)
    created = (exchange.json or {}).get("created")
    if not isinstance(created, int) or abs(created - sent_ms) > 300_000:
        raise Violation(
            f"created={created!r} is not within 5 minutes of the client's clock in ms ({sent_ms:.0f})",
            **exchange.summary(),
        )


@rule("ACK-CHOICES-EMPTY", "ack", "The ack carries choices: [].", source="documented", uses=("acks",))
def ack_choices_empty(target: Target) -> None:
    exchange = _ack(target)
    if (exchange.json or {}).get("choices") != []:
        raise Violation("choices is not an empty array", **exchange.summary())


@rule("ACK-MODEL-ECHO", "ack", "The ack's model is the requested model.", source="documented", uses=("acks",))
def ack_model_echo(target: Target) -> None:
    exchange = _ack(target)
    if (exchange.json or {}).get("model") != target.model:
        raise Violation(f"model {exchange.json.get('model')!r} != requested {target.model!r}", **exchange.summary())


@rule(
    "ACK-OBJECT",
    "ack",
    "The ack's object is chat.completion for chat and text_completion for completions.",
    source="inferred",
    uses=("acks",),
    deviation="any other object: the SDKs do not read it",
)
def ack_object(target: Target) -> None:
    for kind, expected in _ACK_OBJECTS.items():
        exchange = _ack(target, kind)
        if (exchange.json or {}).get("object") != expected:
            raise Deviation(
                f"{kind} ack object is {exchange.json.get('object')!r}, expected {expected!r}", **exchange.summary()
            )


@rule(
    "ACK-ID-UNIQUE",
    "ack",
    "Ids are unique across submissions, concurrent ones and identical bodies included.",
    source="inferred",
    cost=_CONCURRENT,
)
def ack_id_unique(target: Target) -> None:
    body = target.chat()
    with ThreadPoolExecutor(max_workers=8) as pool:
        exchanges = list(pool.map(lambda _: target.submit(body), range(_CONCURRENT)))
    ids = [str(e.json.get("id")) for e in exchanges if e.status == 200 and isinstance(e.json, dict)]
    if len(ids) < len(exchanges):
        raise Violation(f"{len(exchanges) - len(ids)} of {len(exchanges)} concurrent submissions were not acknowledged")
    duplicates = sorted({i for i in ids if ids.count(i) > 1})
    if duplicates:
        raise Violation(f"{len(ids) - len(set(ids))} duplicate ids among {len(ids)} acks, e.g. {duplicates[0]!r}")


@rule(
    "ACK-FAST",
    "ack",
    f"A submission is acknowledged within {_ACK_BUDGET_S:g} s.",
    source="inferred",
    uses=("acks",),
    deviation="a slower ack: the docs say 'instantly' and name no number",
)
def ack_fast(target: Target) -> None:
    exchange = _ack(target)
    if exchange.elapsed > _ACK_BUDGET_S:
        raise Deviation(f"the ack took {exchange.elapsed:.2f} s", **exchange.summary())


@rule(
    "ACK-ID-FORMAT",
    "ack",
    "Ids look like the documented ones: 21 characters of [A-Za-z0-9_-].",
    source="inferred",
    uses=("acks",),
    deviation="another format: clients treat ids as opaque strings",
)
def ack_id_format(target: Target) -> None:
    exchange = _ack(target)
    generation_id = str((exchange.json or {}).get("id"))
    if not re.fullmatch(r"[A-Za-z0-9_-]{21}", generation_id):
        raise Deviation(f"id {generation_id!r} is not 21 characters of [A-Za-z0-9_-]", **exchange.summary())
