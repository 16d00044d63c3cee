"""Reading the target's answer to a submission into the samples: the ack's id, the checked acks, the 429s and
the errors by reason. No locust: the harness passes what came back."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from slowcheck import _json, api
from slowcheck.load.samples import STATUS_TRANSPORT_ERROR, Samples
from slowcheck.schemas import schema_set
from slowcheck.timestamps import number_seconds
from slowcheck.transient import is_transient_answer

__all__ = ["ack_created", "load_json", "should_validate", "submission"]


def should_validate(ordinal: int, every: int) -> bool:
    """Whether the ``ordinal``-th ack (from 1) is checked against the schema: the first, then every ``every``-th
    (0 checks none)."""
    return every > 0 and (ordinal - 1) % every == 0


def load_json(content: bytes | None) -> Any:
    """The JSON document of a body, or None when it is not one."""
    try:
        return _json.loads(content or b"")
    except ValueError:
        return None


def ack_created(content: bytes | None) -> float | None:
    """The ack's ``created`` in epoch seconds (documented in milliseconds; seconds are read as such)."""
    document = load_json(content)
    return number_seconds(document.get("created") if isinstance(document, dict) else None)


def submission(
    samples: Samples,
    *,
    at: float,
    done: float,
    status: int,
    content: bytes | None,
    headers: Mapping[str, str],
    ordinal: int,
    validate_every: int,
    error: str = "unknown",
) -> tuple[str | None, str | None]:
    """Record one submission, planned at ``at`` and answered at ``done`` (epoch seconds), with the answer's
    ``headers`` (lower-case names).

    ``ordinal`` counts the 2xx answers so far, this one included; ``error`` names the transport error when
    there was no answer (status 0). Returns the generation id to poll (None if there is none) and why the
    submission failed (None if it did not). An ack not declared JSON is lost like one without an id: the
    OpenAI SDKs read it as text and hand the caller a string.
    """
    row = [at, round((done - at) * 1000, 3), status]
    samples.submits.append(row)
    if 200 <= status < 300 and not api.is_json_media(headers.get("content-type")):
        row[2] = STATUS_TRANSPORT_ERROR
        reason = f"HTTP {status} labelled {headers.get('content-type') or 'without a Content-Type'}"
        samples.errors[reason] += 1
        return None, reason
    if 200 <= status < 300:
        document = load_json(content)
        if should_validate(ordinal, validate_every):
            _check_ack(samples, document)
        generation_id = document.get("id") if isinstance(document, dict) else None
        if isinstance(generation_id, str) and generation_id:
            return generation_id, None
        # Accepted without an id the client can poll: as lost as no answer at all.
        row[2] = STATUS_TRANSPORT_ERROR
        samples.errors[f"HTTP {status} without an ack id"] += 1
        return None, "the ack has no id"
    if status == 429:
        limited = samples.limited
        limited["count"] += 1
        if "retry-after" in headers or "retry-after-ms" in headers:
            limited["retry_after"] += 1
        if schema_set().is_valid("error", load_json(content)):
            limited["envelope_ok"] += 1
        return None, "429 rate limited"
    reason = f"HTTP {status}" if status else f"no answer: {error}"
    if status and is_transient_answer(status, load_json(content)):
        reason += " (transient: a gateway's answer)"  # noise a client retries; counted apart from the API's own
    samples.errors[reason] += 1
    return None, reason


def _check_ack(samples: Samples, document: Any) -> None:
    samples.acks_checked += 1
    schemas = schema_set()
    if not schemas.is_valid("submit-ack", document):
        first = schemas.errors("submit-ack", document)[:1]
        samples.problem(str(first[0]) if first else "the ack is not valid JSON")
