"""`slowcheck run` end to end against a mock, the report it writes, and that report in headless Chromium."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from slowcheck.cli import main
from slowcheck.contract.rules import RULES
from slowcheck.mock.app import DEFAULT_MODELS
from slowcheck.mock.server import mock_in_background
from tests.conftest import fast_mock

pytestmark = pytest.mark.slow
KEY = "sk-FAKE-run-find-me-0c4e77"
SECOND = "sk-FAKE-run-second-19aa03"
REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")  # session: kept while the worker runs other modules between these tests
def run(tmp_path_factory: pytest.TempPathFactory) -> tuple[int, str, str, Path]:
    """One real run, shared: the contract, 6 s of load and the installed SDK, against a mock with known keys."""
    folder = tmp_path_factory.mktemp("reports") / "run-1"
    settings = fast_mock(port=0, api_keys=[KEY, SECOND], models=list(DEFAULT_MODELS))
    with mock_in_background(settings) as url:
        done = subprocess.run(
            [sys.executable, "-m", "slowcheck", "run", "--base-url", url + "/v1", "--api-key", KEY,
             "--second-api-key", SECOND, "--load-seconds", "6", "--report-dir", str(folder)],
            capture_output=True, text=True, timeout=400, check=False, cwd=REPO,
        )  # fmt: skip
    return done.returncode, done.stdout, done.stderr, folder


def test_the_run_passes_and_writes_every_part(run: tuple[int, str, str, Path]) -> None:
    code, out, err, folder = run
    assert code == 0, out[-3000:] + err[-3000:]
    for name in ("index.html", "summary.json", "results.json", "junit.xml", "sdk-matrix.json"):
        assert (folder / name).is_file(), name
    for scenario in ("submit", "poll", "jobs"):
        assert (folder / f"load-{scenario}" / "locust_stats.csv").is_file()
    assert (folder.parent / "latest").resolve() == folder.resolve(), "reports/latest follows the newest run"
    total = len(RULES)
    assert re.search(rf"\[\s*\d+\.\d s\] contract {total}/{total}", out), "progress names the phase, count and time"
    assert out.splitlines()[-1].startswith("verdict: PASS")
    summary = json.loads((folder / "summary.json").read_text())
    assert summary["verdict"] == "pass"
    assert summary["contract"]["counts"]["violated"] == 0
    assert summary["load"]["submit"]["thresholds"] == [{"expr": "submit.errors==0", "value": 0, "passed": True}]
    assert summary["load"]["poll"]["poll"]["webhook"]["not_run"] is None
    jobs = summary["load"]["jobs"]["jobs"]
    # 10 jobs a second for 2 s, fewer than the senders: each accepted and followed to its end.
    assert jobs["dispatch"]["dropped"] == 0
    assert jobs["accepted"] == jobs["completed"] == 20
    assert jobs["correctness"] == {"checked": 20, "mismatched": 0, "problems": {}, "examples": []}
    assert [row["requested"] for row in summary["sdk"]["rows"]] == ["installed"]


def test_the_fake_key_is_in_no_file_and_no_output(run: tuple[int, str, str, Path]) -> None:
    _, out, err, folder = run
    files = [p for p in folder.rglob("*") if p.is_file()]
    assert len(files) >= 15
    for path in files:
        data = path.read_bytes()
        assert KEY.encode() not in data, f"the key leaked into {path}"
        assert SECOND.encode() not in data, f"the second key leaked into {path}"
    assert KEY not in out + err
    assert SECOND not in out + err


def _chromium(url: str, *extra: str) -> subprocess.CompletedProcess[str]:
    binary = shutil.which("chromium") or shutil.which("chromium-browser")
    assert binary, "Chromium is missing: .ci/run installs Debian's chromium package"
    command = [binary, "--headless", "--no-sandbox", "--disable-gpu", "--enable-logging=stderr", "--v=0",
               "--window-size=1280,2400", *extra, url]  # fmt: skip
    return subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)


def _console_errors(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if "CONSOLE" in line or "Uncaught" in line]


def test_the_console_check_catches_an_error(tmp_path: Path) -> None:
    """The control for the next test: a page that logs an error is seen doing so."""
    page = tmp_path / "broken.html"
    page.write_text("<!doctype html><p>x</p><script>console.error('boom'); undefinedCall();</script>")
    assert _console_errors(_chromium(page.as_uri(), "--dump-dom").stderr)


def test_the_report_renders_in_headless_chromium(run: tuple[int, str, str, Path]) -> None:
    _, _, _, folder = run
    page = folder / "index.html"
    html = page.read_text(encoding="utf-8")
    assert not re.search(r"""(src|href)=["']?https?://""", html), "the page opens from disk, without network"
    shown = _chromium(page.as_uri(), "--dump-dom")
    assert shown.returncode == 0, shown.stderr[-2000:]
    assert _console_errors(shown.stderr) == []
    dom = shown.stdout
    assert 'id="verdict" class="verdict pass"' in dom
    assert "PASS: every rule that ran holds" in dom
    assert dom.count('<tr class="rule ') == len(RULES), "one row per rule"
    assert dom.count("<svg") >= 5, "throughput and latency per load phase, and the polling strategies"
    assert 'class="matrix"' in dom
    screenshot = folder.parent / "chromium-check.png"  # a temporary folder: tests never write into the repository
    shot = _chromium(page.as_uri(), f"--screenshot={screenshot}")
    assert shot.returncode == 0
    assert screenshot.stat().st_size > 50_000


def test_compare_names_what_got_worse_between_two_runs(
    run: tuple[int, str, str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The real run, and a copy of it made worse in three known ways: compare finds those three and no more."""
    _, _, _, folder = run
    worse = tmp_path / "worse"
    shutil.copytree(folder, worse, symlinks=True)
    summary = json.loads((worse / "summary.json").read_text())
    submit = summary["load"]["submit"]["submit"]
    p95 = submit["latency_ms"]["p95"]
    submit["latency_ms"]["p95"] = round(p95 * 3 + 10, 3)
    summary["load"]["submit"]["thresholds"][0]["passed"] = False
    (worse / "summary.json").write_text(json.dumps(summary))
    results = json.loads((worse / "results.json").read_text())
    (rule,) = [r for r in results["rules"] if r["id"] == "ACK-CREATED-MS"]
    rule.update(outcome="violated", message="created is in seconds")
    (worse / "results.json").write_text(json.dumps(results))

    assert main(["report", "compare", str(folder), str(worse)]) == 1
    head, *lines = capsys.readouterr().out.splitlines()
    assert head.startswith("one run against one run")
    assert all(line.startswith("WORSE ") for line in lines), lines
    assert len(lines) == 3, lines
    assert any("submit phase: submit.latency_ms.p95" in line and f"{p95} -> " in line for line in lines), lines
    assert any("submit phase: threshold submit.errors==0" in line for line in lines), lines
    assert any("rule ACK-CREATED-MS" in line and "held -> violated" in line for line in lines), lines

    assert main(["report", "compare", str(worse), str(folder)]) == 0, "the other way round, all of it is better"
    back = capsys.readouterr().out.splitlines()[1:]
    assert len(back) == 3
    assert all(line.startswith("better ") for line in back), back


def test_usage_errors_stop_before_any_phase(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    assert main(["run", "--threshold", "submit.p95<3", "--report-dir", str(tmp_path / "r")]) == 2
    assert "--threshold 'submit.p95<3': summary.json has no 'submit.p95'" in capsys.readouterr().err
    assert main(["run", "--base-url", "http://127.0.0.1:9", "--api-key", KEY, "--report-dir", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "cannot reach http://127.0.0.1:9" in err
    assert KEY not in err


def test_a_docs_shaped_api_passes_the_main_job_with_its_deviations_listed(tmp_path: Path) -> None:
    """The main job against the server that follows only the public docs (no hints, no x-request-id, a
    backend's validation quirks): it passes, and says where the API is laxer than OpenAI's spec."""
    from slowcheck.background import serve_in_background
    from tests.contract.test_real_targets import DOCS_DEVIATIONS
    from tests.docs_server import Habits, create_app

    habits = Habits(completion_delay=0.3)
    with serve_in_background(create_app(habits)) as url:
        done = subprocess.run(
            [sys.executable, "-m", "slowcheck", "run", "--base-url", url + "/v1", "--api-key", habits.keys[0],
             "--completion-timeout", "20", "--load-seconds", "0", "--report-dir", str(tmp_path / "docs")],
            capture_output=True, text=True, timeout=300, check=False, cwd=tmp_path,
        )  # fmt: skip
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    assert done.stdout.splitlines()[-1].startswith("verdict: PASS")
    assert "load: skipped (--load-seconds 0)" in done.stdout
    summary = json.loads((tmp_path / "docs" / "summary.json").read_text())
    assert summary["contract"]["counts"]["violated"] == summary["contract"]["counts"]["not run"] == 0
    results = json.loads((tmp_path / "docs" / "results.json").read_text())
    deviations = {r["id"] for r in results["rules"] if r["outcome"] == "deviation"}
    assert deviations == DOCS_DEVIATIONS
    for rule_id in deviations:
        assert re.search(rf"deviation +{rule_id}", done.stdout), rule_id
    (row,) = summary["sdk"]["rows"]
    assert row["failed_by_api"] == []
    assert row["cells"]["raw-headers"]["status"] == "deviation", "no x-request-id: not promised by the docs"
    assert habits.keys[0] not in done.stdout + done.stderr
