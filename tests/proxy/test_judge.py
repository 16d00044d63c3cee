"""The traffic judge on hand-made exchanges: each check finds what it should, and memory stays bounded."""

from __future__ import annotations

import json
from typing import Any

import pytest

from slowcheck.findings import Outcome
from slowcheck.proxy import generations as generations_module
from slowcheck.proxy.judge import Judge
from slowcheck.proxy.recording import Relayed

BODY = {"model": "m", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 5}


class Traffic:
    def __init__(self) -> None:
        self.judge = Judge()
        self.clock = 1_800_000_000.0
        self.index = 0

    def send(self, method: str, path: str, status: int, request: Any = None, answer: Any = None, *,
             after: float = 0.1, headers: dict[str, str] | None = None, kind: str = "api") -> list[str]:  # fmt: skip
        self.clock += after
        exchange = Relayed(
            self.index, kind, self.clock, self.clock + 0.001, method, path, "c1", status,
            {"content-type": "application/json"} if kind == "webhook" else {},
            json.dumps(request).encode() if request is not None else b"",
            {"content-type": "application/json", **(headers or {})},
            json.dumps(answer).encode() if answer is not None else b"",
        )  # fmt: skip
        if kind == "webhook":  # as the API sends a delivery
            exchange.request_headers |= {
                "x-inference-event": (request or {}).get("event", ""),
                "x-inference-webhook-id": (request or {}).get("webhook_id", ""),
                "x-inference-generation-id": (request or {}).get("generation_id", ""),
                "user-agent": "inference.net-Webhook/1.0",
            }
        self.index += 1
        return [f.check for f in self.judge.judge(exchange)]

    def submit(self, generation_id: str = "G1", body: dict[str, Any] = BODY) -> list[str]:
        ack = {"id": generation_id, "object": "chat.completion", "created": int(self.clock * 1000), "model": "m",
               "choices": []}  # fmt: skip
        return self.send("POST", "/v1/slow/chat/completions", 200, body, ack)

    def poll(self, state: str, *, generation_id: str = "G1", hint_ms: int | None = None, after: float = 0.1,
             tokens: int = 3, body: dict[str, Any] = BODY, response_id: str | None = None) -> list[str]:  # fmt: skip
        record: dict[str, Any] = {"id": generation_id, "state": state, "stateMessage": state, "request": body,
                                  "response": None, "dispatchedAt": None, "finishedAt": None}  # fmt: skip
        if state != "Queued":
            record["dispatchedAt"] = "2027-01-15T08:00:00.000Z"
        if state == "Success":
            record["finishedAt"] = "2027-01-15T08:00:01.000Z"
            record["response"] = {
                "id": response_id or generation_id, "object": "chat.completion", "created": 1800000001, "model": "m",
                "choices": [{"index": 0, "message": {"role": "assistant", "content": "ok"}, "finish_reason": "stop"}],
                "usage": {"prompt_tokens": 5, "completion_tokens": tokens, "total_tokens": 5 + tokens},
            }  # fmt: skip
        headers = {"openai-poll-after-ms": str(hint_ms)} if hint_ms is not None else {}
        return self.send("GET", f"/v1/generation/{generation_id}", 200, None, record, after=after, headers=headers)


def test_a_clean_life_finds_nothing() -> None:
    traffic = Traffic()
    assert traffic.submit() == []
    assert traffic.poll("Queued", hint_ms=500) == []
    assert traffic.poll("In Progress", hint_ms=300, after=0.52) == []
    assert traffic.poll("Success", after=0.31) == []
    held = {r.rule.id for r in traffic.judge.results() if r.outcome is Outcome.HELD}
    assert {"ACK-SHAPE", "LIFE-RECORD-SCHEMA", "LIFE-STATES-FORWARD", "LIFE-REQUEST-ECHO", "LIFE-TOKEN-LIMIT"} <= held


def test_polls_before_the_hint_and_after_the_end_are_deviations() -> None:
    traffic = Traffic()
    traffic.submit()
    traffic.poll("Queued", hint_ms=1000)
    assert traffic.poll("Queued", hint_ms=1000, after=0.2) == ["CLIENT-POLL-HINT"]
    traffic.poll("Success", after=1.1)
    assert traffic.poll("Success", after=0.1) == ["CLIENT-POLL-AFTER-TERMINAL"]
    outcomes = {r.rule.id: r.outcome for r in traffic.judge.results()}
    assert outcomes["CLIENT-POLL-HINT"] is Outcome.DEVIATION
    assert outcomes["CLIENT-POLL-AFTER-TERMINAL"] is Outcome.DEVIATION
    figures = traffic.judge.figures()["clients"]["c1"]
    assert (figures["polls_before_hint"], figures["polls_after_terminal"], figures["completions"]) == (1, 1, 1)


def test_the_api_side_lifecycle_checks() -> None:
    traffic = Traffic()
    traffic.submit()
    traffic.poll("In Progress")
    assert traffic.poll("Queued") == ["LIFE-STATES-FORWARD"]
    assert traffic.poll("Success", tokens=9) == ["LIFE-TOKEN-LIMIT"]
    traffic.submit("G2")
    assert traffic.poll("Success", generation_id="G2", response_id="G1") == ["LIFE-RESPONSE-ID"]
    traffic.submit("G3")
    assert traffic.poll("Success", generation_id="G3", body={**BODY, "max_tokens": 6}) == ["LIFE-REQUEST-ECHO"]


def test_a_refused_request_sent_again_unchanged_is_a_deviation() -> None:
    traffic = Traffic()
    envelope = {"error": {"message": "bad", "type": "invalid_request_error", "param": "model", "code": None}}
    assert traffic.send("POST", "/v1/slow/chat/completions", 400, {"model": "x"}, envelope) == ["CLIENT-REQUEST-SCHEMA"]
    assert traffic.send("POST", "/v1/slow/chat/completions", 400, {"model": "x"}, envelope) == [
        "CLIENT-RETRY-4XX",
        "CLIENT-REQUEST-SCHEMA",
    ]
    assert traffic.send("POST", "/v1/slow/chat/completions", 503, BODY, {"detail": "down"}) == ["API-ERROR-ENVELOPE"]


def test_polling_on_after_the_documented_404_is_no_finding() -> None:
    traffic = Traffic()
    traffic.submit()
    envelope = {"error": {"message": "not yet", "type": "invalid_request_error", "param": "id", "code": "not_found"}}
    assert traffic.send("GET", "/v1/generation/G1", 404, None, envelope) == []
    assert traffic.send("GET", "/v1/generation/G1", 404, None, envelope) == []
    assert traffic.poll("Success") == []


def test_a_webhook_that_differs_from_the_record_is_found() -> None:
    traffic = Traffic()
    traffic.submit()
    event = {"event": "generation.completed", "timestamp": "2027-01-15T08:00:01.000Z", "webhook_id": "h",
             "generation_id": "G1", "data": {"state": "Failed", "stateMessage": "x", "request": BODY,
                                             "response": None, "finishedAt": "2027-01-15T08:00:01.000Z"}}  # fmt: skip
    assert traffic.send("POST", "/", 200, event, {}, kind="webhook") == []
    assert traffic.poll("Success") == ["HOOK-PAYLOAD"]


def test_terminal_generations_are_forgotten_and_the_number_followed_is_capped(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(generations_module, "_KEPT", 50)
    traffic = Traffic()
    for n in range(200):
        traffic.submit(f"G{n}")
    assert len(traffic.judge.generations.followed) == 50, "the least recently seen beyond the cap are dropped"
    traffic.poll("Success", generation_id="G199")
    traffic.send("GET", "/v1/models", 200, None, {"object": "list", "data": []}, after=generations_module._LINGER + 1)
    assert len(traffic.judge.generations.followed) == 50, (
        "the terminal one lingers at the end of the order until its turn"
    )
    traffic = Traffic()
    traffic.submit("A")
    traffic.poll("Success", generation_id="A")
    traffic.send("GET", "/v1/models", 200, None, {"object": "list", "data": []}, after=generations_module._LINGER + 1)
    assert "A" not in traffic.judge.generations.followed
