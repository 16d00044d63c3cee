"""The contract's plan from flags, and the run's session: what the budget grants and what is made once."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pytest

from slowcheck.contract.command import add_arguments
from slowcheck.contract.plan import plan_from
from slowcheck.contract.runner import Suite, select
from slowcheck.contract.session import Session
from slowcheck.contract.target import Target
from slowcheck.errors import ConfigError
from slowcheck.findings import NotRun

ROOT = "http://api.test"


def flags(*given: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    return parser.parse_args(list(given))


def ledger(tmp_path: Path, *, batch: bool) -> Path:
    probe = {"kind": "chat", "body": {"model": "m"}, "submitted_ms": 1.0, "ack": {"id": "abc"}}
    document: dict[str, object] = {"target": ROOT, "probes": [probe, probe | {"generated": True}]}
    if batch:
        document["batch"] = {"root": "http://batch.test", "custom_ids": ["a"], "size": 1, "file": {}, "created": {}}
    path = tmp_path / "ledger.json"
    path.write_text(json.dumps(document))
    return path


def test_the_plan_holds_the_flags_and_the_whole_catalogue(tmp_path: Path) -> None:
    plan = plan_from(flags("--base-url", ROOT + "/v1", "--api-key", "sk-x", "--max-requests", "50",
                           "--lenient", "ACK-FAST", "--strict"), tmp_path)  # fmt: skip
    assert plan.rules == tuple(select())
    assert (plan.base_url, plan.api_key, plan.max_requests) == (ROOT + "/v1", "sk-x", 50)
    assert (plan.lenient, plan.strict, plan.ledger, plan.resume) == (frozenset({"ACK-FAST"}), True, None, None)


def test_an_unknown_lenient_rule_is_a_usage_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="unknown rule id 'NOPE'"):
        plan_from(flags("--lenient", "NOPE"), tmp_path)


def test_a_first_phase_writes_its_ledger_in_the_report_folder_unless_told_where(tmp_path: Path) -> None:
    assert plan_from(flags("--completion-timeout", "0"), tmp_path).ledger == tmp_path / "ledger.json"
    elsewhere = tmp_path / "mine.json"
    assert plan_from(flags("--completion-timeout", "0", "--ledger", str(elsewhere)), tmp_path).ledger == elsewhere


def test_resume_judges_the_rules_that_wait_at_the_ledgers_target_and_batch_host(tmp_path: Path) -> None:
    plan = plan_from(flags("--resume", str(ledger(tmp_path, batch=True)), "--completion-timeout", "0"), tmp_path)
    assert {r.group for r in plan.rules} == {"lifecycle", "batch"}
    assert "BATCH-FILE" not in {r.id for r in plan.rules}, "a first-phase rule judged the batch when it was made"
    assert (plan.base_url, plan.batch_base_url, plan.ledger) == (ROOT + "/v1", "http://batch.test/v1", None)
    assert plan.resume is not None
    assert [bool(p.get("generated")) for p in plan.resume] == [False, True]
    session = plan.session()
    assert session.resume == list(plan.resume)
    assert session.resume_batch == plan.resume_batch


def test_resume_without_a_batch_keeps_the_lifecycle_rules_only(tmp_path: Path) -> None:
    plan = plan_from(flags("--resume", str(ledger(tmp_path, batch=False))), tmp_path)
    assert {r.group for r in plan.rules} == {"lifecycle"}


def test_resume_of_another_targets_ledger_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="the ledger is for http://api.test"):
        plan_from(flags("--resume", str(ledger(tmp_path, batch=False)), "--base-url", "http://other.test/v1"), tmp_path)


def test_the_plans_grants_reach_the_session_and_cap_the_polls_only_under_a_budget() -> None:
    capped = Target(ROOT + "/v1", "sk-x", max_requests=400)
    suite = Suite(capped, select())
    assert capped.session.capped
    assert capped.session.reserve("probes") == suite.plan.shares["probe-polls"] > 0
    assert capped.session.granted["fuzz-negative"] == suite.plan.shares["fuzz-negative"]
    free = Target(ROOT + "/v1", "sk-x")
    Suite(free, select())
    assert free.session.reserve("probes") is None, "no cap: the server's hints set the pace"
    assert "probes" in free.session.reserves
    capped.close()
    free.close()


def test_a_shared_probe_is_made_once_and_its_failure_repeats() -> None:
    session = Session()
    made: list[str] = []

    def ack() -> int:
        made.append("ack")
        return len(made)

    def spent() -> int:
        made.append("probes")
        raise NotRun("the budget is spent")

    assert [session.once("ack", ack), session.once("ack", ack)] == [1, 1]
    for _ in range(2):
        with pytest.raises(NotRun, match="budget"):
            session.once("probes", spent)
    assert made == ["ack", "probes"]
