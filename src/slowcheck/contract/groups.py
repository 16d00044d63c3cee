"""Rules about the group API: up to 50 requests of one kind, listed together."""

from __future__ import annotations

import time
import uuid
from typing import Any

from slowcheck.contract.rules import NotRun, Violation, rule
from slowcheck.contract.target import Target

_GROUP = "/v1/slow/group/chat/completions"


def _group(target: Target) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    if "group" not in target.cache:
        tag = uuid.uuid4().hex[:10]
        requests = [target.chat(metadata={"custom_id": f"slowcheck-{tag}-{i}"}) for i in range(3)]
        exchange = target.request("POST", _GROUP, json={"requests": requests})
        if exchange.status == 404:
            raise NotRun("the target has no group API (404)")
        errors = target.schemas.errors("group-ack", exchange.json)
        if exchange.status != 200 or errors:
            raise Violation(
                f"group submission answered {exchange.status}: {errors[0] if errors else ''}", **exchange.summary()
            )
        target.cache["group"] = (exchange.json, requests)
    return target.cache["group"]  # type: ignore[no-any-return]


@rule("GROUP-ACK", "groups", "A group submission answers groupId and groupSize == len(requests).", source="documented")
def group_ack(target: Target) -> None:
    ack, requests = _group(target)
    if ack["groupSize"] != len(requests):
        raise Violation(f"groupSize {ack['groupSize']} for {len(requests)} requests", response=ack)


@rule(
    "GROUP-LISTING",
    "groups",
    "The listing returns groupSize generations, each correlatable through request.metadata.custom_id.",
    source="documented",
)
def group_listing(target: Target) -> None:
    ack, requests = _group(target)
    path = f"/v1/slow/group/{ack['groupId']}/generations"
    deadline = time.monotonic() + max(target.completion_timeout, 5.0)
    while True:
        exchange = target.request("GET", path)
        if exchange.status != 404 or time.monotonic() > deadline:
            break  # documented: 404 until available
        time.sleep(0.05)
    errors = target.schemas.errors("group-listing", exchange.json)
    if exchange.status != 200 or errors:
        raise Violation(f"listing answered {exchange.status}: {errors[0] if errors else ''}", **exchange.summary())
    listed = sorted(g["request"].get("metadata", {}).get("custom_id", "") for g in exchange.json["generations"])
    expected = sorted(r["metadata"]["custom_id"] for r in requests)
    if listed != expected:
        raise Violation(f"listed custom_ids {listed} != submitted {expected}", **exchange.summary())


@rule(
    "GROUP-LIMIT-50", "groups", "A group of more than 50 requests is refused with a 4xx envelope.", source="documented"
)
def group_limit(target: Target) -> None:
    _group(target)
    exchange = target.request("POST", _GROUP, json={"requests": [target.chat()] * 51})
    target.expect_error(exchange, "a group of 51 requests")


@rule(
    "GROUP-NO-MIXING",
    "groups",
    "A group mixing chat and text completions is refused with a 4xx envelope.",
    source="documented",
)
def group_mixing(target: Target) -> None:
    _group(target)
    exchange = target.request("POST", _GROUP, json={"requests": [target.chat(), target.text()]})
    target.expect_error(exchange, "a group mixing chat and text")
