"""The load flags, declared once: both parsers made from `LoadPlan`'s fields, and `run.json` read back whole."""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest

from slowcheck import api
from slowcheck.errors import ConfigError
from slowcheck.load.command import add_arguments
from slowcheck.load.options import FLAGS, LoadPlan, add_flags, read_run, write_run
from slowcheck.load.validation import check
from tests.load.conftest import KEY, REPO, mock


def _cli(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    return parser.parse_args(list(argv))


def _locust_side(scenario: str, *argv: str) -> argparse.Namespace:
    """The flags as a locustfile registers them on locust's parser (an ``ArgumentParser`` too)."""
    parser = argparse.ArgumentParser()
    add_flags(parser, cli=False, scenario=scenario)
    return parser.parse_args(list(argv))


@pytest.mark.parametrize("scenario", ["submit", "rate-limit", "poll", "jobs", "batch"])
def test_neither_parser_has_a_default_of_its_own(scenario: str) -> None:
    """Given nothing, `slowcheck load` and the locustfile both give the plan's defaults."""
    assert LoadPlan.from_options(scenario, _cli(scenario)) == LoadPlan.for_scenario(scenario)
    if scenario != "batch":  # batch runs in the command's process: it has no locustfile
        assert LoadPlan.from_options(scenario, _locust_side(scenario)) == LoadPlan.for_scenario(scenario)


def test_the_scenarios_own_defaults() -> None:
    assert (LoadPlan.for_scenario("poll").rate, LoadPlan.for_scenario("poll").duration) == ("8", 30.0)
    assert LoadPlan.for_scenario("rate-limit").duration == 600.0
    assert LoadPlan.for_scenario("jobs").receiver_port == api.DEFAULT_RECEIVER_PORT


def test_the_locust_side_takes_the_same_flags_as_plain_strings() -> None:
    """Paths arrive as strings (locust sends its options to workers in msgpack) and become paths in the plan."""
    argv = ["--rate", "20@2,5", "--duration", "7", "--threshold", "a.b<1", "--threshold", "c.d<2", "--trace",
            "/t.jsonl", "--resume", "/r", "--pollers", "8", "--run-id", "abc123", "--jobs", "4"]  # fmt: skip
    options = _locust_side("jobs", *argv)
    assert options.trace == "/t.jsonl"
    plan = LoadPlan.from_options("jobs", options)
    assert plan == replace(
        LoadPlan.for_scenario("jobs"), rate="20@2,5", duration=7.0, threshold=("a.b<1", "c.d<2"),
        trace=Path("/t.jsonl"), resume=Path("/r"), pollers=8, run_id="abc123", jobs=4,
    )  # fmt: skip


def test_the_command_alone_takes_what_locust_has_no_use_for() -> None:
    cli = {flag.dest for flag in FLAGS if flag.spec.cli}
    locust = {flag.dest for flag in FLAGS if flag.spec.locust}
    assert cli - locust == {"processes", "repeat", "lines", "batch_base_url", "timeout", "mock_capacity", "mock_limit"}
    assert locust - cli == {"model", "pollers", "run_id"}, "--model is the CLI's target flag, same default"
    with pytest.raises(SystemExit):
        _locust_side("submit", "--processes", "2")  # locust's own --processes must not be shadowed


def test_a_misspelled_option_is_an_error_not_a_silent_default() -> None:
    assert replace(LoadPlan.for_scenario("submit"), duration=3.0).duration == 3.0
    with pytest.raises(TypeError, match="durration"):
        replace(LoadPlan.for_scenario("submit"), durration=3.0)  # type: ignore[call-arg]
    with pytest.raises(ValueError, match="durration"):
        LoadPlan.from_json({"scenario": "submit", "durration": 3.0})


def test_a_tier_brings_the_gateway_unless_one_is_given() -> None:
    submit = LoadPlan.for_scenario("submit")
    assert submit.gateway_rps is None
    assert replace(submit, rate_limit="paid").gateway_rps == api.GATEWAY_RPS
    assert replace(submit, rate_limit="paid", gateway_rps=5.0).gateway_rps == 5.0


def test_the_help_shows_each_default_once_per_parser() -> None:
    (rate,) = [flag for flag in FLAGS if flag.dest == "rate"]
    assert rate.text().endswith("(default: submit 50, rate-limit 50, poll 8, jobs 10)")
    assert rate.text("jobs").endswith("(default: 10)")
    (warmup,) = [flag for flag in FLAGS if flag.dest == "warmup"]
    assert warmup.text().endswith("(default: 0)")
    (jobs,) = [flag for flag in FLAGS if flag.dest == "jobs"]
    assert "default" not in jobs.text()


def test_run_json_holds_the_whole_plan(tmp_path: Path) -> None:
    plan = replace(
        LoadPlan.for_scenario("jobs"), rate="20", slo=("e2e_s<=5",), input=tmp_path / "in.jsonl", rate_limit="free",
        resume=tmp_path, run_id="0a1b2c",
    )  # fmt: skip
    path = write_run(tmp_path, plan, "https://api.example/v1")
    assert json.loads(path.read_text())["options"]["rate"] == "20"
    assert read_run(path) == (plan, "https://api.example/v1")
    write_run(tmp_path, plan, None)
    assert read_run(path) == (plan, None), "the embedded mock: no URL to come back to"


def test_a_run_json_written_before_the_plan_named_its_scenario_is_a_jobs_run(tmp_path: Path) -> None:
    options = {"rate": "10", "duration": 1.0, "model": "m", "jobs": None, "trace": None, "input": None,
               "slo": [], "threshold": [], "run_id": "abcdef", "gateway_rps": None, "rate_limit": None}  # fmt: skip
    (tmp_path / "run.json").write_text(json.dumps({"options": options, "base_url": "http://127.0.0.1:9"}))
    plan, url = read_run(tmp_path / "run.json")
    assert (plan.scenario, plan.rate, plan.run_id, plan.slo, url) == ("jobs", "10", "abcdef", (), "http://127.0.0.1:9")


def test_a_plan_is_checked_once_and_says_what_it_spans(tmp_path: Path) -> None:
    assert check(LoadPlan.for_scenario("submit")).span == 30.0
    trace = tmp_path / "trace.jsonl"
    trace.write_text("0\n1.5\n4\n")
    assert check(replace(LoadPlan.for_scenario("jobs"), trace=trace)).span == 4.0
    with pytest.raises(ConfigError, match="--drain: expected seconds >= 0"):
        check(replace(LoadPlan.for_scenario("poll"), drain=-1.0))
    with pytest.raises(ConfigError, match="--lines: expected 1 or more"):
        check(replace(LoadPlan.for_scenario("batch"), lines=0))


@pytest.mark.slow
def test_locust_by_hand_reads_a_plan_file_with_plain_flags_over_it(tmp_path: Path) -> None:
    """What `slowcheck load` hands locust (`--plan run.json`), and a person's own flag over it."""
    plan = replace(LoadPlan.for_scenario("submit"), rate="15", duration=30.0, threshold=("submit.errors==0",))
    plan_file = write_run(tmp_path / "plans", plan, None)
    with mock() as target:
        done = subprocess.run(
            [sys.executable, "-m", "locust", "-f", str(REPO / "load" / "submit.py"), "--headless", "-u", "1",
             "--host", target.url, "--run-time", "60s", "--plan", str(plan_file), "--duration", "2",
             "--report-dir", str(tmp_path / "report")],
            capture_output=True, text=True, timeout=120, check=False, cwd=REPO, env={"SLOWCHECK_API_KEY": KEY,
            "PATH": "/usr/bin:/bin"},
        )  # fmt: skip
        accepted = target.stats()["totals"]["submissions"]
    assert done.returncode == 0, done.stderr[-2000:]
    summary = json.loads((tmp_path / "report" / "summary.json").read_text())
    assert (summary["settings"]["rate"], summary["settings"]["duration_s"]) == ("15", 2.0)
    assert summary["submit"]["ok"] == accepted == 30, "15 a second, for the 2 s given over the plan's 30"
    assert summary["thresholds"] == [{"expr": "submit.errors==0", "value": 0, "passed": True}]


@pytest.mark.slow
def test_locust_by_hand_refuses_a_plan_of_another_scenario(tmp_path: Path) -> None:
    plan_file = write_run(tmp_path, LoadPlan.for_scenario("poll"), None)
    done = subprocess.run(
        [sys.executable, "-m", "locust", "-f", str(REPO / "load" / "submit.py"), "--headless", "-u", "1",
         "--host", "http://127.0.0.1:9", "--plan", str(plan_file)],
        capture_output=True, text=True, timeout=120, check=False, cwd=REPO,
    )  # fmt: skip
    assert done.returncode == 2
    assert "a plan of the poll scenario, not submit" in done.stderr
