"""Rules about rate limiting: every 429 the suite met is judged; without one, a bounded burst looks for it."""

from __future__ import annotations

from slowcheck.contract.budget import share
from slowcheck.contract.rules import rule
from slowcheck.contract.target import Exchange, Target
from slowcheck.findings import Skipped, Violation

_BURST = 60

share(
    "rate-burst",
    "a burst to meet the rate limit (what is left)",
    floor=lambda target: 0,
    full=lambda target: _BURST,
    pool="rate",
    priority=3,
)


def _first_429(target: Target) -> Exchange:
    own = [e for e in target.rate_limited if not e.path.startswith(("http://", "https://"))]
    if own:  # the API's own: another host (the batch host) answers by its own rules
        return own[0]
    if target.pacer.rate is not None:
        raise Skipped("paced by --rate-limit, and no 429 met: no burst is sent to meet the limit")
    burst = target.session.reserve("rate")
    burst = _BURST if burst is None else min(burst, _BURST)
    key = target.second_api_key or target.api_key  # spend the second account's budget where there is one
    for _ in range(burst):
        exchange = target.submit(target.chat(), key=key, retry_429=False)
        if exchange.status == 429:
            return exchange
    raise Skipped(f"no limit met: no 429 during the run nor within {burst} quick submissions")


@rule(
    "RATE-429-SHAPE",
    "limits",
    "A 429 carries Retry-After (an integer >= 1) and the OpenAI error envelope.",
    source="inferred",  # the rate-limits page names the limits, not the 429's headers or body
    uses=("rate-burst",),
)
def rate_limit_shape(target: Target) -> None:
    exchange = _first_429(target)
    retry_after = exchange.headers.get("retry-after", "")
    if not retry_after.isdigit() or int(retry_after) < 1:
        raise Violation(f"Retry-After is {retry_after!r}", **exchange.summary())
    errors = target.schemas.errors("error", exchange.json)
    if errors:
        raise Violation(f"the 429 body is not the envelope: {errors[0]}", **exchange.summary())
