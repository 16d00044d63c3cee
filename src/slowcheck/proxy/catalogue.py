"""What the proxy judges: its checks, each on one side.

**Client** checks are the application's: a request the API will refuse or misread (a body its schema refuses,
``stream: true`` on an endpoint that never streams) is a violation; wasteful polling (sooner than the server's
hint, after the record was already terminal, a refused request sent again unchanged) is a deviation. **API**
checks are the API's: the answers' framing and labels, group and Batch API schemas, and the checks the contract
suite runs too (``slowcheck.checks``: the ack, every record read, webhook deliveries), under the same ids.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from slowcheck.checks import acks, criterion, records, webhooks
from slowcheck.findings import Source

__all__ = ["CATALOGUE", "ProxyCheck", "Side"]

Side = Literal["client", "api"]


@dataclass(frozen=True, slots=True)
class ProxyCheck:
    id: str
    side: Side
    title: str
    source: Source = "documented"
    deviation: bool = False
    """Its findings are deviations (wasteful, not wrong). The shared checks grade their own findings."""

    @property
    def group(self) -> str:
        """How reports group it: ``proxy-client`` or ``proxy-api``."""
        return f"proxy-{self.side}"


def _shared(function: Callable[..., Any]) -> ProxyCheck:
    found = criterion(function)
    return ProxyCheck(found.id, "api", found.title, found.source)


CATALOGUE: dict[str, ProxyCheck] = {
    c.id: c
    for c in (
        ProxyCheck("CLIENT-REQUEST-SCHEMA", "client", "A submission's body is JSON its request schema accepts."),
        ProxyCheck(
            "CLIENT-NO-STREAM",
            "client",
            "No stream: true on the asynchronous endpoints (they never stream).",
            "inferred",
        ),
        ProxyCheck(
            "CLIENT-POLL-HINT",
            "client",
            "No poll sooner than the server's openai-poll-after-ms or Retry-After.",
            deviation=True,
        ),
        ProxyCheck(
            "CLIENT-POLL-AFTER-TERMINAL",
            "client",
            "No poll of a generation already seen Success or Failed.",
            deviation=True,
        ),
        ProxyCheck(
            "CLIENT-RETRY-4XX",
            "client",
            "A refused request (4xx other than 408, 409, 429) is not sent again unchanged.",
            deviation=True,
        ),
        ProxyCheck(
            "API-ANSWERED", "api", "Every request gets an HTTP answer: no reset, early close, garbage or silence."
        ),
        ProxyCheck("API-CONTENT-TYPE", "api", "Every answer with a body declares JSON."),
        ProxyCheck("API-ERROR-ENVELOPE", "api", "A 4xx or 5xx answer carries the OpenAI error envelope."),
        _shared(acks.ack_shape),
        *(_shared(check) for check in records.ON_EVERY_READ),
        ProxyCheck("API-GROUP", "api", "Group acks and listings are valid against their schemas."),
        ProxyCheck("API-BATCH", "api", "Batch API answers (files, batches, listings) are valid against their schemas."),
        _shared(webhooks.payload),
        _shared(webhooks.headers),
    )
}
"""Every check, in the order reports list them."""
