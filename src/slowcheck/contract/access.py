"""Rules about authentication, tenancy and retrieval of unknown ids."""

from __future__ import annotations

import functools

from slowcheck.contract.ack import submitted
from slowcheck.contract.rules import rule
from slowcheck.contract.target import Target
from slowcheck.findings import Violation, worst_of

_UNKNOWN_ID = "slowcheckUnknownId000"
_LAX = "another 4xx with the envelope (403 for 401): the SDKs raise an error either way"


def _own_generation(target: Target) -> str:
    """The id of the run's plain chat submission: a generation this key owns."""
    exchange, _ = submitted(target)
    if exchange.status != 200 or not isinstance(exchange.json, dict) or "id" not in exchange.json:
        raise Violation("a valid submission was not acknowledged with an id", **exchange.summary())
    return str(exchange.json["id"])


def _isolation_skipped(target: Target) -> str | None:
    if not target.second_api_key:
        return "needs --second-api-key (a key of another account)"
    return target.session.second_key_refused


@rule(
    "AUTH-MISSING-401",
    "auth",
    "Without an API key, submit and retrieval answer 401 with the envelope.",
    source="inferred",
    cost=2,
    uses=("acks",),
    deviation=_LAX,
)
def auth_missing(target: Target) -> None:
    generation_id = _own_generation(target)
    submit, read = target.submit(target.chat(), key=None), target.generation(generation_id, key=None)
    worst_of(
        [
            lambda: target.expect_error(submit, "submit without a key", status=401, lax=True),
            lambda: target.expect_error(read, "retrieval without a key", status=401, lax=True),
        ]
    )


@rule(
    "AUTH-WRONG-401",
    "auth",
    "A wrong API key gets 401 on submit and retrieval, and is never echoed.",
    source="inferred",
    cost=2,
    uses=("acks",),
    deviation=_LAX,
)
def auth_wrong(target: Target) -> None:
    generation_id = _own_generation(target)
    wrong = "sk-slowcheck-not-a-key-7f3a9c"
    answers = [
        (target.submit(target.chat(), key=wrong), "submit with a wrong key"),
        (target.generation(generation_id, key=wrong), "retrieval with a wrong key"),
    ]
    for exchange, what in answers:
        if wrong in exchange.text:
            raise Violation(f"{what}: the answer echoes the key", **exchange.summary())
    worst_of([functools.partial(target.expect_error, e, w, status=401, lax=True) for e, w in answers])


@rule(
    "AUTH-ISOLATION",
    "auth",
    "Another account's key cannot read a generation (404, not 403 or 200).",
    source="inferred",
    cost=1,
    uses=("acks",),
    deviation="403 (the id is not readable, but its existence shows)",
    skip=_isolation_skipped,
)
def auth_isolation(target: Target) -> None:
    generation_id = _own_generation(target)
    exchange = target.generation(generation_id, key=target.second_api_key)
    if exchange.status // 100 == 2:
        raise Violation(
            "--second-api-key read the first key's generation: either both keys belong to one account "
            "(pass a key of another account) or accounts are not isolated",
            **exchange.summary(),
        )
    target.expect_error(exchange, "another account's read", status=404, lax=True)


@rule(
    "GEN-UNKNOWN-404",
    "retrieval",
    "An unknown generation id gets 404 with the envelope.",
    source="inferred",
    cost=1,
    deviation="another 4xx with the envelope",
)
def generation_unknown(target: Target) -> None:
    target.expect_error(target.generation(_UNKNOWN_ID), "unknown id", status=404, lax=True)
