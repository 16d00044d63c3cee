"""Checks of a generation's records: each read judged against what was sent, the ack, and the read before it.

The contract's lifecycle rules run them over every record their probes read, LIFE-GENERATED over its generated
bodies' records, and the proxy over each record the application reads as it passes; :data:`ON_EVERY_READ` is
the set the three share. Each is total: an answer of any shape gives a finding or None, never an exception.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from slowcheck import api
from slowcheck.checks.registry import check
from slowcheck.findings import Deviation, Violation
from slowcheck.schemas import schema_set
from slowcheck.timestamps import epoch_seconds

__all__ = ["CLOCK_SLACK_S", "ON_EVERY_READ", "Read", "Sent", "reads"]

_ORDER = {"Queued": 0, "In Progress": 1, "Success": 2, "Failed": 2}
_CHAT_REASONS = {"stop", "length", "tool_calls", "content_filter", "function_call"}
_TEXT_REASONS = {"stop", "length", "content_filter"}
CLOCK_SLACK_S = 5.0
"""Seconds a timestamp may fall before the ack's created: the gateway that acks and the worker that runs (or
the client, when the ack has no created) keep clocks that differ a little."""


@dataclass(frozen=True, slots=True)
class Sent:
    """A submission as it was made: what each of its generation's records is judged against."""

    generation_id: str
    kind: api.Kind
    body: dict[str, Any] | None
    """The request as sent (None: it was not a JSON object)."""
    created_ms: float
    """The ack's ``created`` (epoch ms), else the client's clock when it sent."""

    @classmethod
    def of(cls, ack: dict[str, Any], kind: api.Kind, body: Any, sent_ms: float) -> Sent:
        """From the ack (a dict with a string ``id``) and the client's clock when it sent (epoch ms)."""
        created = ack.get("created")
        if isinstance(created, bool) or not isinstance(created, int | float):
            created = sent_ms
        return cls(str(ack["id"]), kind, body if isinstance(body, dict) else None, float(created))


@dataclass(frozen=True, slots=True)
class Read:
    """One read of a generation's record, with what it is judged against."""

    record: dict[str, Any]
    sent: Sent | None = None
    """The submission, when it was seen (a proxy may see polls of generations submitted elsewhere)."""
    previous: str | None = None
    """The state the reads before this one last said (None: the first read)."""

    @property
    def after(self) -> str | None:
        """The state the next read is judged against: this one's, when it says one."""
        state = self.record.get("state")
        return state if isinstance(state, str) else self.previous

    @property
    def who(self) -> str:
        return self.sent.generation_id if self.sent is not None else str(self.record.get("id", "a generation"))

    def found(self, message: str, *, deviation: bool = False) -> Violation:
        kind = Deviation if deviation else Violation
        body = self.sent.body if self.sent is not None else None
        return kind(f"{self.who}: {message}", request=body, response=self.record)


def _state(read: Read) -> str | None:
    """The record's state, when it says one (anything else is the schema's to judge)."""
    state = read.record.get("state")
    return state if isinstance(state, str) else None


def reads(sent: Sent, records: Iterable[dict[str, Any]]) -> Iterator[Read]:
    """Each record of a generation, in the order they were read, with the state the one before said."""
    previous = None
    for record in records:
        read = Read(record, sent, previous)
        yield read
        previous = read.after


def _completed(read: Read) -> bool:
    """A Success with a completion (not an embedding) to judge, of a submission that was seen."""
    return (
        read.sent is not None
        and read.sent.kind != "embedding"
        and _state(read) == "Success"
        and isinstance(read.record.get("response"), dict)
    )


def _response(read: Read) -> dict[str, Any]:
    response = read.record.get("response")
    return response if isinstance(response, dict) else {}


def _body(read: Read) -> dict[str, Any]:
    return (read.sent.body if read.sent is not None else None) or {}


def _n(read: Read) -> int:
    n = _body(read).get("n")
    return n if isinstance(n, int) and not isinstance(n, bool) and n > 0 else 1


def _limit(read: Read) -> int | None:
    body = _body(read)
    limit = body.get("max_completion_tokens") or body.get("max_tokens")
    return limit if isinstance(limit, int) and not isinstance(limit, bool) else None


def _choices(read: Read) -> list[Any]:
    choices = _response(read).get("choices")
    return choices if isinstance(choices, list) else []


def _usage(read: Read) -> dict[str, Any]:
    usage = _response(read).get("usage")
    return usage if isinstance(usage, dict) else {}


@check(
    "LIFE-STATES-FORWARD",
    "States only move forward and never leave a terminal state.",
    source="documented",
    applies=lambda read: read.previous is not None,
)
def states_forward(read: Read) -> Violation | None:
    before, state = read.previous, read.record.get("state")
    if before is None:
        return None
    if _ORDER.get(str(state), -1) < _ORDER.get(before, -1) or (before in api.TERMINAL and state != before):
        return read.found(f"went from {before} to {state}")
    return None


@check(
    "LIFE-RECORD-SCHEMA",
    "Every record, in every state, validates against generation.schema.json.",
    source="documented",
)
def record_schema(read: Read) -> Violation | None:
    schemas = schema_set()
    if schemas.is_valid("generation", read.record):  # the compiled validator; the readable one only to explain
        return None
    errors = schemas.errors("generation", read.record)
    return read.found(f"a {read.record.get('state')} record breaks the schema: {errors[0] if errors else 'invalid'}")


@check(
    "LIFE-REQUEST-ECHO",
    "The record's request equals what was sent, metadata included.",
    source="documented",
    applies=lambda read: read.sent is not None and read.sent.body is not None,
)
def request_echo(read: Read) -> Violation | None:
    if read.sent is None or read.sent.body is None:
        return None
    stored = read.record.get("request")
    if not isinstance(stored, dict) or any(stored.get(k) != v for k, v in read.sent.body.items()):
        return read.found("the stored request differs from the body sent")
    return None


@check(
    "LIFE-DISPATCHED-AT",
    "dispatchedAt is set from In Progress on, and null while Queued.",
    source="inferred",
    deviation="every finding: the docs show dispatchedAt but do not define it",
)
def dispatched_at(read: Read) -> Violation | None:
    state, dispatched = _state(read), read.record.get("dispatchedAt")
    if (state == "Queued" and dispatched) or (state in ("In Progress", "Success") and not dispatched):
        return read.found(f"a {state} record has dispatchedAt {dispatched!r}", deviation=True)
    return None


@check("LIFE-RESPONSE-ID", "A finished response's id equals the ack's id.", source="documented", applies=_completed)
def response_id(read: Read) -> Violation | None:
    if not _completed(read):
        return None
    given = _response(read).get("id")
    return None if given == read.who else read.found(f"response.id {given!r} != ack id {read.who!r}")


@check(
    "LIFE-CHOICES-N",
    "A finished response has n choices with indexes 0..n-1.",
    source="documented",
    applies=_completed,
)
def choices_n(read: Read) -> Violation | None:
    if not _completed(read):
        return None
    indexes = [c.get("index") if isinstance(c, dict) else None for c in _choices(read)]
    return None if indexes == list(range(_n(read))) else read.found(f"n={_n(read)} but choice indexes are {indexes}")


@check(
    "LIFE-USAGE-SUM",
    "usage.total_tokens == prompt_tokens + completion_tokens, all non-negative.",
    source="documented",
    applies=_completed,
)
def usage_sum(read: Read) -> Violation | None:
    if not _completed(read):
        return None
    usage = _usage(read)
    parts = [usage.get(k) for k in ("prompt_tokens", "completion_tokens", "total_tokens")]
    numbers = [p for p in parts if isinstance(p, int) and not isinstance(p, bool) and p >= 0]
    if len(numbers) != 3 or numbers[0] + numbers[1] != numbers[2]:
        return read.found(f"usage does not add up: {usage}")
    return None


def _limited(read: Read) -> bool:
    return _completed(read) and _limit(read) is not None and bool(_usage(read))


@check(
    "LIFE-TOKEN-LIMIT",
    "completion_tokens stay within max_tokens / max_completion_tokens (n × the limit for n choices).",
    source="documented",
    applies=_limited,
)
def token_limit(read: Read) -> Violation | None:
    limit, used = _limit(read), _usage(read).get("completion_tokens")
    if not _limited(read) or limit is None or not isinstance(used, int) or used <= limit * _n(read):
        return None
    return read.found(f"{used} completion tokens for a limit of {limit} × n={_n(read)}")


@check("LIFE-FINISH-REASON", "finish_reason is in the endpoint's enum.", source="documented", applies=_completed)
def finish_reason(read: Read) -> Violation | None:
    if not _completed(read) or read.sent is None:
        return None
    allowed = _CHAT_REASONS if read.sent.kind == "chat" else _TEXT_REASONS
    for choice in _choices(read):
        reason = choice.get("finish_reason") if isinstance(choice, dict) else None
        if not isinstance(reason, str) or reason not in allowed:
            return read.found(f"finish_reason {reason!r} is not one of {sorted(allowed)}")
    return None


@check(
    "LIFE-TIMESTAMPS",
    f"A terminal record's dispatchedAt and finishedAt are ISO-8601 with a zone, not before the ack's created "
    f"({CLOCK_SLACK_S:g} s of slack), finishedAt not before dispatchedAt, and a Success has finishedAt.",
    source="inferred",  # the docs show the fields and their format; their order and clocks are ours
    tolerance=CLOCK_SLACK_S,
    applies=lambda read: _state(read) in api.TERMINAL,
)
def timestamps(read: Read) -> Violation | None:
    record = read.record
    if _state(read) not in api.TERMINAL:
        return None
    if _state(read) == "Failed" and record.get("finishedAt") is None:
        return None  # the docs show finishedAt on a Success; a Failed record without one promises nothing
    problem = _timestamp_problem(read)
    if problem is None:
        return None
    created = f", created {read.sent.created_ms:.0f} ms" if read.sent is not None else ""
    return read.found(
        f"{problem} (finishedAt {record.get('finishedAt')!r}, dispatchedAt {record.get('dispatchedAt')!r}{created})"
    )


def _timestamp_problem(read: Read) -> str | None:
    texts = {name: read.record.get(name) for name in ("dispatchedAt", "finishedAt")}
    times = {name: epoch_seconds(text) for name, text in texts.items()}
    if texts["finishedAt"] is None:
        return "a Success record without finishedAt"
    for name, text in texts.items():
        if text is not None and times[name] is None:
            return f"{name} is not an ISO-8601 time with a zone"
    earliest = read.sent.created_ms / 1000 - CLOCK_SLACK_S if read.sent is not None else None
    for name, seconds in times.items():
        if earliest is not None and seconds is not None and seconds < earliest:
            return f"{name} is more than {CLOCK_SLACK_S:g} s before the ack's created"
    dispatched, finished = times["dispatchedAt"], times["finishedAt"]
    if dispatched is not None and finished is not None and finished < dispatched:
        return "finishedAt is before dispatchedAt"
    return None


@check(
    "LIFE-LENGTH-AT-LIMIT",
    "finish_reason length only when the token limit was reached.",
    source="inferred",
    deviation="every finding: backends count the stopping token differently",
    applies=_completed,
)
def length_at_limit(read: Read) -> Violation | None:
    if not _completed(read):
        return None
    limit, choices, used = _limit(read), _choices(read), _usage(read).get("completion_tokens")
    first = choices[0] if len(choices) == 1 and isinstance(choices[0], dict) else {}
    if limit and first.get("finish_reason") == "length" and used != limit:
        return read.found(f"finish_reason length with {used} completion tokens for a limit of {limit}", deviation=True)
    return None


@check(
    "LIFE-RESPONSE-MODEL",
    "A finished response names the requested model.",
    source="inferred",
    deviation="another name for the model (an alias or the served checkpoint)",
    applies=lambda read: _completed(read) and "model" in _body(read),
)
def response_model(read: Read) -> Violation | None:
    if not _completed(read) or "model" not in _body(read):
        return None
    given, asked = _response(read).get("model"), _body(read)["model"]
    return None if given == asked else read.found(f"response.model {given!r} != {asked!r}", deviation=True)


ON_EVERY_READ = (
    states_forward, record_schema, request_echo, dispatched_at, response_id, choices_n, usage_sum, token_limit,
    finish_reason, timestamps,
)  # fmt: skip
"""The record checks that hold for any body: LIFE-GENERATED and the proxy run these on every read."""
