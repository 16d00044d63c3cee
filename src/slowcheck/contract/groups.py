"""Rules about the group API: up to 50 requests of one kind, listed together."""

from __future__ import annotations

import time
import uuid
from typing import Any

from slowcheck import api
from slowcheck.contract.budget import share
from slowcheck.contract.polling import sweep, sweeps_within
from slowcheck.contract.rules import rule
from slowcheck.contract.target import Exchange, Target
from slowcheck.findings import NotRun, Violation
from slowcheck.hints import hint_seconds

share("group", "a group of 3", floor=lambda target: 1)
share(
    "group-polls",
    "reads of the group listing",
    floor=lambda target: 2,
    full=lambda target: sweeps_within(max(target.completion_timeout, 5.0)),
    pool="group",
)


def _group(target: Target) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    def submit() -> tuple[dict[str, Any], list[dict[str, Any]]]:
        tag = uuid.uuid4().hex[:10]
        requests = [target.chat(metadata={"custom_id": f"slowcheck-{tag}-{i}"}) for i in range(3)]
        exchange = target.request("POST", api.GROUP["chat"], json={"requests": requests})
        if exchange.status == 404:
            raise NotRun("the target has no group API (404)")
        errors = target.schemas.errors("group-ack", exchange.json)
        if exchange.status != 200 or errors:
            raise Violation(
                f"group submission answered {exchange.status}: {errors[0] if errors else ''}", **exchange.summary()
            )
        return exchange.json, requests

    return target.session.once("group", submit)


@rule(
    "GROUP-ACK",
    "groups",
    "A group submission answers groupId and groupSize == len(requests).",
    source="documented",
    uses=("group",),
)
def group_ack(target: Target) -> None:
    ack, requests = _group(target)
    if ack["groupSize"] != len(requests):
        raise Violation(f"groupSize {ack['groupSize']} for {len(requests)} requests", response=ack)


@rule(
    "GROUP-LISTING",
    "groups",
    "The listing returns groupSize generations, each correlatable through request.metadata.custom_id.",
    source="documented",
    uses=("group", "group-polls"),
)
def group_listing(target: Target) -> None:
    ack, requests = _group(target)
    path = api.group_generations(ack["groupId"])
    seen: list[Exchange] = []

    def read(_: str) -> tuple[bool, float | None]:
        seen.append(target.request("GET", path))
        return seen[-1].status != 404, hint_seconds(seen[-1].headers)  # documented: 404 until available

    ending, _ = sweep(
        [path],
        read,
        deadline=time.monotonic() + max(target.completion_timeout, 5.0),
        reserve=target.session.reserve("group"),
    )
    exchange = seen[-1]
    if exchange.status == 404:  # not a break: the docs allow the listing to wait for the group
        why = "its share of the budget was spent" if ending == "reserve" else f"{target.completion_timeout:g} s"
        raise NotRun(f"the group listing still answered 404 after {why}")
    errors = target.schemas.errors("group-listing", exchange.json)
    if exchange.status != 200 or errors:
        raise Violation(f"listing answered {exchange.status}: {errors[0] if errors else ''}", **exchange.summary())
    listed = sorted(g["request"].get("metadata", {}).get("custom_id", "") for g in exchange.json["generations"])
    expected = sorted(r["metadata"]["custom_id"] for r in requests)
    if listed != expected:
        raise Violation(f"listed custom_ids {listed} != submitted {expected}", **exchange.summary())


@rule(
    "GROUP-LIMIT-50",
    "groups",
    "A group of more than 50 requests is refused with a 4xx envelope.",
    source="documented",
    cost=1,
    uses=("group",),
)
def group_limit(target: Target) -> None:
    _group(target)
    exchange = target.request("POST", api.GROUP["chat"], json={"requests": [target.chat()] * 51})
    target.expect_error(exchange, "a group of 51 requests")


@rule(
    "GROUP-NO-MIXING",
    "groups",
    "A group mixing chat and text completions is refused with a 4xx envelope.",
    source="documented",
    cost=1,
    uses=("group",),
)
def group_mixing(target: Target) -> None:
    _group(target)
    exchange = target.request("POST", api.GROUP["chat"], json={"requests": [target.chat(), target.text()]})
    target.expect_error(exchange, "a group mixing chat and text")
