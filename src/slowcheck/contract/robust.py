"""Rules about hostile input (``slowcheck.hostile``): every odd request gets a 4xx with the OpenAI envelope (or,
where the body is odd but valid, an ack), in the usual time, and the API keeps serving after it.

A 5xx, a reset connection or no answer breaks every client and is a violation. A 4xx without the envelope is a
deviation: a proxy in front of the API may refuse oversized headers or bodies itself, in its own words.
"""

from __future__ import annotations

import functools
from collections.abc import Callable

from slowcheck.contract.rules import rule
from slowcheck.contract.target import Target, TargetUnreachable
from slowcheck.findings import Deviation, Violation, worst_of
from slowcheck.hostile import CASE_HEADER, Hostile, Rule, corpus

_TITLES: dict[Rule, str] = {
    "ROBUST-DEPTH": "Deeply nested bodies (100,000 arrays, metadata 900 objects deep) are refused with a 4xx.",
    "ROBUST-UNICODE": "Lone surrogate escapes are refused with a 4xx; odd but valid Unicode is refused or accepted.",
    "ROBUST-NUMBERS": "Numbers beyond a double or 64 bits, NaN and Infinity are refused with a 4xx.",
    "ROBUST-ENCODING": "Bodies that are not UTF-8 JSON objects (bad bytes, UTF-16, an array, nothing) get a 4xx.",
    "ROBUST-CONTENT-TYPE": "A form-encoded body gets a 4xx; JSON sent as text/plain or unlabelled is refused or "
    "accepted, never a 5xx.",
    "ROBUST-HEADER-SIZE": "A 64 KiB header is refused with a 4xx (431 or 400).",
    "ROBUST-BODY-SIZE": "A 10 MiB body gets its answer (413 or 400) even when the client writes it all first.",
    "ROBUST-GENERATION-ID": "Ids of control characters, 8,000 characters or a climbing path get a 4xx (404).",
    "ROBUST-DUPLICATE-KEYS": "A body with a key given twice is refused or accepted, never a 5xx.",
}


def _cases(rule_id: Rule, target: Target) -> list[Hostile]:
    return [case for case in corpus(target.model) if case.rule == rule_id]


def _send(target: Target, case: Hostile) -> None:
    headers = {CASE_HEADER: case.id} | case.headers
    try:
        exchange = target.request(case.method, case.path, content=case.body, headers=headers, judged_here=True,
                                  judges_failure=True)  # fmt: skip
    except TargetUnreachable as exc:
        raise Violation(f"{case.what}: no answer ({exc})", request={"case": case.id}) from None
    if exchange.status >= 500:
        raise Violation(f"{case.what}: answered {exchange.status}", **exchange.summary())
    if 200 <= exchange.status < 300:
        if case.accepted == "violation":
            raise Violation(f"{case.what}: accepted ({exchange.status}), not refused", **exchange.summary())
        if case.accepted == "deviation":
            raise Deviation(f"{case.what}: accepted ({exchange.status})", **exchange.summary())
        return
    if not 400 <= exchange.status < 500:
        raise Violation(f"{case.what}: answered {exchange.status}, not a 4xx", **exchange.summary())
    errors = target.schemas.errors("error", exchange.json)
    if errors:
        raise Deviation(
            f"{case.what}: {exchange.status} without the OpenAI envelope ({errors[0]})", **exchange.summary()
        )


def _still_serving(target: Target, after: str) -> None:
    """The cheapest answer the docs promise: 404 for an id nobody was given (a 5xx on every try, or none, is a
    backend that the hostile input took down)."""
    try:
        exchange = target.generation("slowcheckUnknownId000", judges_failure=True)
    except TargetUnreachable as exc:
        raise Violation(f"the API stopped answering after {after}: {exc}") from None
    if exchange.status >= 500:
        raise Violation(f"the API answers {exchange.status} after {after}", **exchange.summary())


def _check(rule_id: Rule) -> Callable[[Target], None]:
    def check(target: Target) -> None:
        cases = _cases(rule_id, target)
        after = ", ".join(case.what for case in cases)
        sent = [functools.partial(_send, target, case) for case in cases]
        worst_of([*sent, functools.partial(_still_serving, target, after)])  # every finding, that one too

    check.__name__ = check.__qualname__ = rule_id.lower().replace("-", "_")
    return check


def _deviation(rule_id: Rule) -> str:
    lax = [case.what for case in corpus() if case.rule == rule_id and case.accepted == "deviation"]
    return "a 4xx without the OpenAI envelope (a proxy's own refusal)" + (
        f"; accepting {' or '.join(lax)} (lax, and no documented limit)" if lax else ""
    )


for _rule_id, _title in _TITLES.items():
    rule(
        _rule_id,
        "robustness",
        _title,
        source="inferred",  # no inference.net page sets depth, size or encoding limits: OpenAI's habits
        cost=functools.partial(lambda rule_id, target: len(_cases(rule_id, target)) + 1, _rule_id),
        deviation=_deviation(_rule_id),
    )(_check(_rule_id))
