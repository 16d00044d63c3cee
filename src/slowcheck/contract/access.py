"""Rules about authentication, tenancy and retrieval of unknown ids."""

from __future__ import annotations

from slowcheck.contract.rules import NotRun, Violation, rule
from slowcheck.contract.target import Target

_UNKNOWN_ID = "slowcheckUnknownId000"


def _own_generation(target: Target) -> str:
    if "own-id" not in target.cache:
        exchange = target.submit(target.chat())
        if exchange.status != 200 or not isinstance(exchange.json, dict) or "id" not in exchange.json:
            raise Violation("a valid submission was not acknowledged with an id", **exchange.summary())
        target.cache["own-id"] = exchange.json["id"]
    return target.cache["own-id"]  # type: ignore[no-any-return]


@rule(
    "AUTH-MISSING-401",
    "auth",
    "Without an API key, submit and retrieval answer 401 with the envelope.",
    source="inferred",
)
def auth_missing(target: Target) -> None:
    generation_id = _own_generation(target)
    target.expect_error(target.submit(target.chat(), key=None), "submit without a key", status=401)
    target.expect_error(target.generation(generation_id, key=None), "retrieval without a key", status=401)


@rule(
    "AUTH-WRONG-401",
    "auth",
    "A wrong API key gets 401 on submit and retrieval, and is never echoed.",
    source="inferred",
)
def auth_wrong(target: Target) -> None:
    generation_id = _own_generation(target)
    wrong = "sk-slowcheck-not-a-key-7f3a9c"
    for exchange, what in (
        (target.submit(target.chat(), key=wrong), "submit with a wrong key"),
        (target.generation(generation_id, key=wrong), "retrieval with a wrong key"),
    ):
        target.expect_error(exchange, what, status=401)
        if wrong in exchange.text:
            raise Violation(f"{what}: the answer echoes the key", **exchange.summary())


@rule(
    "AUTH-ISOLATION", "auth", "Another account's key cannot read a generation (404, not 403 or 200).", source="inferred"
)
def auth_isolation(target: Target) -> None:
    if not target.second_api_key:
        raise NotRun("needs --second-api-key (a key of another account)")
    generation_id = _own_generation(target)
    target.expect_error(
        target.generation(generation_id, key=target.second_api_key), "another account's read", status=404
    )


@rule("GEN-UNKNOWN-404", "retrieval", "An unknown generation id gets 404 with the envelope.", source="inferred")
def generation_unknown(target: Target) -> None:
    target.expect_error(target.generation(_UNKNOWN_ID), "unknown id", status=404)
