"""What a run cost (``slowcheck.prices``): the price table, a submission's worst case, the contract's spend from the
records' usage, and ``--max-spend``'s stop (the rules it kept from running are not run: INCONCLUSIVE, exit 3)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest

from slowcheck.contract.plan import ContractPlan
from slowcheck.contract.rules import RULES
from slowcheck.contract.runner import run_suite
from slowcheck.errors import ConfigError
from slowcheck.findings import Outcome
from slowcheck.inprocess import ROOT, in_process
from slowcheck.mock import create_app
from slowcheck.prices import BUILT_IN, DEFAULT_PRICES, Price, PriceTable, Spend, load_table, worst_case
from tests.conftest import fast_mock

KEYS = ["sk-spend-one-1111", "sk-spend-two-2222"]
PRICES = {"default": {"input": 1.0, "output": 2.0}, "async_discount": 0.5}
READ_TO_THE_END = ("LIFE-FINISHES", "LIFE-REQUEST-ECHO")
"""Rules whose every submission is read until it ends: the mock bills exactly what the suite reads."""


def plan(*rule_ids: str, **overrides: Any) -> ContractPlan:
    given: dict[str, Any] = {
        "rules": tuple(RULES[i] for i in rule_ids),
        "base_url": ROOT + "/v1",
        "api_key": KEYS[0],
        "second_api_key": KEYS[1],
        "completion_timeout": 10,
    }
    return ContractPlan(**(given | overrides))


# -- the table ---------------------------------------------------------------------------------------------------


def test_the_built_in_table_is_labelled_an_estimate_without_a_discount() -> None:
    table = load_table(None)
    assert (table.source, table.discount, dict(table.prices)) == (BUILT_IN, 1.0, DEFAULT_PRICES)


def test_a_price_file_sets_the_models_the_default_and_the_asynchronous_discount(tmp_path: Path) -> None:
    path = tmp_path / "prices.toml"
    path.write_text('async_discount = 0.5\ndefault = { input = 1, output = 2 }\n"a/b" = { input = 4, output = 8 }\n')
    table = load_table(path)
    assert (table.source, table.discount) == (str(path), 0.5)
    assert (table.price("a/b"), table.price("other")) == (Price(4, 8), Price(1, 2))
    assert table.usd("a/b", 1_000_000, 1_000_000) == pytest.approx(6.0), "(4 + 8) x 0.5"
    assert table.nano("other", 1000, 1000) == 1_500_000, "3 thousandths of a dollar, halved, in nano-USD"


@pytest.mark.parametrize(
    ("name", "text", "says"),
    [
        pytest.param("p.json", "{", "is not valid JSON", id="json"),
        pytest.param("p.toml", "default = {input = 1, output = 2}\nasync_discount = 2\n", "async_discount", id="disc"),
        pytest.param("p.toml", '"a" = {input = 1, output = 2}\n', "no 'default' entry", id="default"),
        pytest.param("p.toml", "default = {input = -1, output = 2}\n", "must be {input = USD", id="negative"),
    ],
)
def test_a_bad_price_file_is_one_line(tmp_path: Path, name: str, text: str, says: str) -> None:
    path = tmp_path / name
    path.write_text(text)
    with pytest.raises(ConfigError, match=None) as caught:
        load_table(path)
    assert says in str(caught.value)
    assert "\n" not in str(caught.value)


@pytest.mark.slow
def test_a_bad_prices_flag_exits_2_with_one_line(tmp_path: Path) -> None:
    path = tmp_path / "prices.json"
    path.write_text('{"default": {"input": "cheap", "output": 1}}')
    command = [sys.executable, "-m", "slowcheck", "contract", "--prices", str(path), "--report-dir", str(tmp_path)]
    done = subprocess.run(command, capture_output=True, text=True, timeout=60)
    assert done.returncode == 2, done.stderr
    assert done.stderr.count("\n") == 1
    assert "prices" in done.stderr
    assert "Traceback" not in done.stderr


# -- a submission's worst case, and the stop -----------------------------------------------------------------------


def test_a_submissions_worst_case_is_its_body_in_bytes_and_n_times_its_limit() -> None:
    body = {"model": "m", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 8, "n": 3}
    assert worst_case(body, "chat") == (len(json.dumps(body, separators=(",", ":"))), 24)
    assert worst_case({"model": "m", "prompt": "x"}, "text")[1] == 16, "OpenAI's default for a text completion"
    assert worst_case({"model": "m", "input": "x"}, "embedding")[1] == 0


def test_the_limit_refuses_a_submission_that_would_pass_it_and_counts_what_it_kept() -> None:
    spend = Spend(PriceTable({"default": Price(1.0, 1.0)}), limit=0.001)
    held = spend.admit(0.0006)
    spend.answered(held, ["gen-1"])
    with pytest.raises(Exception, match=r"--max-spend 0.001 USD"):
        spend.admit(0.0006)
    spend.settle("gen-1", "m", {"prompt_tokens": 100, "completion_tokens": 50})
    assert spend.admit(0.0006) == 0.0006, "the usage read (150 tokens) freed the worst case it held"
    found = spend.to_json()
    assert (found["stopped"], found["submissions"], found["prompt_tokens"], found["unread"]) == (1, 1, 100, 0)
    assert found["estimate_usd"] == pytest.approx(150e-6)


def test_a_duplicate_ack_counts_as_a_submission_and_its_generation_once() -> None:
    spend = Spend(PriceTable({"default": Price(1.0, 1.0)}))
    for _ in range(2):  # an idempotent resubmission answers the same id
        spend.answered(spend.admit(0.001), ["gen-1"])
    spend.settle("gen-1", "m", {"prompt_tokens": 10, "completion_tokens": 10})
    spend.settle("gen-1", "m", {"prompt_tokens": 10, "completion_tokens": 10})
    assert (spend.submissions, spend.prompt_tokens, spend.to_json()["unread"]) == (2, 10, 0)


# -- the contract's spend ------------------------------------------------------------------------------------------


def test_the_contracts_spend_is_the_usage_the_mock_bills_times_the_table() -> None:
    mock = fast_mock(api_keys=KEYS, credit=100.0, prices=PRICES)
    with in_process(create_app(mock)) as transport:
        judged = run_suite(plan(*READ_TO_THE_END, prices=load_table(PRICES)), transport=transport)
        with httpx.Client(transport=transport, base_url=ROOT) as client:
            billed = client.get("/_mock/stats", headers={"Authorization": f"Bearer {KEYS[0]}"}).json()["credit"]
    assert judged.verdict.status == "pass", judged.verdict.line()
    spend = judged.conditions["spend"]
    assert spend["unread"] == 0
    assert spend["submissions"] > 0
    assert spend["completion_tokens"] > 0
    priced = (spend["prompt_tokens"] * 1.0 + spend["completion_tokens"] * 2.0) * 0.5 / 1e6
    assert spend["estimate_usd"] == pytest.approx(priced, abs=1e-6)
    assert spend["estimate_usd"] == pytest.approx(billed["spent_usd"], abs=1e-6), "what the mock charged the key"
    assert "spent about $" in judged.spent
    assert "(estimate" in judged.spent


def test_max_spend_below_what_the_suite_needs_leaves_rules_not_run_and_the_run_inconclusive(tmp_path: Path) -> None:
    rules = ("ACK-SHAPE", "LIFE-FINISHES", "GROUP-ACK", "GEN-UNKNOWN-404")
    with in_process(create_app(fast_mock(api_keys=KEYS))) as transport:
        judged = run_suite(plan(*rules, max_spend=0.0), transport=transport)
    outcomes = {r.rule.id: r for r in judged.results}
    assert outcomes["GEN-UNKNOWN-404"].outcome is Outcome.HELD, "a rule that submits nothing still runs"
    stopped = [r for r in judged.results if r.outcome is Outcome.NOT_RUN]
    assert {r.rule.id for r in stopped} == {"ACK-SHAPE", "LIFE-FINISHES", "GROUP-ACK"}
    assert all("--max-spend 0 USD" in (r.message or "") for r in stopped)
    assert (judged.verdict.status, judged.verdict.exit_code) == ("inconclusive", 3)
    assert judged.conditions["spend"]["stopped"] >= 3
    assert "--max-spend 0 USD" in judged.spent
    judged.write(tmp_path)
    written = json.loads((tmp_path / "results.json").read_text())
    assert written["spend"]["limit_usd"] == 0.0
    assert written["spend"]["prices"] == BUILT_IN


@pytest.mark.slow
def test_max_spend_on_the_command_line_exits_3_and_shows_the_spend(tmp_path: Path) -> None:
    done = subprocess.run([sys.executable, "-m", "slowcheck", "contract", "--max-spend", "0.002",
                           "--report-dir", str(tmp_path)], capture_output=True, text=True, timeout=300)  # fmt: skip
    assert done.returncode == 3, done.stdout[-2000:] + done.stderr
    assert "spent about $" in done.stdout
    assert "(estimate" in done.stdout
    assert "the spend limit (--max-spend 0.002 USD)" in done.stdout
    written = json.loads((tmp_path / "results.json").read_text())
    assert written["verdict"] == "inconclusive"
    assert written["spend"]["stopped"] > 0
    assert written["spend"]["at_most_usd"] <= 0.002


def test_the_run_page_shows_the_spend_line(tmp_path: Path) -> None:
    from slowcheck.prices import combine
    from slowcheck.run.page import write_page

    contract = Spend(PriceTable({"default": Price(1.0, 1.0)}), limit=1.0)
    contract.answered(contract.admit(0.001), ["gen-1"])
    contract.settle("gen-1", "m", {"prompt_tokens": 1000, "completion_tokens": 1000})
    jobs = contract.to_json() | {"submissions": 3, "prompt_tokens": 10, "unread": 1, "at_most_usd": 0.5}
    (tmp_path / "results.json").write_text(json.dumps({"rules": []}))
    summary = {
        "verdict": "pass", "reasons": [], "target": "http://127.0.0.1/v1", "generated_at": "2026-12-07T06:00:00+00:00",
        "duration_s": 1.0, "contract": {"counts": dict.fromkeys(("held", "violated", "deviation", "skipped", "not run"),
                                                                 0), "rules": 0},
        "load": {}, "sdk": None, "settings": {"load_seconds": 0.0, "thresholds": []}, "slowcheck": "0",
        "spend": combine(contract.to_json(), jobs),
    }  # fmt: skip
    assert summary["spend"] is not None
    assert (summary["spend"]["submissions"], summary["spend"]["prompt_tokens"]) == (4, 1010)
    write_page(tmp_path / "index.html", summary, results_path=tmp_path / "results.json")
    page = (tmp_path / "index.html").read_text()
    assert '<p id="spend">spent about $0.004000 (estimate, built-in estimate): 1010 prompt' in page
    assert "--max-spend 1 USD" in page
