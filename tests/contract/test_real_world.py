"""The verdict survives a real service's ordinary habits: the docs-shaped server (not our mock) with a load
balancer's transient 503s, Failed generations, a rate limit, a lagging replica, a lax or a strict validator.
The same target gets the same verdict run after run, and noise never reads as a violation."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from slowcheck.background import serve_in_background
from slowcheck.cli import main
from tests.contract.test_real_targets import DOCS_DEVIATIONS, WAITING_ON_CONFIG
from tests.docs_server import Habits, create_app, create_batch_app

KEY, OTHER = Habits().keys


def run(tmp_path: Path, *extra: str, **habits: Any) -> tuple[int, dict[str, Any], Any]:
    """``slowcheck contract`` against the docs-shaped API and its batch host, both with ``habits``; the exit
    code, results.json and the API's state (its counters)."""
    app = create_app(Habits(**habits))
    with serve_in_background(app) as url, serve_in_background(create_batch_app(Habits(**habits))) as batch:
        code = main(["contract", "--base-url", url + "/v1", "--api-key", KEY, "--second-api-key", OTHER,
                     "--batch-base-url", batch + "/v1", "--max-requests", "200", "--completion-timeout", "20",
                     "--report-dir", str(tmp_path), *extra])  # fmt: skip
    return code, json.loads((tmp_path / "results.json").read_text()), app.state


def outcomes(results: dict[str, Any]) -> dict[str, str]:
    return {r["id"]: r["outcome"] for r in results["rules"]}


def not_held(results: dict[str, Any]) -> dict[str, str]:
    return {i: o for i, o in outcomes(results).items() if o not in ("held", "skipped")}


@pytest.fixture(scope="module")
def quiet(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    code, results, _ = run(tmp_path_factory.mktemp("quiet"), completion_delay=0.5)
    assert code == 0
    return results


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_three_percent_transient_503s_give_the_quiet_servers_verdict_with_the_noise_counted(
    seed: int, quiet: dict[str, Any], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, results, state = run(tmp_path, completion_delay=0.5, transient=0.03, seed=seed)
    out = capsys.readouterr().out
    assert code == 0, out
    assert outcomes(results) == outcomes(quiet), "the same verdict, rule by rule, as without the noise"
    noise = results["conditions"]["transient"]
    assert noise["count"] >= state.sent["transient"] > 0, "every balancer answer the API sent us is counted"
    assert noise["requests_retried"] == noise["requests_cleared"], "all retried through"
    assert "transient failure(s)" in out
    assert "all retried through" in out


def test_a_tenth_of_generations_failing_is_documented_behaviour(tmp_path: Path) -> None:
    code, results, state = run(tmp_path, completion_delay=0.5, failed=0.1, seed=4)
    assert code == 0, not_held(results)
    assert state.sent["failed"] > 0
    assert set(not_held(results)) == DOCS_DEVIATIONS


def test_every_probe_failing_makes_the_success_rules_not_run_with_that_reason(tmp_path: Path) -> None:
    code, results, _ = run(tmp_path, "--max-requests", "400", completion_delay=0.3, failed=1.0)
    assert code == 3
    found = {r["id"]: r for r in results["rules"]}
    assert found["LIFE-RESPONSE-ID"]["outcome"] == "not run"
    assert "every probe ended Failed, each submitted 4 times" in found["LIFE-RESPONSE-ID"]["message"]
    assert found["LIFE-RECORD-SCHEMA"]["outcome"] == "held", "the Failed records are judged for their shape"
    assert found["LIFE-STATES-FORWARD"]["outcome"] == "held"
    assert "violated" not in set(outcomes(results).values())


def test_a_two_per_second_limit_is_learned_and_429s_stay_rare(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, results, state = run(tmp_path, completion_delay=2.0, rate_limit=2, rate_window=1.0, rate_kind="sliding")
    out = capsys.readouterr().out
    assert code == 0, out
    assert state.sent["429"] <= 0.05 * state.sent["requests"], state.sent
    assert results["conditions"]["pace_learned"]
    assert outcomes(results)["RATE-429-SHAPE"] == "held", "the 429 met along the way is judged"
    assert "paced at" in out


def test_a_given_rate_limit_paces_from_the_first_request(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, results, state = run(tmp_path, "--rate-limit", "480", "--completion-timeout", "0",
                               rate_limit=10, rate_window=1.0, rate_kind="sliding")  # fmt: skip
    out = capsys.readouterr().out
    assert code == 0, out
    assert state.sent["429"] == 0
    assert "at --rate-limit 480/min these take at least" in out
    assert outcomes(results)["RATE-429-SHAPE"] == "skipped", "a paced run sends no burst to meet the limit"


def test_a_replica_that_lags_is_caught_as_a_state_going_back(tmp_path: Path) -> None:
    code, results, _ = run(tmp_path, completion_delay=0.3, flap_every=3)
    found = {r["id"]: r for r in results["rules"]}
    assert code == 1
    assert found["GEN-IDEMPOTENT-GET"]["outcome"] == "violated"
    assert "a state went back" in found["GEN-IDEMPOTENT-GET"]["message"]


def test_a_lax_backend_passes_with_its_laxness_listed(tmp_path: Path) -> None:
    code, results, _ = run(tmp_path, completion_delay=0.5, lax=True)
    assert code == 0, not_held(results)
    found = {r["id"]: r for r in results["rules"]}
    assert found["ROBUST-DEPTH"]["outcome"] == "deviation"
    assert "metadata nested 900 objects deep: accepted" in found["ROBUST-DEPTH"]["message"]
    invalid = [f["message"] for f in found["REQ-INVALID-4XX"]["findings"]]
    assert any("five stop strings" in m for m in invalid)
    assert len(invalid) >= 2, "every lax acceptance is listed, not only the first"
    assert "more)" in found["REQ-INVALID-4XX"]["message"]


def test_a_strict_backend_passes_with_its_refusals_listed(tmp_path: Path) -> None:
    code, results, _ = run(tmp_path, completion_delay=0.5, strict=True)
    assert code == 0, not_held(results)
    found = not_held(results)
    assert set(found.values()) == {"deviation"}
    assert found.get("LIFE-GENERATED", "deviation") == "deviation"


def test_the_skipped_rules_are_only_those_waiting_on_configuration(quiet: dict[str, Any]) -> None:
    assert {i for i, o in outcomes(quiet).items() if o == "skipped"} == WAITING_ON_CONFIG
    assert set(not_held(quiet)) == DOCS_DEVIATIONS
