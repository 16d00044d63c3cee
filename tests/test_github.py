"""GitHub Actions: with GITHUB_ACTIONS=true (or --github) a judging command appends a summary to
$GITHUB_STEP_SUMMARY and prints one workflow command per finding; elsewhere it does neither."""

from __future__ import annotations

import argparse
import io
import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from slowcheck.background import serve_in_background
from slowcheck.cli import main
from slowcheck.github import escape_data, escape_property, publish, summary, workflow_command, workflow_commands
from slowcheck.mock import create_app
from slowcheck.mock.app import DEFAULT_MODELS
from slowcheck.mock.server import mock_in_background
from slowcheck.verdict import Verdict
from tests.conftest import fast_mock
from tests.contract.broken import Broken, Exchange
from tests.proxy.test_command import REPO, _free_port, _until_listening
from tests.proxy.test_proxy import KEY as PROXY_KEY, MODEL

KEY = "sk-github-summary-7777"


@pytest.fixture
def on_github(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A runner's environment: GITHUB_ACTIONS=true and the step summary in a file of the test's own."""
    step_summary = tmp_path / "step-summary.md"
    monkeypatch.setenv("GITHUB_ACTIONS", "true")
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(step_summary))
    return step_summary


@pytest.fixture
def off_github(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("GITHUB_ACTIONS", raising=False)
    monkeypatch.delenv("GITHUB_STEP_SUMMARY", raising=False)


def _created_in_seconds(e: Exchange) -> tuple[int, Any] | None:
    """The one broken promise: a single submission's ack says ``created`` in seconds, not milliseconds."""
    ack = e.method == "POST" and e.status == 200 and e.path.startswith("/v1/slow/") and "/group/" not in e.path
    return (200, e.body | {"created": e.body["created"] // 1000}) if ack else None


@pytest.fixture
def broken_target() -> Iterator[str]:
    app = create_app(fast_mock(api_keys=[KEY], models=list(DEFAULT_MODELS)))
    with serve_in_background(Broken(app, _created_in_seconds)) as url:
        yield url + "/v1"


def _contract(url: str, report_dir: Path, *extra: str) -> int:
    return main(["contract", "--base-url", url, "--api-key", KEY, "--report-dir", str(report_dir),
                 "--completion-timeout", "0", *extra])  # fmt: skip


# Escaping, as GitHub's toolkit does it (@actions/core command.ts: escapeData, escapeProperty)


@pytest.mark.parametrize(
    ("text", "escaped"),
    [
        pytest.param("100% done", "100%25 done", id="percent"),
        pytest.param("one\ntwo\r\nthree", "one%0Atwo%0D%0Athree", id="newlines"),
        pytest.param("%0A", "%250A", id="an-escape-is-not-read-twice"),
        pytest.param("a: b, c", "a: b, c", id="colon-and-comma-kept-in-data"),
    ],
)
def test_a_message_is_escaped_as_github_reads_it(text: str, escaped: str) -> None:
    assert escape_data(text) == escaped


def test_a_property_also_escapes_colon_and_comma() -> None:
    assert escape_property("ACK: x,y%\n") == "ACK%3A x%2Cy%25%0A"


def test_a_long_message_is_cut_to_one_readable_annotation() -> None:
    line = workflow_command("warning", "ROBUST-LARGE", "%" * 5000)
    assert len(line) < 2000 * 3 + 40
    assert line.endswith("%25…")


def test_a_message_cannot_start_a_command_of_its_own() -> None:
    line = workflow_command("error", "ACK-SHAPE", "bad body\n::add-mask::x\r\n::set-env name=A::1")
    assert line == "::error title=ACK-SHAPE::bad body%0A::add-mask::x%0D%0A::set-env name=A::1"
    assert line.count("\n") == 0


# The contract against a target with one broken promise


@pytest.mark.slow
def test_a_violation_is_summarised_and_annotated_and_exits_1(
    broken_target: str, on_github: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # When
    code = _contract(broken_target, tmp_path / "report")
    out = capsys.readouterr().out
    # Then
    assert code == 1, out
    errors = [line for line in out.splitlines() if line.startswith("::error ")]
    assert any(line.startswith("::error title=ACK-CREATED-MS::") for line in errors), out
    results = json.loads((tmp_path / "report" / "results.json").read_text())
    violated = {r["id"] for r in results["rules"] if r["outcome"] == "violated"}
    deviations = {r["id"] for r in results["rules"] if r["outcome"] == "deviation"}
    assert {line.split("::")[1].removeprefix("error title=") for line in errors} == violated
    assert len([line for line in out.splitlines() if line.startswith("::warning ")]) == len(deviations)
    written = on_github.read_text()
    assert written.startswith("### slowcheck contract: FAIL")
    assert "**ACK-CREATED-MS**" in written.split("**Violated**")[1]
    reproduced = written.split("**ACK-CREATED-MS**")[1].split("\n- **")[0]
    assert "  ```sh\n  curl -sS -i -X POST " in reproduced, "the finding's request, to send again"
    assert '"Authorization: Bearer $SLOWCHECK_API_KEY"' in reproduced
    assert "correlation id `sc-" in reproduced
    assert f"{results['counts']['violated']} violated" in written
    assert KEY not in out + written


@pytest.mark.slow
def test_with_github_flag_and_no_summary_file_the_annotations_are_still_printed(
    broken_target: str, off_github: None, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = _contract(broken_target, tmp_path / "report", "--github")
    out = capsys.readouterr().out
    assert code == 1
    assert "::error title=ACK-CREATED-MS::" in out
    assert not list(tmp_path.glob("*.md"))


@pytest.mark.slow
def test_off_github_nothing_is_written_or_printed(
    broken_target: str, off_github: None, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: Any
) -> None:
    step_summary = tmp_path / "step-summary.md"
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(step_summary))  # without GITHUB_ACTIONS=true, left alone
    code = _contract(broken_target, tmp_path / "report")
    out = capsys.readouterr().out
    assert code == 1
    assert "VIOLATED  ACK-CREATED-MS" in out, "the run itself is the same"
    assert not [line for line in out.splitlines() if line.startswith("::")]
    assert not step_summary.exists()


# Load: the figures against the thresholds


@pytest.mark.slow
def test_a_load_runs_summary_has_its_thresholds(
    on_github: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["load", "submit", "--rate", "10", "--duration", "1", "--report-dir", str(tmp_path / "load"),
                 "--threshold", "submit.errors==0", "--threshold", "submit.latency_ms.p95<0.001"])  # fmt: skip
    out = capsys.readouterr().out
    assert code == 1, out
    written = on_github.read_text()
    assert written.startswith("### slowcheck load submit: FAIL")
    assert "| `submit.errors==0` | 0 | holds |" in written
    assert "| `submit.latency_ms.p95<0.001` |" in written
    assert "**BREACHED**" in written
    assert "::error title=load submit threshold::submit.latency_ms.p95<0.001 breached (measured " in out


# The summary built from a report folder: the baseline, reproductions, slowcheck run's parts, the SDK matrix


def _rule(rule_id: str, outcome: str, message: str, **extra: Any) -> dict[str, Any]:
    return {"id": rule_id, "title": f"the {rule_id} rule", "outcome": outcome, "message": message} | extra


def _write(folder: Path, name: str, document: dict[str, Any]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / name).write_text(json.dumps(document), encoding="utf-8")


@pytest.fixture
def judged_folder(tmp_path: Path) -> Path:
    curl = 'curl -sS https://api.example/v1/slow/chat/completions -H "Authorization: Bearer $SLOWCHECK_API_KEY"'
    rules = [
        _rule("ACK-CREATED-MS", "violated", "created 1700000000 is in seconds", findings=[{"curl": curl}]),
        _rule("REQ-PARAM-NAMED", "deviation", "param 'messages' for messages[0].role"),
        _rule("AUTH-ISOLATION", "skipped", "no --second-api-key"),
        _rule("LIFE-FINISHES", "not run", "the budget was spent"),
        _rule(
            "ACK-SHAPE",
            "violated",
            "known <b>bug</b>",
            baseline={"status": "accepted", "reason": "ticket 12", "expires": "2027-01-01"},
        ),  # fmt: skip
        _rule(
            "RESP-CONTENT-TYPE",
            "violated",
            "text/plain for JSON",
            baseline={"status": "expired", "reason": "was ticket 9", "expires": "2026-01-01"},
        ),  # fmt: skip
    ]
    counts = {"held": 0, "violated": 3, "deviation": 1, "skipped": 1, "not run": 1}
    spend = {"estimate_usd": 0.0123, "at_most_usd": 0.02, "prompt_tokens": 1200, "completion_tokens": 3400,
             "submissions": 41, "unread": 2, "limit_usd": None, "stopped": 0, "prices": "built-in"}  # fmt: skip
    fixed = {"fixed": [{"rule": "GEN-UNKNOWN-404"}]}
    document = {"target": "https://api.example", "counts": counts, "rules": rules, "baseline": fixed, "spend": spend}
    _write(tmp_path, "results.json", document)
    return tmp_path


def test_the_summary_names_each_violation_with_its_curl_and_folds_the_deviations(judged_folder: Path) -> None:
    text = summary(judged_folder, "contract", Verdict("fail", ("2 violated",)))
    violated = text.split("**Violated**")[1].split("<details>")[0]
    assert "- **ACK-CREATED-MS**: created 1700000000 is in seconds (_the ACK-CREATED-MS rule_)" in violated
    assert "```sh\n  curl -sS https://api.example/v1/slow/chat/completions" in violated
    assert "$SLOWCHECK_API_KEY" in violated
    assert "<details><summary>1 deviation</summary>" in text
    assert "- **REQ-PARAM-NAMED** param 'messages' for messages[0].role" in text.split("1 deviation<")[1]
    assert "- **LIFE-FINISHES** the budget was spent" in text.split("**Not run**")[1]
    assert "0 held · 3 violated · 1 deviation · 1 skipped · 1 not run against https://api.example" in text
    assert "\nSpend: spent about $0.0123 (estimate, " in text
    assert "1200 prompt + 3400 completion tokens over 41 submission(s); at most $0.0200 with the 2" in text
    assert "AUTH-ISOLATION" not in text


def test_the_baseline_accepts_as_a_notice_and_an_expired_entry_fails_again(judged_folder: Path) -> None:
    lines = workflow_commands(judged_folder)
    assert "::notice title=ACK-SHAPE::accepted by the baseline (ticket 12): known <b>bug</b>" in lines
    assert "::error title=RESP-CONTENT-TYPE::baseline entry expired 2026-01-01: text/plain for JSON" in lines
    assert not any(line.startswith("::error title=ACK-SHAPE") for line in lines)
    text = summary(judged_folder, "contract", Verdict("fail"))
    violated = text.split("**Violated**")[1].split("<details>")[0]
    assert "**RESP-CONTENT-TYPE** (baseline entry expired 2026-01-01): text/plain for JSON" in violated
    assert "ACK-SHAPE**" not in violated
    accepted = text.split("1 accepted by the baseline")[1]
    assert "**ACK-SHAPE** accepted: ticket 12 (until 2027-01-01); violated: known &lt;b&gt;bug&lt;/b&gt;" in accepted
    assert "**Fixed** (in the baseline, no longer found): GEN-UNKNOWN-404" in text


def test_a_lifecycle_findings_reproduction_gives_its_first_command_and_correlation_id(tmp_path: Path) -> None:
    """As ``reproduce.py`` writes it: the commands under ``reproduction``, the submission's correlation id."""
    steps = [{"curl": f"curl -sS -i -X GET https://api.example/v1/generation/{n}"} for n in range(4)]
    submit = (
        "curl -sS -i -X POST https://api.example/v1/slow/chat/completions -H 'Authorization: Bearer $SLOWCHECK_API_KEY'"
    )
    replay = {"correlation_id": "sc-1a2b-7", "curl": submit, "lifecycle": True, "exchanges": [{"curl": submit}, *steps]}
    findings = [{"message": "no request shown"}, {"message": "went back", "reproduction": replay}]
    rules = [_rule("LIFE-FORWARD", "violated", "Success then In Progress", findings=findings)]
    _write(tmp_path, "results.json", {"counts": {"violated": 1}, "rules": rules})
    text = summary(tmp_path, "contract", Verdict("fail"))
    assert "\n\n  correlation id `sc-1a2b-7`; the submission, then 4 more exchanges in results.json\n" in text
    assert f"  ```sh\n  {submit}\n  ```" in text


def test_a_command_too_long_to_show_is_named_not_cut(tmp_path: Path) -> None:
    long = "curl -sS --data-binary '" + "x" * 10_000 + "' https://api.example/v1/slow/completions"
    rules = [_rule("ROBUST-LARGE", "violated", "500 on a large body", findings=[{"curl": long}])]
    _write(tmp_path, "results.json", {"counts": {"violated": 1}, "rules": rules})
    text = summary(tmp_path, "contract", Verdict("fail"))
    assert "its command is 10,065 characters long: in results.json" in text
    assert "```" not in text


def test_a_curl_with_backticks_gets_a_longer_fence(tmp_path: Path) -> None:
    rules = [_rule("REQ-X", "violated", "m", findings=[{"curl": "curl -d '```'"}])]
    _write(tmp_path, "results.json", {"counts": {"violated": 1}, "rules": rules})
    assert "  ````sh\n  curl -d '```'\n  ````" in summary(tmp_path, "contract", Verdict("fail"))


def test_slowcheck_runs_summary_has_its_load_phases_and_failing_sdk_cells(tmp_path: Path) -> None:
    phase = {"submit": {"count": 20, "ok": 20, "rate_limited": 0, "errors": 0, "throughput_per_s": 9.8,
                        "latency_ms": {"p50": 3, "p95": 9, "p99": 12}},
             "thresholds": [{"expr": "submit.errors==0", "value": 0, "passed": True}]}  # fmt: skip
    e2e = {"e2e": {"p50": 1.5, "p99": 3}}
    jobs = {"jobs": {"accepted": 5, "completed": 4, "failed": 0, "expired": 0, "open": 1, "latency_s": e2e}}
    phases = {"submit": phase, "poll": phase | {"thresholds": []}, "jobs": jobs}
    _write(tmp_path, "summary.json", {"verdict": "fail", "load": phases})
    cells = {
        "retries-429": {"outcome": "violated", "detail": "no retry after a 429"},
        "create": {"outcome": "held", "detail": ""},
        "timeout": {"outcome": "not run", "detail": "no node"},
        "streaming": {"outcome": "deviation", "detail": "no [DONE]"},
    }
    _write(tmp_path, "sdk-matrix.json", {"counts": {"held": 1, "violated": 1, "deviation": 1, "not run": 1}, "rows": [
        {"language": "python", "version": "1.40.0", "requested": "1.40", "cells": cells}]})  # fmt: skip
    text = summary(tmp_path, "run", Verdict("fail", ("sdk: the API fails checks it answers for",)))
    assert "**Load: submit**" in text
    assert "- submit: 20 sent, 20 accepted, 0 429, 0 errors; 9.8/s; ack p50 3 ms, p95 9 ms, p99 12 ms\n" in text
    assert "| `submit.errors==0` | 0 | holds |" in text
    assert "No thresholds set" in text.split("**Load: poll**")[1]
    assert "- **retries-429** python 1.40.0: no retry after a 429" in text
    assert "<details><summary>1 cell not run</summary>" in text
    assert "- **streaming** python 1.40.0: no [DONE]" in text.split("1 SDK hazard (deviations")[1]
    assert "- jobs: 5 accepted, 4 completed, 0 failed, 0 expired, 1 still open; e2e p50 1.5 s, p99 3 s" in text
    commands = workflow_commands(tmp_path)
    assert "::error title=retries-429::python 1.40.0: no retry after a 429" in commands
    assert "::warning title=streaming::python 1.40.0: no [DONE]" in commands


def test_a_long_list_is_cut_and_says_how_many_more(tmp_path: Path) -> None:
    rules = [_rule(f"REQ-{n:03}", "violated", "x" * 1000) for n in range(60)]
    _write(tmp_path, "results.json", {"counts": {"violated": 60}, "rules": rules})
    text = summary(tmp_path, "contract", Verdict("fail"))
    assert "**REQ-049**" in text
    assert "**REQ-050**" not in text
    assert "- and 10 more (the report lists every one)" in text
    assert "x" * 300 not in text
    assert len(workflow_commands(tmp_path)) == 60, "every finding is annotated"


def test_publish_does_nothing_off_github(judged_folder: Path, off_github: None) -> None:
    out = io.StringIO()
    publish(argparse.Namespace(github=False), judged_folder, "contract", Verdict("fail"), out=out)
    assert out.getvalue() == ""


def test_publish_without_a_summary_file_only_prints(judged_folder: Path, on_github: Path, monkeypatch: Any) -> None:
    monkeypatch.delenv("GITHUB_STEP_SUMMARY")
    out = io.StringIO()
    publish(argparse.Namespace(), judged_folder, "contract", Verdict("fail"), out=out)
    assert "::error title=ACK-CREATED-MS::created 1700000000 is in seconds" in out.getvalue()
    assert not on_github.exists()


def test_a_summary_that_cannot_be_written_leaves_the_verdict_alone(
    judged_folder: Path, on_github: Path, monkeypatch: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(judged_folder / "no" / "such" / "folder.md"))
    publish(argparse.Namespace(), judged_folder, "contract", Verdict("fail"), out=io.StringIO())
    assert "the step summary could not be written" in capsys.readouterr().err


# With a baseline (``--baseline``): accepted findings are notices, an expired entry an error again


@pytest.mark.slow
def test_a_baselined_finding_is_a_notice_and_an_expired_one_an_error_again(
    broken_target: str, on_github: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    baseline = tmp_path / "baseline.json"
    assert _contract(broken_target, tmp_path / "first", "--baseline", str(baseline), "--update-baseline") == 1
    capsys.readouterr()
    on_github.unlink()
    # When: every finding is accepted
    code = _contract(broken_target, tmp_path / "accepted", "--baseline", str(baseline))
    out = capsys.readouterr().out
    # Then
    assert code == 0, out
    assert not [line for line in out.splitlines() if line.startswith("::error")], out
    assert "::notice title=ACK-CREATED-MS::accepted by the baseline (TODO): created=" in out
    written = on_github.read_text()
    assert written.startswith("### slowcheck contract: PASS")
    assert "**ACK-CREATED-MS** accepted: TODO (until " in written.split("accepted by the baseline</summary>")[1]
    # When: the entries have expired
    entries = json.loads(baseline.read_text())
    for entry in entries["accepted"]:
        entry["expires"] = "2020-01-01"
    baseline.write_text(json.dumps(entries), encoding="utf-8")
    code = _contract(broken_target, tmp_path / "expired", "--baseline", str(baseline))
    out = capsys.readouterr().out
    # Then
    assert code == 1, out
    assert "::error title=ACK-CREATED-MS::baseline entry expired 2020-01-01: created=" in out
    expired = on_github.read_text().split("### slowcheck contract: FAIL")[1]
    assert "- **ACK-CREATED-MS** (baseline entry expired 2020-01-01): created=" in expired


# The proxy: its checks' findings, annotated and summarised like the contract's rules


@pytest.mark.slow
def test_the_proxys_findings_are_annotated_and_summarised(on_github: Path, tmp_path: Path) -> None:
    port = _free_port()
    with mock_in_background(fast_mock(port=0, api_keys=[PROXY_KEY], models=[MODEL])) as url:
        process = subprocess.Popen(
            [sys.executable, "-m", "slowcheck", "proxy", "--upstream", url + "/v1", "--port", str(port),
             "--report-dir", str(tmp_path / "report")],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=REPO, env=os.environ.copy(),
        )  # fmt: skip
        try:
            _until_listening(port, process)
            with httpx.Client(base_url=f"http://127.0.0.1:{port}/v1") as client:
                body = {"model": MODEL, "messages": [{"role": "user", "content": "hi"}], "stream": True}
                client.post("/slow/chat/completions", json=body, headers={"Authorization": f"Bearer {PROXY_KEY}"})
            process.send_signal(signal.SIGINT)
            out, err = process.communicate(timeout=30)
        finally:
            if process.poll() is None:
                process.kill()
    assert process.returncode == 1, out + err
    assert "::error title=CLIENT-NO-STREAM::" in out
    written = on_github.read_text()
    assert written.startswith("### slowcheck proxy: FAIL")
    assert "- **CLIENT-NO-STREAM**: " in written
    assert PROXY_KEY not in out + written
