"""The rows of the SDK matrix: what each SDK version is asked to do, and who answers for a failure."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

__all__ = ["CHECKS", "Check"]

Party = Literal["api", "sdk"]


@dataclass(frozen=True, slots=True)
class Check:
    id: str
    title: str
    party: Party
    """Who a failure is charged to: ``api`` failures make the matrix exit 1; ``sdk`` ones are hazards shown."""


CHECKS = (
    Check("submit-chat", "chat.completions.create: the ack parses, the id is readable, choices is empty", "api"),
    Check("submit-text", "completions.create: the same for /v1/slow/completions", "api"),
    Check("strict-parse", "the ack holds up under strict parsing (_strict_response_validation=True)", "api"),
    Check("metadata", "metadata with a webhook_id reaches the server (metadata= or extra_body)", "api"),
    Check("raw-headers", "raw access to the answer parses (no x-request-id is a deviation: not promised)", "api"),
    Check("get-generation", "the SDK's own get with an absolute URL: state, request, on Success response.id", "api"),
    Check("created-ms", "the ack's created is epoch milliseconds (what a naive date conversion makes of it)", "api"),
    Check("stream-refused", "stream=True on /v1/slow is refused with a 4xx (not an empty stream)", "api"),
    Check("embeddings", "embeddings.create through /v1/slow: the ack parses, its id reads back the request", "api"),
    Check(
        "batch-flow",
        "files.create, batches.create, batches.retrieve until completed, files.content: each "
        "custom_id once (the content object shown as the SDK returns it)",
        "api",
    ),  # fmt: skip
    Check("retry-429", "after a 429 with Retry-After / retry-after-ms: attempts and wait, measured server-side", "sdk"),
    Check("idempotency", "a POST retried after a lost answer: duplicate enqueue without Idempotency-Key?", "sdk"),
)
