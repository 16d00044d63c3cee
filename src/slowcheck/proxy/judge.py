"""Judging traffic: what the application sends and what the API answers, exchange by exchange, and across the
exchanges of one generation (its ack, its polls, its webhook).

Findings are split by side. **Client** findings are the application's: a request the API will refuse or
misread (a body its schema refuses, ``stream: true`` on an endpoint that never streams) is a violation;
wasteful polling (sooner than the server's hint, after the record was already terminal, a refused request sent
again unchanged) is a deviation. **API** findings are the API's, judged as the contract suite judges them: the
ack, record, error and Batch API schemas, JSON labelling, states only moving forward, the request echo, the
response's id, token limits, timestamps, every request answered, webhook payloads.

State per generation is kept while it is pending and for a while after it was seen terminal, then dropped, so
a proxy running for days holds only what is in flight.
"""

from __future__ import annotations

import re
from collections import Counter, OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from slowcheck import api
from slowcheck.contract.rules import Rule
from slowcheck.findings import Outcome, Result
from slowcheck.hints import hint_seconds
from slowcheck.proxy.exchange import Exchange
from slowcheck.schemas import schema_set
from slowcheck.timestamps import epoch_seconds

__all__ = ["CHECKS", "Finding", "Judge"]

_ORDER = {"Queued": 0, "In Progress": 1, "Success": 2, "Failed": 2}
_SUBMIT = re.compile(r"^/v1/(?:slow|async)/(chat/completions|completions|embeddings)$")
_GROUP = re.compile(r"^/v1/(?:slow|async)/group/(chat/completions|completions)$")
_POLL = re.compile(r"^/v1/generation/([^/]+)$")
_LISTING = re.compile(r"^/v1/(?:slow|async)/group/([^/]+)/generations$")
_KINDS: dict[str, api.Kind] = {"chat/completions": "chat", "completions": "text", "embeddings": "embedding"}
_REQUEST_SCHEMA = {"chat": "chat-completion-request", "text": "completion-request", "embedding": "embedding-request"}
_KEPT = 100_000
"""Generations followed at once; the least recently seen beyond this are forgotten."""
_LINGER = 300.0
"""Seconds a terminal generation is remembered (to spot polls after it), then forgotten."""
_HINT_SLACK = 0.05
"""A poll this much earlier than the hint (a share of it) still counts as on time: clocks and timers jitter."""


@dataclass(frozen=True, slots=True)
class Check:
    id: str
    side: str
    """``client`` or ``api``."""
    title: str
    source: str = "documented"


CHECKS: dict[str, Check] = {
    c.id: c
    for c in (
        Check("CLIENT-REQUEST-SCHEMA", "client", "A submission's body is JSON its request schema accepts."),
        Check(
            "CLIENT-NO-STREAM",
            "client",
            "No stream: true on the asynchronous endpoints (they never stream).",
            "inferred",
        ),  # fmt: skip
        Check("CLIENT-POLL-HINT", "client", "No poll sooner than the server's openai-poll-after-ms or Retry-After."),
        Check("CLIENT-POLL-AFTER-TERMINAL", "client", "No poll of a generation already seen Success or Failed."),
        Check(
            "CLIENT-RETRY-4XX",
            "client",
            "A refused request (4xx other than 408, 409, 429) is not sent again unchanged.",
        ),  # fmt: skip
        Check("API-ANSWERED", "api", "Every request gets an HTTP answer: no reset, early close, garbage or silence."),
        Check("API-CONTENT-TYPE", "api", "Every answer with a body declares JSON."),
        Check("API-ERROR-ENVELOPE", "api", "A 4xx or 5xx answer carries the OpenAI error envelope."),
        Check("API-ACK", "api", "A submission's 2xx answer is a valid ack: an id, created in milliseconds."),
        Check("API-RECORD", "api", "A generation record is valid against the generation schema."),
        Check("API-STATE-FORWARD", "api", "A generation's state only moves forward, and a terminal state stays."),
        Check("API-REQUEST-ECHO", "api", "A record's request equals what the application sent, metadata included."),
        Check("API-RESPONSE-ID", "api", "A finished response's id equals the ack's id."),
        Check("API-TOKEN-LIMIT", "api", "completion_tokens stay within max_tokens (n x the limit for n choices)."),
        Check("API-TIMESTAMPS", "api", "created <= dispatchedAt <= finishedAt, and a terminal record has finishedAt."),
        Check("API-GROUP", "api", "Group acks and listings are valid against their schemas."),
        Check("API-BATCH", "api", "Batch API answers (files, batches, listings) are valid against their schemas."),
        Check("HOOK-PAYLOAD", "api", "A webhook delivery is a valid event, with its X-Inference-Event header."),
        Check("HOOK-RECORD", "api", "A webhook's data equals the record the API serves for that generation."),
    )
}
DEVIATIONS = frozenset({"CLIENT-POLL-HINT", "CLIENT-POLL-AFTER-TERMINAL", "CLIENT-RETRY-4XX"})
"""Checks whose findings are deviations (wasteful, not wrong); the rest are violations."""


@dataclass(frozen=True, slots=True)
class Finding:
    check: str
    message: str
    exchange: int
    at: float
    request: Any = None
    response: Any = None

    @property
    def side(self) -> str:
        return CHECKS[self.check].side

    @property
    def outcome(self) -> Outcome:
        return Outcome.DEVIATION if self.check in DEVIATIONS else Outcome.VIOLATED


@dataclass(slots=True)
class _Generation:
    client: str
    kind: api.Kind
    body: dict[str, Any] | None
    created: float | None = None
    state: str | None = None
    terminal_at: float | None = None
    due: float = 0.0
    """When the server's hint allows the next poll (0: no hint)."""
    wait: float = 0.0
    """The hint's length, in seconds."""
    polls: int = 0
    record: dict[str, Any] | None = None
    hooked: dict[str, Any] | None = None
    """The data of a webhook that came before a terminal record was read."""


@dataclass
class _Client:
    polls: int = 0
    completions: int = 0
    early_polls: int = 0
    late_polls: int = 0
    refused: dict[tuple[str, str, bytes], int] = field(default_factory=dict)


class Judge:
    """Feed it exchanges in order; it keeps what it found, what it exercised, and per-client figures."""

    def __init__(self, on_finding: Callable[[Finding], None] | None = None, *, examples: int = 5) -> None:
        self.on_finding = on_finding
        self.examples = examples
        self.findings: dict[str, list[Finding]] = {}
        self.counts: Counter[str] = Counter()
        """Findings per check (beyond the kept examples)."""
        self.exercised: Counter[str] = Counter()
        self.exchanges = 0
        self.generations: OrderedDict[str, _Generation] = OrderedDict()
        self.clients: dict[str, _Client] = {}
        self._schemas = schema_set()

    # -- the public side

    def judge(self, exchange: Exchange) -> list[Finding]:
        self.exchanges += 1
        found: list[Finding] = []
        self._exchange = exchange
        self._found = found
        if exchange.kind == "webhook":
            self._webhook(exchange)
        else:
            self._api(exchange)
        self._forget(exchange.ended)
        return found

    def results(self) -> list[Result]:
        """One result per check: violated or deviation when it found something, held when traffic exercised it
        and it found nothing, skipped when no traffic it applies to passed."""
        results = []
        for check in CHECKS.values():
            rule = Rule(check.id, f"proxy-{check.side}", check.title, check.source, check=_nothing)  # type: ignore[arg-type]
            kept = self.findings.get(check.id)
            if kept:
                first = kept[0]
                more = self.counts[check.id] - 1
                message = first.message + (f" (and {more} more)" if more else "")
                results.append(Result(rule, first.outcome, message, first.request, first.response))
            elif self.exercised[check.id]:
                results.append(Result(rule, Outcome.HELD, f"judged {self.exercised[check.id]} times"))
            else:
                results.append(Result(rule, Outcome.SKIPPED, "no traffic it applies to passed the proxy"))
        return results

    def by_side(self) -> dict[str, int]:
        """Findings counted per side: ``client`` and ``api``."""
        return {side: sum(n for c, n in self.counts.items() if CHECKS[c].side == side) for side in ("client", "api")}

    def figures(self) -> dict[str, Any]:
        """Per client (key fingerprint): polls, completions seen, polls per completion, early and late polls."""
        return {
            "exchanges": self.exchanges,
            "findings": dict(self.counts),
            "clients": {
                name: {
                    "polls": c.polls,
                    "completions": c.completions,
                    "polls_per_completion": round(c.polls / c.completions, 3) if c.completions else None,
                    "polls_before_hint": c.early_polls,
                    "polls_after_terminal": c.late_polls,
                }
                for name, c in sorted(self.clients.items())
            },
        }

    # -- findings

    def _find(self, check: str, message: str) -> None:
        exchange = self._exchange
        self.counts[check] += 1
        finding = Finding(check, message, exchange.index, exchange.ended, _show(exchange.request_json(),
                          exchange.request_body), _show(exchange.response_json(), exchange.response_body))  # fmt: skip
        kept = self.findings.setdefault(check, [])
        if len(kept) < self.examples:
            kept.append(finding)
        self._found.append(finding)
        if self.on_finding is not None:
            self.on_finding(finding)

    def _checked(self, check: str) -> None:
        self.exercised[check] += 1

    # -- the application's requests and the API's answers

    def _api(self, exchange: Exchange) -> None:
        path = exchange.path.split("?", 1)[0]
        client = self.clients.setdefault(exchange.client, _Client())
        self._checked("API-ANSWERED")
        if exchange.failure is not None or exchange.status == 0:
            self._find("API-ANSWERED", f"{exchange.method} {path}: {exchange.failure or 'no answer'}")
            return
        self._labelled(exchange)
        if exchange.status >= 400:
            self._envelope(exchange)
            self._refused(exchange, client)
        submit, group = _SUBMIT.match(path), _GROUP.match(path)
        poll, listing = _POLL.match(path), _LISTING.match(path)
        if exchange.method == "POST" and submit:
            self._submission(exchange, _KINDS[submit.group(1)])
        elif exchange.method == "POST" and group:
            self._group_submission(exchange, _KINDS[group.group(1)])
        elif exchange.method == "GET" and poll:
            self._poll(exchange, poll.group(1), client)
        elif exchange.method == "GET" and listing and exchange.status == 200:
            self._schema("API-GROUP", "group-listing", exchange.response_json(), "the group listing")
        elif path.startswith((api.FILES, api.BATCHES)):
            self._batch_api(exchange, path)

    def _labelled(self, exchange: Exchange) -> None:
        if not exchange.response_body:
            return
        self._checked("API-CONTENT-TYPE")
        if path_is_raw(exchange.path):
            return
        declared = exchange.response_headers.get("content-type")
        if not api.is_json_media(declared):
            self._find("API-CONTENT-TYPE", f"HTTP {exchange.status} to {exchange.path} labelled {declared!r}")

    def _envelope(self, exchange: Exchange) -> None:
        self._checked("API-ERROR-ENVELOPE")
        if not self._schemas.is_valid("error", exchange.response_json()):
            self._find("API-ERROR-ENVELOPE", f"HTTP {exchange.status} without the OpenAI error envelope")

    def _refused(self, exchange: Exchange, client: _Client) -> None:
        # A read asked again is no waste: a generation's 404 before it is visible is documented, and polling on
        # is right. Only a refused write (a body the API already said no to) fails the same way twice.
        if exchange.method in ("GET", "HEAD", "OPTIONS") or exchange.status in (408, 409, 429):
            return
        if exchange.status >= 500:
            return
        self._checked("CLIENT-RETRY-4XX")
        key = (exchange.method, exchange.path, exchange.request_body)
        if key in client.refused:
            self._find("CLIENT-RETRY-4XX", f"{exchange.method} {exchange.path} sent again unchanged after its "
                       f"{exchange.status} (it fails the same way)")  # fmt: skip
        client.refused[key] = exchange.status
        if len(client.refused) > 1000:
            client.refused.pop(next(iter(client.refused)))

    def _submission(self, exchange: Exchange, kind: api.Kind) -> None:
        body = exchange.request_json()
        self._checked("CLIENT-REQUEST-SCHEMA")
        self._checked("CLIENT-NO-STREAM")
        if isinstance(body, dict) and body.get("stream") is True:
            self._find("CLIENT-NO-STREAM", f"stream: true sent to {exchange.path}, which never streams")
        elif not isinstance(body, dict):
            self._find("CLIENT-REQUEST-SCHEMA", f"the body sent to {exchange.path} is not a JSON object")
        elif not self._schemas.is_valid(_REQUEST_SCHEMA[kind], body):  # the compiled validator; the readable one
            errors = self._schemas.errors(_REQUEST_SCHEMA[kind], body)  # only to explain a failure
            self._find("CLIENT-REQUEST-SCHEMA", f"{_REQUEST_SCHEMA[kind]}: {errors[0] if errors else 'invalid'}")
        if not 200 <= exchange.status < 300:
            return
        ack = exchange.response_json()
        self._checked("API-ACK")
        if not self._schemas.is_valid("submit-ack", ack):
            errors = self._schemas.errors("submit-ack", ack)
            self._find("API-ACK", f"submit-ack: {errors[0] if errors else 'not JSON'}")
        if isinstance(ack, dict) and isinstance(ack.get("id"), str):
            created = ack.get("created")
            tracked = _Generation(exchange.client, kind, body if isinstance(body, dict) else None)
            if isinstance(created, int | float) and not isinstance(created, bool):
                tracked.created = created / 1000
            self._remember(ack["id"], tracked)

    def _group_submission(self, exchange: Exchange, kind: api.Kind) -> None:
        body = exchange.request_json()
        self._checked("CLIENT-REQUEST-SCHEMA")
        errors = self._schemas.errors("group-request", body) if isinstance(body, dict) else ["not a JSON object"]
        if errors:
            self._find("CLIENT-REQUEST-SCHEMA", f"group-request: {errors[0]}")
        if 200 <= exchange.status < 300:
            self._schema("API-GROUP", "group-ack", exchange.response_json(), "the group ack")

    def _poll(self, exchange: Exchange, generation_id: str, client: _Client) -> None:
        tracked = self.generations.get(generation_id)
        client.polls += 1
        if tracked is not None:
            self.generations.move_to_end(generation_id)
            tracked.polls += 1
            self._poll_timing(exchange, tracked, client)
        if exchange.status == 429 and tracked is not None:
            self._hinted(tracked, exchange)
        if exchange.status != 200:
            return
        record = exchange.response_json()
        if not self._schema("API-RECORD", "generation", record, "the record"):
            return
        assert isinstance(record, dict)
        if tracked is None:
            return
        self._hinted(tracked, exchange)
        self._lifecycle(generation_id, tracked, record)
        if record.get("state") in api.TERMINAL and tracked.terminal_at is None:
            tracked.terminal_at = exchange.ended
            client.completions += 1

    def _hinted(self, tracked: _Generation, exchange: Exchange) -> None:
        hint = hint_seconds(exchange.response_headers)
        tracked.due, tracked.wait = (exchange.ended + hint, hint) if hint is not None else (0.0, 0.0)

    def _poll_timing(self, exchange: Exchange, tracked: _Generation, client: _Client) -> None:
        self._checked("CLIENT-POLL-AFTER-TERMINAL")
        if tracked.terminal_at is not None:
            client.late_polls += 1
            self._find("CLIENT-POLL-AFTER-TERMINAL", f"{exchange.path} polled again after its {tracked.state} "
                       "record was read")  # fmt: skip
            return
        if tracked.due:
            self._checked("CLIENT-POLL-HINT")
            early = tracked.due - exchange.started
            if early > max(0.02, _HINT_SLACK * tracked.wait):
                client.early_polls += 1
                self._find("CLIENT-POLL-HINT", f"{exchange.path} polled {early:.3f} s before the server's hint")

    def _lifecycle(self, generation_id: str, tracked: _Generation, record: dict[str, Any]) -> None:
        state = record.get("state")
        self._checked("API-STATE-FORWARD")
        if tracked.state is not None and isinstance(state, str):
            before, after = _ORDER.get(tracked.state, 0), _ORDER.get(state, 0)
            if after < before or (before == 2 and state != tracked.state):
                self._find("API-STATE-FORWARD", f"{generation_id} went from {tracked.state} to {state}")
        if isinstance(state, str):
            tracked.state = state
        if tracked.body is not None:
            self._checked("API-REQUEST-ECHO")
            stored = record.get("request")
            if not isinstance(stored, dict) or any(stored.get(k) != v for k, v in tracked.body.items()):
                self._find("API-REQUEST-ECHO", f"{generation_id}'s record does not echo the request sent")
        self._timestamps(generation_id, tracked, record)
        response = record.get("response")
        if state != "Success" or not isinstance(response, dict):
            return
        if tracked.kind != "embedding":
            self._checked("API-RESPONSE-ID")
            if response.get("id") != generation_id:
                self._find("API-RESPONSE-ID", f"response.id {response.get('id')!r} != ack id {generation_id!r}")
            self._token_limit(generation_id, tracked, response)
        if tracked.hooked is not None:
            self._hook_matches(generation_id, tracked.hooked, record)
            tracked.hooked = None
        tracked.record = record

    def _timestamps(self, generation_id: str, tracked: _Generation, record: dict[str, Any]) -> None:
        self._checked("API-TIMESTAMPS")
        dispatched = epoch_seconds(record.get("dispatchedAt"))
        finished = epoch_seconds(record.get("finishedAt"))
        problems = []
        if record.get("state") in api.TERMINAL and finished is None:
            problems.append("a terminal record without finishedAt")
        if dispatched is not None and finished is not None and finished < dispatched:
            problems.append("finishedAt before dispatchedAt")
        if tracked.created is not None and dispatched is not None and dispatched < tracked.created - 1.0:
            problems.append("dispatchedAt more than a second before the ack's created")
        if problems:
            self._find("API-TIMESTAMPS", f"{generation_id}: {problems[0]}")

    def _token_limit(self, generation_id: str, tracked: _Generation, response: dict[str, Any]) -> None:
        body = tracked.body or {}
        limit = body.get("max_completion_tokens") or body.get("max_tokens")
        usage = response.get("usage")
        if not isinstance(limit, int) or not isinstance(usage, dict):
            return
        self._checked("API-TOKEN-LIMIT")
        used = usage.get("completion_tokens")
        n = body["n"] if isinstance(body.get("n"), int) else 1
        if isinstance(used, int) and used > limit * n:
            self._find("API-TOKEN-LIMIT", f"{generation_id}: {used} completion tokens, over {limit} x {n}")

    def _batch_api(self, exchange: Exchange, path: str) -> None:
        if not 200 <= exchange.status < 300 or path_is_raw(path):
            return
        parts = path.strip("/").split("/")
        if parts[1] == "files":
            kind = "file" if not (len(parts) == 3 and exchange.method == "DELETE") else None
            if kind is not None and (len(parts) == 3 or exchange.method == "POST"):
                self._schema("API-BATCH", kind, exchange.response_json(), "the file")
        elif len(parts) == 2 and exchange.method == "GET":
            self._schema("API-BATCH", "batch-list", exchange.response_json(), "the batch listing")
        else:
            self._schema("API-BATCH", "batch", exchange.response_json(), "the batch")

    def _schema(self, check: str, kind: str, document: Any, what: str) -> bool:
        self._checked(check)
        if self._schemas.is_valid(kind, document):
            return True
        errors = self._schemas.errors(kind, document)
        self._find(check, f"{what} is not valid against {kind}: {errors[0] if errors else 'not JSON'}")
        return False

    # -- webhooks

    def _webhook(self, exchange: Exchange) -> None:
        event = exchange.request_json()
        if exchange.method != "POST":
            return
        if not self._schema("HOOK-PAYLOAD", "webhook-event", event, "the webhook delivery"):
            return
        assert isinstance(event, dict)
        named = exchange.request_headers.get("x-inference-event")
        if named != event.get("event"):
            self._find("HOOK-PAYLOAD", f"X-Inference-Event {named!r} but the payload's event is {event.get('event')!r}")
        generation_id = api.event_id(event)
        data = event.get("data")
        if not isinstance(generation_id, str) or not isinstance(data, dict):
            return
        tracked = self.generations.get(generation_id)
        if tracked is None:
            return
        if tracked.record is not None:
            self._hook_matches(generation_id, data, tracked.record)
        else:
            tracked.hooked = data

    def _hook_matches(self, generation_id: str, data: dict[str, Any], record: dict[str, Any]) -> None:
        self._checked("HOOK-RECORD")
        differ = [k for k in ("state", "request", "response", "finishedAt") if k in data and data[k] != record.get(k)]
        if differ:
            self._find("HOOK-RECORD", f"{generation_id}: the webhook's {', '.join(differ)} differ from the record")

    # -- memory

    def _remember(self, generation_id: str, tracked: _Generation) -> None:
        self.generations[generation_id] = tracked
        self.generations.move_to_end(generation_id)
        while len(self.generations) > _KEPT:
            self.generations.popitem(last=False)

    def _forget(self, now: float) -> None:
        """Drop generations seen terminal more than a while ago (the oldest first; a few per exchange)."""
        for _ in range(4):
            if not self.generations:
                return
            generation_id, oldest = next(iter(self.generations.items()))
            if oldest.terminal_at is None or now - oldest.terminal_at < _LINGER:
                return
            del self.generations[generation_id]


def path_is_raw(path: str) -> bool:
    """A file's content: the JSON Lines of a batch, served as the file holds them (not one JSON document)."""
    return path.split("?", 1)[0].endswith("/content")


def _show(document: Any, body: bytes) -> Any:
    if document is not None:
        return document
    return body[:500].decode("utf-8", "replace") if body else None


def _nothing(_: Any) -> None:
    """A proxy check has no request of its own: the traffic is its input."""
