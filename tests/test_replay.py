"""A finding's reproduction against a broken target: its curl gets the answer it recorded, ``slowcheck replay``
says it still occurs there and no longer occurs against a fixed target, and every submission carries its
correlation id."""

from __future__ import annotations

import contextlib
import hashlib
import html
import json
import os
import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from slowcheck import reproduce
from slowcheck.background import serve_in_background
from slowcheck.checks import records
from slowcheck.cli import main
from slowcheck.contract import lifecycle
from slowcheck.contract.probes import Probe
from slowcheck.contract.rules import RULES
from slowcheck.contract.runner import Suite
from slowcheck.contract.target import Exchange as TargetExchange, Target
from slowcheck.mock import Span, create_app
from slowcheck.mock.app import DEFAULT_MODELS
from slowcheck.run.page import write_page
from tests.conftest import fast_mock
from tests.contract.broken import Broken, Exchange

KEYS = ["sk-replay-one-1111", "sk-replay-two-2222"]
SINGLE, LIFECYCLE = "REQ-STREAM-REFUSED", "LIFE-USAGE-SUM"
CORRELATION = re.compile(r"sc-([0-9a-f]{6})-(\d+)")
_FAKE_ACK = {"id": "x", "object": "chat.completion", "created": 1, "model": "m", "choices": []}


def _break(e: Exchange) -> Any:
    """Two broken promises: ``stream: true`` acknowledged, and a Success whose usage does not add up."""
    if e.status == 400 and isinstance(e.request, dict) and e.request.get("stream") is True:
        return 200, _FAKE_ACK
    body = e.body if isinstance(e.body, dict) else {}
    usage = (body.get("response") or {}).get("usage") if body.get("state") == "Success" else None
    if e.method == "GET" and isinstance(usage, dict):
        changed = json.loads(json.dumps(body))
        changed["response"]["usage"]["total_tokens"] += 1
        return 200, changed
    return None


def _app() -> Any:
    return create_app(fast_mock(api_keys=KEYS, models=list(DEFAULT_MODELS)))


@pytest.fixture
def broken(tmp_path: Path) -> Iterator[tuple[str, Path, list[tuple[str, Exchange]]]]:
    """A broken target served on a socket, and the report of the two rules it breaks."""
    log: list[tuple[str, Exchange]] = []
    with serve_in_background(Broken(_app(), _break, log=log)) as url:
        target = Target(url + "/v1", KEYS[0], second_api_key=KEYS[1], completion_timeout=5)
        with contextlib.closing(target):
            judgement = Suite(target, [RULES[SINGLE], RULES[LIFECYCLE]]).judge()
        judgement.write(tmp_path / "report")
        yield url, tmp_path / "report", log


def _finding(report: Path, rule_id: str) -> dict[str, Any]:
    rules = {r["id"]: r for r in json.loads((report / "results.json").read_text())["rules"]}
    assert rules[rule_id]["outcome"] == "violated"
    finding: dict[str, Any] = rules[rule_id]["findings"][0]
    return finding


def _curl(command: str) -> tuple[int, str]:
    """A rendered command run by bash with the key in the environment: the answer's status and body."""
    curl = shutil.which("curl")
    assert curl is not None, "curl is on this machine: the reproduction is tested through it"
    env = {"PATH": os.environ["PATH"], "SLOWCHECK_API_KEY": KEYS[0]}
    out = subprocess.run(["bash", "-c", command], capture_output=True, env=env, timeout=30, check=True)
    head, _, body = out.stdout.partition(b"\r\n\r\n")
    return int(head.split()[1]), body.decode("utf-8")


@pytest.mark.slow
def test_a_findings_curl_run_through_curl_gets_the_answer_the_finding_recorded(broken: Any) -> None:
    url, report, _ = broken
    finding = _finding(report, SINGLE)
    command = finding["reproduction"]["curl"]
    assert command.startswith("curl ")
    assert '"Authorization: Bearer $SLOWCHECK_API_KEY"' in command

    # When
    status, body = _curl(command)

    # Then
    assert status == finding["response"]["status"] == 200
    assert json.loads(body) == finding["response"]["body"] == _FAKE_ACK


@pytest.mark.slow
def test_a_lifecycle_findings_sequence_is_the_submit_then_each_poll_and_its_curls_answer_the_same(
    broken: Any,
) -> None:
    _, report, _ = broken
    reproduction = _finding(report, LIFECYCLE)["reproduction"]
    exchanges = reproduction["exchanges"]
    assert reproduction["lifecycle"] is True
    assert [e["request"]["method"] for e in exchanges] == ["POST"] + ["GET"] * (len(exchanges) - 1)
    assert exchanges[-1]["state"] == "Success"
    assert all(len(e["sha256"]) == 64 for e in exchanges)

    # When: the submit sent again, and the last poll (the recorded generation, read again)
    submitted, ack = _curl(exchanges[0]["curl"])
    status, record = _curl(exchanges[-1]["curl"])

    # Then
    assert submitted == 200
    assert isinstance(json.loads(ack)["id"], str)
    assert status == 200
    assert json.loads(record)["state"] == "Success"
    assert hashlib.sha256(record.encode()).hexdigest() == exchanges[-1]["sha256"]  # the very record it read
    usage = json.loads(record)["response"]["usage"]
    assert usage["total_tokens"] == usage["prompt_tokens"] + usage["completion_tokens"] + 1  # still broken


@pytest.mark.slow
@pytest.mark.parametrize("rule_id", [pytest.param(SINGLE, id="one-exchange"), pytest.param(LIFECYCLE, id="lifecycle")])
def test_replay_says_a_finding_still_occurs_on_the_broken_target_and_no_longer_on_a_fixed_one(
    broken: Any, rule_id: str, capsys: pytest.CaptureFixture[str]
) -> None:
    url, report, _ = broken
    # When: replayed where it was recorded, then against a fixed deployment
    still = main(["replay", str(report), rule_id, "--api-key", KEYS[0], "--completion-timeout", "5"])
    said_still = capsys.readouterr().out
    with serve_in_background(_app()) as fixed:
        gone = main(["replay", str(report), rule_id, "--base-url", fixed + "/v1", "--api-key", KEYS[0]])
    said_gone = capsys.readouterr().out

    # Then
    assert (still, gone) == (1, 0), said_still + said_gone
    assert f"{rule_id} still occurs" in said_still
    assert f"{rule_id} no longer occurs" in said_gone
    assert KEYS[0] not in said_still + said_gone


@pytest.mark.slow
def test_every_submission_carries_a_correlation_id_of_the_run_and_the_finding_names_its_own(broken: Any) -> None:
    _, report, log = broken
    submitted = [e for _, e in log if e.method == "POST" and isinstance(e.request, dict)]
    ids = [str((e.request.get("metadata") or {}).get("slowcheck")) for e in submitted]
    matched = [CORRELATION.fullmatch(i) for i in ids]

    # Then: each one sc-<run>-<n>, one run, no number twice
    assert submitted
    assert all(matched), ids
    assert len({m.group(1) for m in matched if m}) == 1
    assert len({m.group(2) for m in matched if m}) == len(ids)
    for rule_id in (SINGLE, LIFECYCLE):
        finding = _finding(report, rule_id)
        sent = json.loads(finding["reproduction"]["exchanges"][0]["request"]["body"])
        assert finding["correlation_id"] == sent["metadata"]["slowcheck"] in ids
    probe = next(e for e in submitted if "custom_id" in (e.request.get("metadata") or {}))
    assert set(probe.request["metadata"]) == {"custom_id", "slowcheck"}  # what the body had is kept


@pytest.mark.slow
def test_no_key_is_in_any_curl_or_any_file_of_the_report(broken: Any) -> None:
    _, report, _ = broken
    for file in report.iterdir():
        text = file.read_text(encoding="utf-8")
        assert not any(key in text for key in KEYS), file.name
    for rule_id in (SINGLE, LIFECYCLE):
        for exchange in _finding(report, rule_id)["reproduction"]["exchanges"]:
            assert "$SLOWCHECK_API_KEY" in exchange["curl"]
            assert "authorization" not in {name.lower() for name in exchange["request"]["headers"]}


def _report(folder: Path, rules: list[dict[str, Any]]) -> Path:
    folder.mkdir()
    (folder / "results.json").write_text(json.dumps({"target": "x", "rules": rules}))
    return folder


@pytest.mark.parametrize(
    ("rules", "rule_id", "said"),
    [
        pytest.param(None, SINGLE, "no results.json", id="no-report"),
        pytest.param([{"id": SINGLE, "outcome": "held", "findings": []}], "NO-SUCH", "is not in", id="unknown-rule"),
        pytest.param([{"id": SINGLE, "outcome": "held", "findings": []}], SINGLE, "nothing to replay", id="held"),
        pytest.param(
            [{"id": SINGLE, "outcome": "violated", "findings": [{"outcome": "violated", "message": "m"}]}],
            SINGLE,
            "keep no request",
            id="no-reproduction",
        ),
    ],
)
def test_replay_of_what_cannot_be_replayed_is_one_line_and_exit_2(
    tmp_path: Path, rules: list[dict[str, Any]] | None, rule_id: str, said: str, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = _report(tmp_path / "report", rules) if rules is not None else tmp_path / "missing"
    assert main(["replay", str(folder), rule_id, "--api-key", KEYS[0]]) == 2
    err = capsys.readouterr().err
    assert said in err
    assert len(err.strip().splitlines()) == 1
    assert "Traceback" not in err


COUNTS = {"held": 0, "violated": 2, "deviation": 0, "skipped": 0, "not run": 0}


@pytest.mark.slow
def test_the_run_page_shows_each_findings_curl_and_correlation_id(broken: Any, tmp_path: Path) -> None:
    _, report, _ = broken
    summary = {"verdict": "fail", "reasons": ["2 violated"], "target": "t", "generated_at": "2026-12-07T06:00:00+00:00",
               "duration_s": 1.0, "contract": {"counts": COUNTS, "rules": 2}, "load": {}, "sdk": None,
               "settings": {"load_seconds": 0.0, "thresholds": []}, "slowcheck": "0.1.0"}  # fmt: skip

    # When
    write_page(tmp_path / "index.html", summary, results_path=report / "results.json")

    # Then
    page = html.unescape((tmp_path / "index.html").read_text())
    for rule_id in (SINGLE, LIFECYCLE):
        finding = _finding(report, rule_id)
        assert finding["reproduction"]["curl"] in page
        assert finding["correlation_id"] in page
    assert not any(key in page for key in KEYS)


@pytest.mark.slow
def test_each_finding_names_its_first_requests_curl_beside_the_whole_reproduction(broken: Any) -> None:
    _, report, _ = broken
    for rule_id in (SINGLE, LIFECYCLE):
        finding = _finding(report, rule_id)
        assert finding["curl"] == finding["reproduction"]["exchanges"][0]["curl"]


def test_a_resumed_probes_finding_names_the_correlation_id_its_ledgered_body_carried() -> None:
    body = {"model": "m", "messages": [{"role": "user", "content": "hi"}], "metadata": {"slowcheck": "sc-abcdef-3"}}
    record = {"state": "Success", "request": body, "response": {"choices": [], "usage": {"prompt_tokens": 1,
              "completion_tokens": 1, "total_tokens": 5}}}  # fmt: skip
    poll = reproduce.step("GET", "http://127.0.0.1:9/v1/generation/g1", "/v1/generation/g1", {}, None, "key")
    read = TargetExchange("GET", "/v1/generation/g1", "", 200, {}, json.dumps(record), 0.01, record, request=poll)
    probe = Probe("chat", body, 0.0, {"id": "g1", "created": 0}, records=[record], exchanges=[read])

    # When: the probe an earlier run submitted is judged from its polls alone
    found = lifecycle.judge_reads(records.usage_sum, [probe])

    # Then
    assert found
    reproduction = found[0].reproduction
    assert reproduction is not None
    assert reproduction["correlation_id"] == "sc-abcdef-3"
    assert reproduction["exchanges"][0]["state"] == "Success"


@pytest.mark.slow
def test_replay_that_cannot_see_the_generation_end_says_it_could_not_be_judged(
    broken: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    _, report, _ = broken
    slow = create_app(fast_mock(api_keys=KEYS, models=list(DEFAULT_MODELS), queue_time=Span(30.0, 30.0)))
    with serve_in_background(slow) as url:
        # When: polled for a fifth of a second, while each generation waits 30 s in the queue
        code = main(["replay", str(report), LIFECYCLE, "--base-url", url + "/v1", "--api-key", KEYS[0],
                     "--completion-timeout", "0.2"])  # fmt: skip

    # Then
    assert code == 3
    assert f"{LIFECYCLE} could not be judged: the generation was not terminal" in capsys.readouterr().out
