"""`slowcheck load` and `slowcheck report compare`: usage errors before anything starts, and comparisons."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from slowcheck.cli import main
from slowcheck.load.report import skeleton
from tests.load.conftest import KEY


@pytest.mark.parametrize(
    ("argv", "says"),
    [
        (["submit", "--threshold", "submit.latncy.p95<3"], "summary.json has no 'submit.latncy'"),
        (["submit", "--rate", "lots"], "--rate: expected a number"),
        (["rate-limit", "--processes", "2"], "--processes: the rate-limit probe"),
        (["poll", "--strategies", "fixed,psychic"], "--strategies: expected some of"),
        (["poll", "--poll-interval", "0"], "--poll-interval: expected seconds > 0"),
        (["submit", "--base-url", "ftp://x"], "--base-url must be an http(s) URL"),
        (["submit", "--base-url", "http://127.0.0.1:9/v1"], "cannot reach http://127.0.0.1:9"),
        (["jobs", "--slo", "e2e<5"], "--slo: expected METRIC_s<=SECONDS"),
        (["jobs", "--rate", "inf"], "--rate inf sends everything at once: say how much with --jobs N"),
        (["jobs", "--mix", "chat=x"], "--mix: expected chat, text, embedding"),
        (["jobs", "--canaries", "2"], "--canaries: expected a share"),
        (["jobs", "--arrival", "poisson", "--burstiness", "0.5"], "--burstiness shapes gamma arrivals"),
        (["jobs", "--resume", "/nonexistent/slowcheck"], "--resume /nonexistent/slowcheck: no readable run.json"),
        (["jobs", "--input", "/nonexistent/in.jsonl"], "--input /nonexistent/in.jsonl: No such file"),
        (["submit", "--resume", "/tmp"], "--resume continues a jobs run"),
        (["poll", "--metrics-port", "99999"], "--metrics-port: expected PORT or HOST:PORT"),
    ],
)
def test_usage_errors_are_one_line_and_exit_2(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, argv: list[str], says: str
) -> None:
    code = main(["load", *argv, "--api-key", KEY, "--report-dir", str(tmp_path)])
    err = capsys.readouterr().err
    assert code == 2
    assert says in err
    assert err.count("\n") == 1, err
    assert KEY not in err


def test_no_key_for_a_real_target_is_a_usage_error(capsys: pytest.CaptureFixture[str], monkeypatch: Any) -> None:
    for name in ("SLOWCHECK_API_KEY", "INFERENCE_API_KEY", "SLOWCHECK_BASE_URL"):
        monkeypatch.delenv(name, raising=False)
    assert main(["load", "submit", "--base-url", "http://127.0.0.1:9"]) == 2
    assert "no API key" in capsys.readouterr().err


@pytest.mark.slow
def test_the_package_never_imports_locust() -> None:
    """locust patches the standard library on import; only locust's own process may load it."""
    code = "import sys, slowcheck.cli, slowcheck.load.command, slowcheck.load.report; " + (
        "bad = [m for m in ('locust', 'gevent') if m in sys.modules]; print(bad); sys.exit(1 if bad else 0)"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stdout + done.stderr


def _write(folder: Path, **changes: Any) -> Path:
    summary = skeleton("poll", ["fixed"])
    summary["submit"].update(throughput_per_s=100.0, errors=0, latency_ms={"p50": 2.0, "p95": 5.0, "p99": 9.0})
    summary["poll"]["fixed"].update(polls_per_completion=3.0)
    summary["thresholds"] = [{"expr": "submit.errors==0", "value": 0, "passed": True}]
    for path, value in changes.items():  # submit__latency_ms__p95=... sets summary["submit"]["latency_ms"]["p95"]
        *parents, leaf = path.split("__")
        node = summary
        for step in parents:
            node = node[step]
        node[leaf] = value
    folder.mkdir()
    (folder / "summary.json").write_text(json.dumps(summary))
    return folder


def test_compare_names_what_got_worse_and_exits_1(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    old = _write(tmp_path / "old")
    new = _write(
        tmp_path / "new",
        submit__throughput_per_s=80.0,  # -20 %: worse
        submit__errors=3,  # from 0: worse
        submit__latency_ms__p95=5.2,  # +4 %: within tolerance
        poll__fixed__polls_per_completion=2.0,  # fewer polls: better
        thresholds=[{"expr": "submit.errors==0", "value": 3, "passed": False}],
    )
    assert main(["report", "compare", str(old), str(new)]) == 1
    lines = capsys.readouterr().out.splitlines()
    worse = [line.split()[1] for line in lines if line.startswith("WORSE")]
    better = [line.split()[1] for line in lines if line.startswith("better")]
    assert sorted(worse) == ["submit.errors", "submit.throughput_per_s", "threshold"]
    assert better == ["poll.fixed.polls_per_completion"]


def test_compare_of_equal_runs_exits_0(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    assert main(["report", "compare", str(_write(tmp_path / "a")), str(_write(tmp_path / "b"))]) == 0
    assert capsys.readouterr().out.splitlines() == [
        "one run against one run: no spread known, only the tolerance judges",
        "no figure moved beyond the tolerance",
    ]


def test_compare_of_contract_results(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    for name, outcome in (("old", "held"), ("new", "violated")):
        (tmp_path / name).mkdir()
        rules = [{"id": "ACK-SHAPE", "outcome": outcome, "message": "created is in seconds"}]
        (tmp_path / name / "results.json").write_text(json.dumps({"rules": rules}))
    assert main(["report", "compare", str(tmp_path / "old"), str(tmp_path / "new")]) == 1
    assert "WORSE  rule ACK-SHAPE  held -> violated  created is in seconds" in capsys.readouterr().out


def test_compare_of_folders_without_reports_is_a_usage_error(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    (tmp_path / "a").mkdir()
    assert main(["report", "compare", str(tmp_path / "a"), str(tmp_path / "missing")]) == 2
    assert "is not a report folder" in capsys.readouterr().err


@pytest.mark.slow
def test_a_target_that_hangs_is_one_line_and_exit_2(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    """It accepts connections and never answers: the early check gives up after 10 s, before locust starts."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(8)
        url = f"http://127.0.0.1:{listener.getsockname()[1]}"
        code = main(["load", "submit", "--base-url", url, "--api-key", KEY, "--report-dir", str(tmp_path / "r")])
    err = capsys.readouterr().err
    assert code == 2
    assert err == f"slowcheck: error: {url} did not answer GET /v1/models within 10 s\n"
    assert not (tmp_path / "r").exists(), "nothing written for a run that never started"
