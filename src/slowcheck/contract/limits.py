"""Rules about rate limiting, checked when a limit is met within a bounded burst."""

from __future__ import annotations

from slowcheck.contract.rules import NotRun, Violation, rule
from slowcheck.contract.target import Exchange, Target

_BURST = 60


def _first_429(target: Target) -> Exchange:
    key = target.second_api_key or target.api_key  # spend the second account's budget where there is one
    for _ in range(_BURST):
        exchange = target.submit(target.chat(), key=key)
        if exchange.status == 429:
            return exchange
    raise NotRun(f"no 429 met within {_BURST} quick submissions")


@rule(
    "RATE-429-SHAPE",
    "limits",
    "A 429 carries Retry-After (an integer >= 1) and the OpenAI error envelope.",
    source="documented",
)
def rate_limit_shape(target: Target) -> None:
    exchange = _first_429(target)
    retry_after = exchange.headers.get("retry-after", "")
    if not retry_after.isdigit() or int(retry_after) < 1:
        raise Violation(f"Retry-After is {retry_after!r}", **exchange.summary())
    errors = target.schemas.errors("error", exchange.json)
    if errors:
        raise Violation(f"the 429 body is not the envelope: {errors[0]}", **exchange.summary())
