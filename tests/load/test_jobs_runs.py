"""Jobs runs (locust in its own process) against the mock, checked against the mock's own truth."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from slowcheck.mock import Faults
from tests.load.conftest import AUTH, KEY, REPO, mock, slowcheck

pytestmark = pytest.mark.slow


def _done_ids(folder: Path) -> list[str]:
    rows = [json.loads(line) for p in sorted(folder.glob("journal-*.jsonl")) for line in p.read_text().splitlines()]
    return [row[2] for row in rows if row[0] == "done"]


def test_against_a_capacity_model_the_figures_match_the_mocks_truth(report_dir: Path) -> None:
    # 4 workers decoding 400 tokens/s together; the mock's answers average about 25 tokens, so about 16 jobs/s are
    # served and 30/s offered: the queue grows, as on an overloaded cluster.
    with mock(capacity=400.0, workers=4, queue_time=None) as target:
        run = slowcheck(
            report_dir, "load", "jobs", "--base-url", target.url, "--api-key", KEY, "--rate", "30",
            "--duration", "4", "--slo", "e2e_s<=2", "--mix", "chat=3,text=1", "--drain", "60", "--track", "webhook",
            "--canaries", "0.1",  # the default 2 % of 120 jobs is none at all one run in eleven
        )  # fmt: skip
        truth = target.stats()["totals"]
        records = [
            httpx.get(f"{target.url}/_mock/stats/generations/{i}", headers=AUTH, timeout=10).json()
            for i in _done_ids(report_dir)
        ]
    assert run.code == 0, run.err + run.out
    found = run.summary["jobs"]
    # Fewer arrivals than senders: every planned job is accepted, however late a busy machine wakes the senders
    # (six test workers on two cores), and every accepted one ran and completed.
    assert found["dispatch"]["dropped"] == 0
    accepted = 120
    assert found["accepted"] == found["completed"] == truth["finished"] == truth["ran"] == accepted
    assert found["open"] == found["failed"] == 0
    assert found["shares"]["completed"] == 1.0
    # Chat jobs are followed by webhook, text jobs (which send none) by polls.
    assert 60 <= found["tracking"]["webhooks"] < 120
    assert 0 < found["tracking"]["polls"]
    for name in ("queue", "run", "e2e"):
        assert found["mean_s"][name] == pytest.approx(truth[f"{name}_s_sum"] / truth["ran"], rel=0.05), name
    assert found["mean_s"]["queue"] > 0.5, "the offered load exceeds the capacity: jobs wait for a worker"
    assert found["throughput"]["output_tokens"] == truth["completion_tokens"]
    within = sum(1 for r in records if r["finished_at"] - r["created"] <= 2.0)
    assert found["goodput"]["share"] == pytest.approx(within / accepted, rel=0.05)
    # Served at the capacity: tokens per second within 10 % of the 400 the workers decode.
    assert found["throughput"]["output_tokens_per_s"] == pytest.approx(400, rel=0.1)
    assert found["correctness"]["mismatched"] == 0
    assert found["canaries"]["sent"] >= 1
    assert found["canaries"]["correct"] == found["canaries"]["sent"]
    assert found["dispatch"]["lag_ms"]["p99"] < 1000
    page = (report_dir / "index.html").read_text()
    assert page.count("<svg") >= 3
    assert "Not their job" in page
    assert f"jobs: {accepted} accepted, {accepted} completed" in run.out


def test_swapped_responses_are_caught_by_the_canaries_and_the_echo_checks(report_dir: Path) -> None:
    with mock(faults=Faults(swap_ratio=0.5)) as target:
        run = slowcheck(
            report_dir, "load", "jobs", "--base-url", target.url, "--api-key", KEY, "--rate", "20",
            "--duration", "2", "--canaries", "1", "--drain", "60",
        )  # fmt: skip
    assert run.code == 1, run.err + run.out
    found = run.summary["jobs"]
    assert (found["completed"], found["dispatch"]["dropped"]) == (40, 0)
    assert found["correctness"]["mismatched"] >= 5
    assert found["correctness"]["problems"]["response_id"] >= 5
    assert found["canaries"]["mismatched"] >= 5
    assert found["correctness"]["examples"][0]["problems"] == ["response_id"]
    assert "threshold jobs.correctness.mismatched==0: BREACHED" in run.out


def test_a_stopped_run_resumes_from_its_journal(report_dir: Path) -> None:
    with mock() as target:
        first = slowcheck(
            report_dir, "load", "jobs", "--base-url", target.url, "--api-key", KEY, "--rate", "10",
            "--duration", "1", "--drain", "0",
        )  # fmt: skip
        opened = first.summary["jobs"]["open"]
        # Two processes now: the master reads the journal and hands each worker its share of what is left.
        again = slowcheck(report_dir, "load", "jobs", "--resume", str(report_dir), "--api-key", KEY, "--drain", "60",
                          "--processes", "2")  # fmt: skip
        stats = target.stats()["totals"]
    assert first.code == 0, first.err + first.out
    assert again.code == 0, again.err + again.out
    assert opened > 0, "the first run stopped before its jobs ended"
    found = again.summary["jobs"]
    assert found["accepted"] == found["completed"] == stats["submissions"] == 10, "nothing sent twice"
    assert found["open"] == 0
    assert json.loads((report_dir / "run.json").read_text())["options"]["rate"] == "10"
    for path in report_dir.iterdir():
        assert KEY not in path.read_text(encoding="utf-8", errors="replace"), f"the key leaked into {path.name}"


def _processes_naming(text: str) -> list[int]:
    """Processes whose command line names ``text`` (read from /proc: no pgrep needed)."""
    found = []
    for entry in Path("/proc").iterdir():
        try:
            if entry.name.isdigit() and text in (entry / "cmdline").read_bytes().decode(errors="replace"):
                found.append(int(entry.name))
        except OSError:  # gone meanwhile
            continue
    return found


def test_sigterm_stops_the_command_and_its_locust_with_every_row_written(report_dir: Path) -> None:
    """docker stop, Kubernetes and CI cancel with SIGTERM: the command stops its locust, which stops its users
    and writes their rows and the summary, and exits 143 only then. (Python's default ended the command at once
    and left locust sending the whole plan.)"""
    with mock() as target:
        command = subprocess.Popen(
            [sys.executable, "-m", "slowcheck", "load", "jobs", "--base-url", target.url, "--api-key", KEY,
             "--rate", "10", "--duration", "20", "--drain", "60", "--report-dir", str(report_dir)],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=REPO,
        )  # fmt: skip
        try:
            deadline = time.monotonic() + 60
            while target.stats()["totals"].get("submissions", 0) < 10 and time.monotonic() < deadline:
                time.sleep(0.1)  # reading the mock's count, not standing in for it
            command.send_signal(signal.SIGTERM)
            out, err = command.communicate(timeout=120)
        finally:
            command.kill()
        taken = target.stats()["totals"]["submissions"]
        left = _processes_naming(str(report_dir))
    assert command.returncode == 128 + signal.SIGTERM, err + out
    assert "stopped (SIGTERM)" in err
    assert err.count("\n") <= 3, "a line, not a traceback"
    assert not left, "locust did not outlive the command"
    summary = json.loads((report_dir / "summary.json").read_text())
    assert 10 <= taken < 200, "stopped, not run to its end"
    assert summary["jobs"]["accepted"] + summary["submit"]["unfinished"] == taken, "every submission has its row"
    assert KEY not in (report_dir / "locust.log").read_text()
