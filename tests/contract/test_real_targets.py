"""The suite against a target we did not shape: the docs-shaped server (no hints, no x-request-id, slow
completions, a backend's validation quirks), a budget of 200, and the user's configuration mistakes."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from slowcheck.background import serve_in_background
from slowcheck.cli import main
from slowcheck.contract.budget import make_plan
from slowcheck.contract.polling import Backoff, sweep, sweeps_within
from slowcheck.contract.preflight import requests_needed
from slowcheck.contract.rules import RULES
from slowcheck.contract.runner import select
from slowcheck.contract.target import Target
from tests.conftest import fast_mock
from tests.docs_server import MODELS, Habits, create_app, create_batch_app

KEY, OTHER = Habits().keys


@pytest.fixture
def docs_server() -> Iterator[Any]:
    servers: list[Any] = []

    def start(**habits: Any) -> tuple[str, Any]:
        app = create_app(Habits(**habits))
        servers.append(serve_in_background(app))
        return servers[-1].__enter__() + "/v1", app

    yield start
    for server in reversed(servers):
        server.__exit__(None, None, None)


def contract(url: str, tmp_path: Path, *extra: str, key: str = KEY) -> tuple[int, dict[str, Any]]:
    code = main(["contract", "--base-url", url, "--api-key", key, "--report-dir", str(tmp_path), *extra])
    results = tmp_path / "results.json"
    return code, json.loads(results.read_text()) if results.exists() else {}


def outcomes(results: dict[str, Any]) -> dict[str, str]:
    return {r["id"]: r["outcome"] for r in results["rules"]}


DOCS_DEVIATIONS = {
    "REQ-INVALID-4XX",  # five stop strings accepted
    "REQ-PARAM-NAMED",  # param 'messages' for messages[0].role
    "ROBUST-UNICODE",  # the standard library's parser lets a lone surrogate through
    "ROBUST-ENCODING",  # ... and a UTF-16 body
    "ROBUST-HEADER-SIZE",  # the front proxy refuses in HTML
    "ROBUST-BODY-SIZE",
    "ROBUST-GENERATION-ID",  # Starlette's own 404 for a path with a slash in the id
}
"""Where the docs-shaped server is laxer than OpenAI's spec, or answers in a proxy's words: deviations only."""
WAITING_ON_CONFIG = {r.id for r in RULES.values() if r.group in ("webhooks", "embeddings")} | {"RATE-429-SHAPE"}
"""Skipped without --webhook-id, --embedding-model, or a rate limit met."""


@pytest.mark.slow
def test_a_docs_shaped_api_passes_with_its_deviations_listed_within_200_requests(
    docs_server: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The API and its Batch API on a host of their own (as batch.inference.net), both built from the public
    docs only, with two accounts' keys."""
    url, app = docs_server(completion_delay=1.0)
    with serve_in_background(create_batch_app(Habits())) as batch:
        code, results = contract(url, tmp_path, "--max-requests", "200", "--completion-timeout", "20",
                                 "--batch-base-url", batch + "/v1", "--second-api-key", Habits().keys[1])  # fmt: skip
    out = capsys.readouterr().out
    assert code == 0, out
    found = outcomes(results)
    assert {i for i, o in found.items() if o == "skipped"} == WAITING_ON_CONFIG
    assert {i for i, o in found.items() if o not in ("held", "skipped")} == DOCS_DEVIATIONS
    assert {found[i] for i in DOCS_DEVIATIONS} == {"deviation"}
    assert {r.id for r in RULES.values() if r.group == "batch"} <= {i for i, o in found.items() if o == "held"}
    assert "five stop strings: accepted" in out
    assert "verdict: PASS" in out
    assert app.state.sent["requests"] <= 200
    assert results["plan"]["planned"] <= 200, "the batch host's requests count in the budget too"
    assert out.index("plan:") < out.index("held")


@pytest.mark.slow
def test_generations_slower_than_the_timeout_make_the_run_inconclusive(
    docs_server: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url, _ = docs_server(completion_delay=30.0)
    code, results = contract(url, tmp_path, "--completion-timeout", "2", "--max-requests", "200")
    out = capsys.readouterr().out
    assert code == 3, out
    assert results["verdict"] == "inconclusive"
    assert outcomes(results)["LIFE-RESPONSE-ID"] == "not run"
    assert "the docs allow 24-72 h" in out
    assert "verdict: INCONCLUSIVE" in out
    assert "violated" not in set(outcomes(results).values())


@pytest.mark.slow
def test_one_broken_promise_fails_the_run(docs_server: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    url, _ = docs_server(created_in_seconds=True)
    code, results = contract(url, tmp_path, "--completion-timeout", "0", "--max-requests", "200")
    assert code == 1, capsys.readouterr().out
    # The ack's schema, and so every ack the fuzzer gets, also says milliseconds.
    assert {i for i, o in outcomes(results).items() if o == "violated"} == {
        "ACK-CREATED-MS",
        "ACK-SHAPE",
        "REQ-FUZZ-POSITIVE",
    }


@pytest.mark.slow
def test_strict_turns_deviations_into_violations(docs_server: Any, tmp_path: Path) -> None:
    url, _ = docs_server()
    code, results = contract(url, tmp_path, "--completion-timeout", "0", "--strict")
    assert code == 1
    assert outcomes(results)["REQ-PARAM-NAMED"] == "violated"
    assert "--strict" in {r["id"]: r for r in results["rules"]}["REQ-PARAM-NAMED"]["message"]


@pytest.mark.slow
def test_a_budget_too_small_is_said_before_the_first_request_and_is_never_exceeded(
    docs_server: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url, app = docs_server(completion_delay=0.5)
    code, results = contract(url, tmp_path, "--max-requests", "40", "--completion-timeout", "10")
    out = capsys.readouterr().out
    assert code == 3, out
    assert app.state.sent["requests"] <= 40
    needed = results["plan"]["needed"]
    plan_line = out.splitlines()[1]
    assert plan_line.startswith("plan: 40 requests of 40")
    assert f"needs about {needed}" in plan_line
    assert "the budget cannot cover" in out.split("held")[0]
    assert f"could not run within 40 requests; about {needed} are needed" in out


@pytest.mark.slow
def test_the_plan_needs_what_it_says(docs_server: Any) -> None:
    url, _ = docs_server()
    target = Target(url, KEY, max_requests=10_000, completion_timeout=60)
    rules = select()
    full = make_plan(target, rules, preflight=requests_needed(target))
    assert not full.refused
    target.max_requests = full.needed
    exact = make_plan(target, rules, preflight=requests_needed(target))
    assert not exact.refused
    assert exact.planned == full.needed
    target.max_requests = full.needed - 1
    assert make_plan(target, rules, preflight=requests_needed(target)).planned <= full.needed - 1
    target.close()


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0
        self.polls: list[float] = []

    def sleep(self, seconds: float) -> None:
        self.now += seconds


def test_without_hints_a_60_s_wait_backs_off_and_spends_tens_of_polls() -> None:
    clock = FakeClock()

    def poll(subject: int) -> tuple[bool, float | None]:
        clock.polls.append(clock.now)
        return False, None

    ending, spent = sweep(
        range(5), poll, deadline=60.0, reserve=None, clock=lambda: clock.now, sleep=clock.sleep, rng=lambda: 0.5
    )
    sweeps = sorted(set(clock.polls))
    assert ending == "deadline"
    assert spent == 5 * len(sweeps) == 5 * sweeps_within(60.0)
    assert spent <= 50
    gaps = [b - a for a, b in zip(sweeps, sweeps[1:], strict=False)]
    assert gaps[:4] == pytest.approx([1.0, 1.5, 2.25, 3.375])
    assert sweeps[-1] == pytest.approx(60.0)


def test_thirty_minutes_within_a_small_reserve_spreads_the_polls() -> None:
    clock = FakeClock()

    def poll(subject: int) -> tuple[bool, float | None]:
        clock.polls.append(clock.now)
        return False, None

    ending, spent = sweep(range(5), poll, deadline=1800.0, reserve=40, clock=lambda: clock.now, sleep=clock.sleep)
    assert spent == 40
    assert max(clock.polls) == pytest.approx(1800.0), "the reserve lasts until the deadline"
    assert sweeps_within(1800.0, Backoff()) * 5 > 40


def test_a_servers_hint_is_honoured() -> None:
    clock = FakeClock()
    answers = iter([(False, 5.0), (False, 5.0), (True, None)])

    def poll(subject: int) -> tuple[bool, float | None]:
        clock.polls.append(clock.now)
        return next(answers)

    assert sweep([1], poll, deadline=60.0, reserve=None, clock=lambda: clock.now, sleep=clock.sleep) == ("finished", 3)
    assert clock.polls == [0.0, 5.0, 10.0]


@pytest.mark.slow
def test_429s_met_during_the_suite_are_honoured_and_judged(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from slowcheck.mock import create_app as mock_app

    settings = fast_mock(api_keys=[KEY], submit_rate=4, submit_burst=4)
    with serve_in_background(mock_app(settings)) as url:
        code = main(
            [
                "contract", "--base-url", url + "/v1", "--api-key", KEY, "--report-dir", str(tmp_path),
                "--completion-timeout", "0", "--max-requests", "120",
            ]
        )  # fmt: skip
    found = outcomes(json.loads((tmp_path / "results.json").read_text()))
    assert code == 0, capsys.readouterr().out
    assert found["RATE-429-SHAPE"] == "held", "a 429 met along the way is judged"
    assert found["ACK-ID-UNIQUE"] == "held", "twelve concurrent submissions went through after waiting"


@pytest.mark.slow
@pytest.mark.parametrize(
    ("habits", "argv", "says"),
    [
        ({}, ["--api-key", "sk-wrong"], "the API key was refused (401): check --api-key"),
        ({}, ["--model", "no/such-model"], "does not serve --model 'no/such-model'; it serves: " + ", ".join(MODELS)),
        ({"models_endpoint": False}, ["--model", "no/such-model"], "does not serve --model 'no/such-model' (404"),
        ({"models_endpoint": False}, ["--api-key", "sk-wrong"], "the API key was refused (401)"),
        ({}, ["--path", "/v1/chat/completions"], "names an endpoint: pass the API root"),
        ({"models_endpoint": False}, ["--path", "/proxy/v1"], "answered 404 without an error envelope"),
    ],
    ids=["wrong-key", "unknown-model", "unknown-model-no-list", "wrong-key-no-list", "endpoint-url", "wrong-path"],
)
def test_a_misconfigured_run_stops_with_one_line_and_at_most_three_requests(
    docs_server: Any,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    habits: dict[str, Any],
    argv: list[str],
    says: str,
) -> None:
    url, app = docs_server(**habits)
    if argv[0] == "--path":
        url, argv = url.removesuffix("/v1") + argv[1], []
    args = ["--api-key", KEY, *argv] if "--api-key" not in argv else argv
    code = main(["contract", "--base-url", url, *args, "--report-dir", str(tmp_path)])
    err = capsys.readouterr().err
    assert code == 2
    assert err.count("\n") == 1, err
    assert says in err
    assert app.state.sent["requests"] <= 3
    assert not (tmp_path / "results.json").exists()


@pytest.mark.slow
def test_a_refused_second_key_skips_isolation_and_an_accepted_one_is_checked(
    docs_server: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url, _ = docs_server()
    code, results = contract(url, tmp_path / "refused", "--completion-timeout", "0", "--second-api-key", "sk-nope")
    out = capsys.readouterr().out
    assert code == 0, out
    isolation = {r["id"]: r for r in results["rules"]}["AUTH-ISOLATION"]
    assert isolation["outcome"] == "skipped"
    assert "refused in the preflight (401)" in isolation["message"]
    code, results = contract(url, tmp_path / "other", "--completion-timeout", "0", "--second-api-key", OTHER)
    assert outcomes(results)["AUTH-ISOLATION"] == "held"


@pytest.mark.slow
def test_the_sdks_base_url_is_taken_with_a_note(
    docs_server: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url, _ = docs_server()
    code, _ = contract(url + "/slow", tmp_path, "--completion-timeout", "0")
    out = capsys.readouterr().out
    assert code == 0, out
    assert "is the SDK's base URL; checking the API root" in out
