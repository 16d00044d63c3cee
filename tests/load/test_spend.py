"""What a jobs run cost (``slowcheck.load.spend``): the journal's usage priced by the table, and ``--max-spend``,
which keeps arrivals from being sent and breaches the run's ``spend.stopped==0`` threshold."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest

from slowcheck.errors import ConfigError
from slowcheck.load import report, spend
from slowcheck.load.options import LoadPlan
from slowcheck.load.validation import check
from tests.load.conftest import KEY, mock, slowcheck

PRICES = {"default": {"input": 1.0, "output": 2.0}, "async_discount": 0.5}


def _journal(folder: Path, rows: list[list[object]]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "journal-0.jsonl").write_text("".join(json.dumps(row) + "\n" for row in rows))


def test_the_spend_is_the_journals_usage_priced_and_the_open_jobs_worst_case(tmp_path: Path) -> None:
    prices = tmp_path / "prices.json"
    prices.write_text(json.dumps(PRICES))
    _journal(tmp_path, [
        ["sent", 0, 0.0, 0.0, 0.1, 200, "gen-0", 0.1, "chat", 0, 0.01],
        ["sent", 1, 0.5, 0.5, 0.6, 200, "gen-1", 0.6, "chat", 0, 0.02],
        ["sent", 2, 1.0, 1.0, 1.1, 429, None, None, "chat", 0, 0.04],
        ["over", 3, 1.5],
        ["done", 0, "gen-0", 2.0, "Success", 1.0, 1.5, 300, 2, [], None, 100, "m"],
    ])  # fmt: skip
    found = spend.figures(tmp_path, prices, 0.05)
    usage = (100 * 1.0 + 300 * 2.0) * 0.5 / 1e6
    assert found["estimate_usd"] == pytest.approx(usage)
    assert found["at_most_usd"] == pytest.approx(usage + 0.02), "gen-1 is still open at its worst case"
    assert (found["submissions"], found["unread"], found["stopped"]) == (2, 1, 1), "a 429 is not a submission"
    assert (found["prompt_tokens"], found["completion_tokens"], found["prices"]) == (100, 300, str(prices))


def test_max_spend_adds_the_threshold_a_jobs_run_breaches_when_it_stops() -> None:
    exprs = [t.expr for t in report.thresholds([], "jobs", [], max_spend=1.0)]
    assert spend.SPEND_THRESHOLD in exprs
    assert spend.SPEND_THRESHOLD not in [t.expr for t in report.thresholds([], "jobs", [])]


@pytest.mark.parametrize(
    ("change", "says"),
    [
        pytest.param({"max_spend": -1.0}, "--max-spend: expected USD >= 0", id="negative"),
        pytest.param({"prices": Path("/nonexistent/prices.toml")}, "cannot read prices", id="missing"),
    ],
)
def test_a_bad_spend_flag_is_refused_before_the_run(change: dict[str, object], says: str) -> None:
    with pytest.raises(ConfigError, match=None) as caught:
        check(replace(LoadPlan.for_scenario("jobs"), **change))  # type: ignore[arg-type]
    assert says in str(caught.value)


@pytest.mark.slow
def test_a_jobs_runs_spend_is_what_the_mock_billed(tmp_path: Path, report_dir: Path) -> None:
    prices = tmp_path / "prices.json"
    prices.write_text(json.dumps(PRICES))
    with mock(credit=100.0, prices=PRICES) as target:
        run = slowcheck(report_dir, "load", "jobs", "--base-url", target.url, "--api-key", KEY, "--rate", "20",
                        "--duration", "2", "--mix", "chat=3,text=1", "--drain", "30",
                        "--prices", str(prices))  # fmt: skip
        billed = target.stats()["credit"]
    assert run.code == 0, run.err + run.out
    found = run.summary["spend"]
    assert found["unread"] == 0
    assert found["submissions"] == run.summary["jobs"]["accepted"] > 0
    assert found["estimate_usd"] == pytest.approx(billed["spent_usd"], abs=2e-6), "the mock's own bill"
    assert "spent about $" in run.out
    assert '<p id="spend">spent about $' in (report_dir / "index.html").read_text()


@pytest.mark.slow
def test_max_spend_stops_a_jobs_run_with_a_threshold_breach(report_dir: Path) -> None:
    with mock() as target:
        run = slowcheck(report_dir, "load", "jobs", "--base-url", target.url, "--api-key", KEY, "--rate", "20",
                        "--duration", "2", "--drain", "30", "--max-spend", "0.00002")  # fmt: skip
        accepted = target.stats()["totals"]["submissions"]
    assert run.code == 1, run.err + run.out
    found = run.summary["spend"]
    assert found["stopped"] > 0
    assert found["submissions"] == accepted < 40, "fewer jobs reached the API than the 40 planned"
    assert found["at_most_usd"] <= 0.00002
    breached = [t for t in run.summary["thresholds"] if not t["passed"]]
    assert [t["expr"] for t in breached] == [spend.SPEND_THRESHOLD]
    assert "threshold spend.stopped==0: BREACHED" in run.out
