"""The suite against an app in this process (``slowcheck.inprocess``): no socket, the mock's lifespan running."""

from __future__ import annotations

import socket
from typing import Any

import pytest

from slowcheck import api
from slowcheck.contract.plan import ContractPlan
from slowcheck.contract.rules import RULES
from slowcheck.contract.runner import run_suite
from slowcheck.findings import Outcome
from slowcheck.inprocess import ROOT, in_process
from slowcheck.mock import create_app
from tests.conftest import fast_mock
from tests.contract.broken import Broken, Exchange

KEYS = ["sk-inprocess-one-1111", "sk-inprocess-two-2222"]
WAITING = ("ACK-SHAPE", "AUTH-ISOLATION", "LIFE-FINISHES", "LIFE-STATES-FORWARD", "LIFE-REQUEST-ECHO")
"""An ack, another account's read, and rules that wait for generations: the mock's engine must be running."""


@pytest.fixture
def no_sockets(monkeypatch: pytest.MonkeyPatch) -> None:
    """A connection attempted during the test fails it: every answer must come through the transport."""

    def refuse(self: socket.socket, address: Any) -> None:
        raise AssertionError(f"a socket connected to {address}")

    monkeypatch.setattr(socket.socket, "connect", refuse)


def plan(*rule_ids: str) -> ContractPlan:
    return ContractPlan(
        rules=tuple(RULES[i] for i in rule_ids),
        base_url=ROOT + "/v1",
        api_key=KEYS[0],
        second_api_key=KEYS[1],
        completion_timeout=10,
    )


@pytest.mark.usefixtures("no_sockets")
def test_rules_that_wait_for_generations_are_judged_in_process() -> None:
    with in_process(create_app(fast_mock(api_keys=KEYS))) as transport:
        judged = run_suite(plan(*WAITING), transport=transport)
    assert {r.rule.id: (r.outcome, r.message) for r in judged.results} == dict.fromkeys(WAITING, (Outcome.HELD, ""))
    assert judged.verdict.status == "pass"
    assert judged.label == ROOT + "/v1"


def _other_model(exchange: Exchange) -> tuple[int, Any] | None:
    acked = exchange.method == "POST" and exchange.path == api.CHAT and exchange.status == 200
    return (200, exchange.body | {"model": "some/other"}) if acked else None


@pytest.mark.usefixtures("no_sockets")
def test_an_app_that_breaks_a_rule_in_process_is_caught() -> None:
    with in_process(Broken(create_app(fast_mock(api_keys=KEYS)), _other_model)) as transport:
        judged = run_suite(plan("ACK-MODEL-ECHO", "ACK-SHAPE"), transport=transport)
    outcomes = {r.rule.id: r.outcome for r in judged.results}
    assert outcomes == {"ACK-MODEL-ECHO": Outcome.VIOLATED, "ACK-SHAPE": Outcome.HELD}
    assert judged.verdict.exit_code == 1
