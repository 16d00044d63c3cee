"""The verdict survives a real service's ordinary habits: the docs-shaped server (not our mock) with a load
balancer's transient 503s, Failed generations, a rate limit, a lagging replica, a lax or a strict validator.
The same target gets the same verdict run after run, and noise never reads as a violation."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from slowcheck.background import serve_in_background
from tests.contract.test_real_targets import DOCS_DEVIATIONS, WAITING_ON_CONFIG
from tests.docs_server import Habits, create_app, create_batch_app

pytestmark = pytest.mark.slow  # `slowcheck contract` processes against real servers
KEY, OTHER = Habits().keys


@dataclass(frozen=True)
class Case:
    habits: dict[str, Any]
    flags: tuple[str, ...] = ()


CASES = {
    "quiet": Case({"completion_delay": 0.5}),
    "transient-1": Case({"completion_delay": 0.5, "transient": 0.03, "seed": 1}),
    "transient-2": Case({"completion_delay": 0.5, "transient": 0.03, "seed": 2}),
    "transient-3": Case({"completion_delay": 0.5, "transient": 0.03, "seed": 3}),
    "failed": Case({"completion_delay": 0.5, "failed": 0.1, "seed": 4}),
    "all-failed": Case({"completion_delay": 0.3, "failed": 1.0}, ("--max-requests", "400")),
    "two-per-second": Case({"completion_delay": 0.5, "rate_limit": 2, "rate_window": 1.0, "rate_kind": "sliding"}),
    # 600 a minute as 50 per 5 s: paced at 480, a window this long absorbs a busy machine's stalls of up to
    # 1.25 s (a 1 s window, only 0.25 s: a 429 now and then in CI), as a real per-minute window would.
    "paced": Case({"rate_limit": 50, "rate_window": 5.0, "rate_kind": "sliding"},
                  ("--rate-limit", "480", "--completion-timeout", "0")),
    "lagging-replica": Case({"completion_delay": 0.3, "flap_every": 3}),
    "lax": Case({"completion_delay": 0.5, "lax": True}),
    "strict": Case({"completion_delay": 0.5, "strict": True}),
}  # fmt: skip
"""Each habit of a real service, as a case of the docs-shaped API and its batch host."""


@dataclass(frozen=True)
class Run:
    code: int
    out: str
    results: dict[str, Any]
    sent: dict[str, int]
    """What the API saw (``Habits``' counters)."""


def _run(case: Case, folder: Path) -> Run:
    """``slowcheck contract`` in its own process against the docs-shaped API and its batch host, both with the
    case's habits, served from this one."""
    app = create_app(Habits(**case.habits))
    # The batch host's batches take 3 s at least: BATCH-CANCEL cancels one while it runs, which a busy machine
    # (eleven runs and 22 servers at once) can delay past half a second.
    batch_habits = Habits(**(case.habits | {"completion_delay": max(3.0, case.habits.get("completion_delay", 0.0))}))
    with serve_in_background(app) as url, serve_in_background(create_batch_app(batch_habits)) as batch:
        done = subprocess.run(
            [sys.executable, "-m", "slowcheck", "contract", "--base-url", url + "/v1", "--api-key", KEY,
             "--second-api-key", OTHER, "--batch-base-url", batch + "/v1", "--max-requests", "200",
             "--completion-timeout", "20", "--report-dir", str(folder), *case.flags],
            capture_output=True, text=True, timeout=400, check=False,
        )  # fmt: skip
    results = folder / "results.json"
    return Run(done.returncode, done.stdout + done.stderr, json.loads(results.read_text()), dict(app.state.sent))


@pytest.fixture(scope="session")  # session: kept while the worker runs other modules between these tests
def runs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Run]]:
    """Every case at once: each run mostly waits (on generations, on its pace), so together they take about as
    long as the slowest."""
    with ThreadPoolExecutor(len(CASES)) as pool:
        started = {name: pool.submit(_run, case, tmp_path_factory.mktemp(name)) for name, case in CASES.items()}
        yield {name: future.result() for name, future in started.items()}


def outcomes(results: dict[str, Any]) -> dict[str, str]:
    return {r["id"]: r["outcome"] for r in results["rules"]}


def not_held(results: dict[str, Any]) -> dict[str, str]:
    return {i: o for i, o in outcomes(results).items() if o not in ("held", "skipped")}


@pytest.mark.parametrize("case", ["transient-1", "transient-2", "transient-3"])
def test_three_percent_transient_503s_give_the_quiet_servers_verdict_with_the_noise_counted(
    case: str, runs: dict[str, Run]
) -> None:
    run, quiet = runs[case], runs["quiet"]
    assert run.code == quiet.code == 0, run.out
    assert outcomes(run.results) == outcomes(quiet.results), "the same verdict, rule by rule, as without the noise"
    noise = run.results["conditions"]["transient"]
    assert noise["count"] >= run.sent["transient"] > 0, "every balancer answer the API sent us is counted"
    assert noise["requests_retried"] == noise["requests_cleared"], "all retried through"
    assert "all retried through" in run.out


def test_a_tenth_of_generations_failing_is_documented_behaviour(runs: dict[str, Run]) -> None:
    run = runs["failed"]
    assert run.code == 0, run.out
    assert run.sent["failed"] > 0
    assert set(not_held(run.results)) == DOCS_DEVIATIONS


def test_every_probe_failing_makes_the_success_rules_not_run_with_that_reason(runs: dict[str, Run]) -> None:
    run = runs["all-failed"]
    assert run.code == 3, run.out
    found = {r["id"]: r for r in run.results["rules"]}
    assert found["LIFE-RESPONSE-ID"]["outcome"] == "not run"
    assert (
        "every probe ended Failed (a documented state), each submitted again up to 3 times"
        in (found["LIFE-RESPONSE-ID"]["message"])
    )
    assert found["LIFE-RECORD-SCHEMA"]["outcome"] == "held", "the Failed records are judged for their shape"
    assert found["LIFE-STATES-FORWARD"]["outcome"] == "held"
    assert "violated" not in set(outcomes(run.results).values())


def test_a_two_per_second_limit_is_learned_and_429s_stay_rare(runs: dict[str, Run]) -> None:
    run = runs["two-per-second"]
    assert run.code == 0, run.out
    assert run.sent["429"] <= 0.05 * run.sent["requests"], run.sent
    assert run.results["conditions"]["pace_learned"]
    assert outcomes(run.results)["RATE-429-SHAPE"] == "held", "the 429 met along the way is judged"
    assert "paced at" in run.out


def test_a_given_rate_limit_paces_from_the_first_request(runs: dict[str, Run]) -> None:
    run = runs["paced"]
    assert run.code == 0, run.out
    assert run.sent["429"] == 0
    assert "at --rate-limit 480/min these take at least" in run.out
    assert outcomes(run.results)["RATE-429-SHAPE"] == "skipped", "a paced run sends no burst to meet the limit"


def test_a_replica_that_lags_is_caught_as_a_state_going_back(runs: dict[str, Run]) -> None:
    run = runs["lagging-replica"]
    found = {r["id"]: r for r in run.results["rules"]}
    assert run.code == 1, run.out
    assert found["GEN-IDEMPOTENT-GET"]["outcome"] == "violated"
    assert "a state went back" in found["GEN-IDEMPOTENT-GET"]["message"]


def test_a_lax_backend_passes_with_its_laxness_listed(runs: dict[str, Run]) -> None:
    run = runs["lax"]
    assert run.code == 0, run.out
    found = {r["id"]: r for r in run.results["rules"]}
    assert found["ROBUST-DEPTH"]["outcome"] == "deviation"
    assert "metadata nested 900 objects deep: accepted" in found["ROBUST-DEPTH"]["message"]
    invalid = [f["message"] for f in found["REQ-INVALID-4XX"]["findings"]]
    assert any("five stop strings" in m for m in invalid)
    assert any("max_tokens as a string" in m for m in invalid), "every lax acceptance is listed, not the first"
    assert "more)" in found["REQ-INVALID-4XX"]["message"]


def test_a_strict_backend_passes_with_its_refusals_listed(runs: dict[str, Run]) -> None:
    run = runs["strict"]
    assert run.code == 0, run.out
    found = not_held(run.results)
    assert set(found.values()) == {"deviation"}
    assert "REQ-FUZZ-POSITIVE" in found, "the fuzzer's extension keys are refused: a strict corner"


def test_the_quiet_server_passes_with_only_its_usual_deviations(runs: dict[str, Run]) -> None:
    quiet = runs["quiet"]
    assert quiet.code == 0, quiet.out
    assert {i for i, o in outcomes(quiet.results).items() if o == "skipped"} == WAITING_ON_CONFIG
    assert set(not_held(quiet.results)) == DOCS_DEVIATIONS
    assert quiet.results["conditions"]["transient"]["count"] == 0
