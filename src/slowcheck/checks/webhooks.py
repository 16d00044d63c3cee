"""Checks of a webhook delivery: its payload, its headers, and its data against the record the API serves."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from slowcheck import api
from slowcheck.checks.registry import check
from slowcheck.findings import Violation
from slowcheck.schemas import schema_set

__all__ = ["headers", "payload"]

_UA = re.compile(r"(Kuzco|inference\.net)-Webhook/1\.0")


@check(
    "HOOK-PAYLOAD",
    "The event validates against webhook-event.schema.json and its data equals the record.",
    source="documented",
)
def payload(event: Any, record: Mapping[str, Any] | None = None) -> Violation | None:
    """The event's shape and, given the generation's terminal record as ``GET`` serves it, its data."""
    schemas = schema_set()
    if not schemas.is_valid("webhook-event", event):
        errors = schemas.errors("webhook-event", event)
        return Violation(f"the event breaks the schema: {errors[0] if errors else 'invalid'}", response=event)
    data = event.get("data")
    if record is None or not isinstance(data, dict):
        return None
    expected = {k: v for k, v in record.items() if k in data or k != "id"}  # the docs' own records have no id
    if data == expected:
        return None
    differing = sorted(k for k in set(data) | set(expected) if data.get(k) != expected.get(k))
    who = api.event_id(event)
    served = f"GET {api.generation(who)}" if who else "the record"
    return Violation(f"data differs from {served} in {', '.join(differing)}", response=event)


@check(
    "HOOK-HEADERS",
    "X-Inference-* headers agree with the body, the webhook id and the ack id.",
    source="documented",
)
def headers(
    event: Any,
    sent: Mapping[str, str],
    *,
    event_name: str | None = None,
    webhook_id: str | None = None,
    generation_id: str | None = None,
) -> Violation | None:
    """``sent``: the delivery's headers, names in lower case. Each X-Inference-* header agrees with the body and,
    when given, with what was expected (a proxy knows neither the webhook id nor which event is due)."""
    body = event if isinstance(event, dict) else {}
    agree = {
        "X-Inference-Event": (body.get("event"), event_name),
        "X-Inference-Webhook-ID": (api.event_id(body, "webhook"), webhook_id),
        "X-Inference-Generation-ID": (api.event_id(body), generation_id),
    }
    for name, (in_body, expected) in agree.items():
        header = sent.get(name.lower())
        if header != in_body or (expected is not None and header != expected):
            return Violation(f"{name}: header {header!r}, body {in_body!r}, expected {expected!r}", response=event)
    if not sent.get("content-type", "").startswith("application/json"):
        return Violation(f"Content-Type is {sent.get('content-type')!r}", response=event)
    if not _UA.fullmatch(sent.get("user-agent", "")):
        return Violation(
            f"User-Agent {sent.get('user-agent')!r} is neither Kuzco-Webhook/1.0 nor inference.net-Webhook/1.0",
            response=event,
        )
    return None
