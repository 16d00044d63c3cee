"""The contract's lifecycle rules and the proxy judge the same recorded exchanges alike, finding for finding.

One recording (the exchanges the proxy would have relayed: each submission and its ack, then every poll) goes
to the proxy's :class:`Judge` as it is, and to the contract's rules as an API that answers the polls exactly
as recorded (an ``httpx.MockTransport``), the submissions read from a ledger as ``--resume`` reads them.
"""

from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

import httpx
import pytest

import slowcheck.contract.lifecycle  # noqa: F401  (registers the lifecycle rules)
from slowcheck import api
from slowcheck.checks import criterion
from slowcheck.checks.records import ON_EVERY_READ
from slowcheck.contract.rules import RULES
from slowcheck.contract.session import Session
from slowcheck.contract.target import Target
from slowcheck.findings import Deviation, NotRun, Violation
from slowcheck.proxy.judge import Judge
from slowcheck.proxy.recording import Relayed

T0 = 1_800_000_000.0
"""The clock when the recording starts: 2027-01-15T08:00:00Z."""
SHARED = [criterion(check).id for check in ON_EVERY_READ]


def iso(seconds: float, zone: str = "Z") -> str:
    """The API's timestamp of an epoch time, milliseconds shown (no zone with ``zone=""``)."""
    moment = datetime.fromtimestamp(seconds, timezone.utc)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}{zone}"


@dataclass
class Recording:
    """Exchanges as the proxy records them, a clock that moves a tenth of a second per exchange."""

    relayed: list[Relayed] = field(default_factory=list)
    clock: float = T0
    ledger: list[dict[str, Any]] = field(default_factory=list)
    polls: dict[str, list[tuple[int, Any]]] = field(default_factory=lambda: defaultdict(list))

    @property
    def next(self) -> float:
        """When the next exchange starts."""
        return self.clock + 0.1

    def _add(self, method: str, path: str, status: int, request: Any, answer: Any) -> Relayed:
        self.clock += 0.1
        exchange = Relayed(
            len(self.relayed), "api", self.clock, self.clock + 0.01, method, path, "c1", status, {},
            json.dumps(request).encode() if request is not None else b"", {"content-type": "application/json"},
            json.dumps(answer).encode(),
        )  # fmt: skip
        self.relayed.append(exchange)
        return exchange

    def submit(self, generation_id: str, body: dict[str, Any], *, created_after: float | None = 0.0) -> None:
        """A chat submission; its ack's ``created`` that many seconds after the request was sent (None: none)."""
        ack: dict[str, Any] = {"id": generation_id, "object": "chat.completion", "model": body["model"], "choices": []}
        if created_after is not None:
            ack["created"] = round((self.next + created_after) * 1000)
        sent = self._add("POST", api.CHAT, 200, body, ack)
        self.ledger.append({"kind": "chat", "body": body, "submitted_ms": sent.started * 1000, "ack": ack})

    def poll(self, generation_id: str, record: dict[str, Any] | None) -> None:
        """A read of the record as recorded (None: the documented 404 before it is visible)."""
        status, answer = (200, record) if record is not None else (404, ENVELOPE)
        self._add("GET", api.generation(generation_id), status, None, answer)
        self.polls[generation_id].append((status, answer))


ENVELOPE = {"error": {"message": "not yet", "type": "invalid_request_error", "param": "id", "code": "not_found"}}


def body(**extra: Any) -> dict[str, Any]:
    return {"model": "m", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 5} | extra


def record(state: str, sent: dict[str, Any], at: float, **fields: Any) -> dict[str, Any]:
    """A record as the API serves it in ``state`` for a submission sent at ``at``; ``fields`` change it."""
    out: dict[str, Any] = {"state": state, "stateMessage": state, "request": sent, "response": None,
                           "dispatchedAt": None, "finishedAt": None}  # fmt: skip
    if state != "Queued":
        out["dispatchedAt"] = iso(at + 1.0)
    if state in api.TERMINAL:
        out["finishedAt"] = iso(at + 2.0)
    if state == "Success":
        tokens = fields.pop("tokens", 3)
        out["response"] = {
            "id": fields.pop("response_id", None), "object": "chat.completion", "created": int(at) + 2, "model": "m",
            "choices": [{"index": 0, "message": {"role": "assistant", "content": "ok"}, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 5, "completion_tokens": tokens, "total_tokens": 5 + tokens},
        }  # fmt: skip
    return out | fields


def life(r: Recording, generation_id: str, sent: dict[str, Any], *ends: dict[str, Any], **ack: Any) -> None:
    """A submission, then its reads: Queued, In Progress, and ``ends`` (records of any state, in order)."""
    at = r.next
    r.submit(generation_id, sent, **ack)
    r.poll(generation_id, record("Queued", sent, at))
    r.poll(generation_id, record("In Progress", sent, at))
    for end in ends:
        if isinstance(end.get("response"), dict) and end["response"]["id"] is None:
            end["response"]["id"] = generation_id
        r.poll(generation_id, end)


def traffic() -> Recording:
    """Clean lives and lives that break one check each, the timestamps' edge cases among them. Each is read until
    it is terminal, and not after: the contract's probes stop there (a read after the end is the application's
    waste, and a state going back after it is GEN-IDEMPOTENT-GET's)."""
    r = Recording()
    clean = body()

    def ending(state: str, **fields: Any) -> dict[str, Any]:
        return record(state, clean, r.next, **fields)  # for the submission life() sends next

    life(r, "clean", clean, ending("Success"))
    life(r, "clock-ahead", clean, ending("Success", dispatchedAt=iso(r.next + 0.2)), created_after=2.0)
    life(r, "no-created", clean, ending("Success"), created_after=None)
    life(r, "seconds-off", clean, ending("Success", dispatchedAt=iso(r.next - 30.0)))
    life(r, "no-zone", clean, ending("Success", finishedAt=iso(r.next + 2.0, zone="")))
    life(r, "finished-first", clean, ending("Success", finishedAt=iso(r.next + 0.5)))
    life(r, "dispatched-late", clean, ending("Success", dispatchedAt=iso(r.next + 9.0), finishedAt=iso(r.next + 9.5)))
    life(r, "no-finish", clean, ending("Success", finishedAt=None))
    life(r, "failed-quietly", clean, ending("Failed", finishedAt=None))
    life(r, "failed-long-ago", clean, ending("Failed", finishedAt=iso(r.next - 60.0)))
    life(r, "goes-back", clean, ending("Queued"), ending("Success"))
    life(r, "no-echo", clean, record("Success", {**clean, "max_tokens": 6}, r.next))
    life(r, "over-limit", clean, ending("Success", tokens=9))
    life(r, "other-id", clean, ending("Success", response_id="chatcmpl-1"))
    at = r.next
    r.submit("queued-dispatched", clean)
    r.poll("queued-dispatched", record("Queued", clean, at, dispatchedAt=iso(at)))  # Queued, yet dispatched
    r.poll("queued-dispatched", record("Success", clean, at, response_id="queued-dispatched"))
    late = body(n=2)
    at = r.next
    r.submit("late", late)
    r.poll("late", None)
    r.poll("late", record("Success", late, at, response_id="late"))
    return r


def proxy_findings(recording: Recording) -> dict[str, list[tuple[str, str]]]:
    judge = Judge()
    found: dict[str, list[tuple[str, str]]] = defaultdict(list)
    for exchange in recording.relayed:
        for finding in judge.judge(exchange):
            found[finding.check].append((finding.outcome.value, finding.message))
    return {check: sorted(found[check]) for check in SHARED}


def contract_findings(recording: Recording) -> dict[str, list[tuple[str, str]]]:
    answers = {generation_id: list(reads) for generation_id, reads in recording.polls.items()}

    def api_as_recorded(request: httpx.Request) -> httpx.Response:
        hint = {"openai-poll-after-ms": "0"}  # replayed at once: the recording already holds the waits
        if request.method == "GET":
            status, answer = answers[request.url.path.rsplit("/", 1)[1]].pop(0)
            return httpx.Response(status, json=answer, headers=hint)
        return httpx.Response(400, json=ENVELOPE)  # no second submission of a Failed probe: not recorded

    target = Target(
        "http://api.test/v1", "k", completion_timeout=30, session=Session(resume=recording.ledger),
        transport=httpx.MockTransport(api_as_recorded),
    )  # fmt: skip
    found: dict[str, list[tuple[str, str]]] = {}
    with target.client:
        for check in SHARED:
            try:
                RULES[check].check(target)
                found[check] = []
            except Violation as finding:
                found[check] = sorted(
                    ("deviation" if isinstance(f, Deviation) else "violated", f.message)
                    for f in (finding, *finding.also)
                )
    assert not any(reads for reads in answers.values()), "the rules read every record the application read"
    return found


def test_the_contract_rules_and_the_proxy_agree_finding_for_finding() -> None:
    recording = traffic()
    proxy, contract = proxy_findings(recording), contract_findings(recording)
    assert contract == proxy
    timestamps = {message.split(":")[0] for _, message in proxy["LIFE-TIMESTAMPS"]}
    assert timestamps == {"seconds-off", "no-zone", "finished-first", "no-finish", "failed-long-ago"}, proxy
    assert {message.split(":")[0] for _, message in proxy["LIFE-STATES-FORWARD"]} == {"goes-back"}
    assert [m.split(":")[0] for _, m in proxy["LIFE-REQUEST-ECHO"]] == ["no-echo"]
    assert [m.split(":")[0] for _, m in proxy["LIFE-TOKEN-LIMIT"]] == ["over-limit"]
    assert [m.split(":")[0] for _, m in proxy["LIFE-RESPONSE-ID"]] == ["other-id"]
    assert [(o, m.split(":")[0]) for o, m in proxy["LIFE-DISPATCHED-AT"]] == [("deviation", "queued-dispatched")]
    assert [m.split(":")[0] for _, m in proxy["LIFE-CHOICES-N"]] == ["late"], "n=2 answered with one choice"


def test_a_clean_recording_holds_on_both_sides() -> None:
    recording = Recording()
    clean = body()
    life(recording, "clean", clean, record("Success", clean, recording.next))
    assert proxy_findings(recording) == contract_findings(recording) == {check: [] for check in SHARED}


def test_nothing_finished_is_not_run_for_the_contract_and_nothing_found_by_the_proxy() -> None:
    """Where the two differ by design: a contract rule that needs a Success says it could not judge."""
    recording = Recording()
    clean = body()
    life(recording, "failed", clean, record("Failed", clean, recording.next))
    assert proxy_findings(recording)["LIFE-RESPONSE-ID"] == []
    target = Target(
        "http://api.test/v1", "k", completion_timeout=30, session=Session(resume=recording.ledger),
        transport=httpx.MockTransport(lambda request: _replay(recording, request)),
    )  # fmt: skip
    with pytest.raises(NotRun, match="every probe ended Failed"):
        RULES["LIFE-RESPONSE-ID"].check(target)


def _replay(recording: Recording, request: httpx.Request) -> httpx.Response:
    if request.method != "GET":
        return httpx.Response(400, json=ENVELOPE)
    status, answer = recording.polls[request.url.path.rsplit("/", 1)[1]].pop(0)
    return httpx.Response(status, json=answer, headers={"openai-poll-after-ms": "0"})
