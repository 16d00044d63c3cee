"""Runs of many processes: locust's own master and workers, each worker in a folder of its own (as on other
machines), give the master a local run's figures; and the master's live figures are scraped while a run goes."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client.openmetrics.parser import text_string_to_metric_families

from slowcheck.mock import Faults, Span
from tests.load.conftest import KEY, REPO, free_port, master_and_workers, mock, slowcheck

pytestmark = pytest.mark.slow

_PLAN = ("--rate", "20", "--duration", "5", "--drain", "60")
"""100 jobs at 20 a second, every one followed to its end."""


def _distributed(url: str, tmp_path: Path) -> tuple[subprocess.CompletedProcess[bytes], list[Path]]:
    """``locust --master`` and two ``--worker``s, each process in its own working folder with its own
    ``--report-dir``: nothing on disk is shared."""
    folders = [tmp_path / name for name in ("master", "worker-1", "worker-2")]
    for folder in folders:
        folder.mkdir()
    done = master_and_workers("jobs", url, ["--run-time", "120s", *_PLAN, "--report-dir", "report"], folders)
    return done, folders


def _read(folder: Path) -> dict[str, Any]:
    return json.loads((folder / "summary.json").read_text(encoding="utf-8"))  # type: ignore[no-any-return]


def test_a_master_with_workers_elsewhere_has_the_figures_of_a_local_run(tmp_path: Path) -> None:
    # Fixed times and workers for every job at once (30 run together), so two runs of the plan have the same
    # latencies to find: with a backlog, a queue time is a chain of finishes that one stall of either run moves
    # by 10 %. Long enough that a busy machine's late timers (tens of ms) stay well inside 10 %. Queue, run and
    # e2e are the server's times; accept and notice are the harness's own and vary with the machine's load,
    # not with where the figures were made.
    with mock(queue_time=Span(1.0, 1.0), run_time=Span(1.5, 1.5), workers=64) as target:
        done, folders = _distributed(target.url, tmp_path)
        seen = target.stats()["generations"].get("Success", 0)
        local = slowcheck(tmp_path / "local", "load", "jobs", "--base-url", target.url, "--api-key", KEY, *_PLAN,
                          "--processes", "2")  # fmt: skip
    assert done.returncode == 0, done.stdout.decode(errors="replace")[-2000:]
    report = folders[0] / "report"
    master = _read(report)["jobs"]
    assert master["completed"] == seen > 0, "the master counts every job the mock completed"
    assert master["accepted"] == master["completed"]
    assert master["open"] == 0
    assert _read(report)["settings"]["users_reported"] == 2
    assert len(list(report.glob("journal-*.jsonl"))) == 2, "one journal file per share, in the master's folder"
    for worker in folders[1:]:
        assert not list(worker.rglob("journal-*.jsonl")), f"{worker.name} wrote a journal of its own"
    assert local.code == 0, local.err + local.out
    near = local.summary["jobs"]
    assert near["completed"] == near["accepted"] > 0
    for metric in ("queue", "run", "e2e"):
        for quantile in ("p50", "p90"):
            there, here = master["latency_s"][metric][quantile], near["latency_s"][metric][quantile]
            assert abs(there - here) <= 0.1 * here, f"{metric} {quantile}: {there} s on the master, {here} s locally"


def test_a_master_stopped_by_sigterm_keeps_every_row_and_resumes_on_other_workers(tmp_path: Path) -> None:
    """docker compose and Kubernetes stop a master with SIGTERM: its workers' last rows and samples still reach
    the journal and the summary, nothing is sent after; a resume with other workers (other folders) then sends
    what was left, once."""
    folders = [tmp_path / name for name in ("master", "worker-1", "worker-2")]
    for folder in folders:
        folder.mkdir()
    report = folders[0] / "report"
    plan = ["--run-time", "120s", "--rate", "40", "--duration", "8", "--drain", "60", "--report-dir", "report"]
    # Workers enough that the mock keeps up: the resumed run's jobs do not queue behind the first run's.
    with mock(queue_time=Span(1.0, 1.0), run_time=Span(1.0, 1.0), workers=256) as target:
        stopped = master_and_workers(
            "jobs",
            target.url,
            plan,
            folders,
            # Some 60 rows in (2 to 3 s of the 8 s plan): well before its last arrival, however busy the machine.
            terminate_when=lambda: sum(path.read_bytes().count(b"\n") for path in report.glob("journal-*.jsonl")) >= 60,
        )
        submitted = target.stats()["totals"]["submissions"]
        summary = _read(report)
        sent = [row for row in _rows(report) if row[0] == "sent" and row[6]]
        others = [tmp_path / name for name in ("worker-3", "worker-4")]
        for folder in others:
            folder.mkdir()
        resumed = master_and_workers("jobs", target.url, [*plan, "--resume", "report"], [folders[0], *others])
        stats = target.stats()
    assert stopped.returncode == 0, stopped.stdout.decode(errors="replace")[-2000:]
    assert summary["settings"]["users_reported"] == 2, "both workers reported"
    assert summary["jobs"]["accepted"] == len(sent), "no row came after the summary"
    assert 0 < len(sent) < 320, "the run was stopped, not finished"
    assert submitted == len(sent), "every submission the API took has its row (none to be sent twice)"
    assert resumed.returncode == 0, resumed.stdout.decode(errors="replace")[-2000:]
    final = _read(report)["jobs"]
    assert _read(report)["submit"]["dropped"] == 0, "fewer arrivals than senders in each share"
    assert final["accepted"] == stats["totals"]["submissions"] == 320, "the plan once, nothing twice"
    assert final["completed"] == final["accepted"]
    assert final["open"] == 0


def test_submissions_unanswered_at_a_stop_are_journaled_and_never_sent_again(tmp_path: Path) -> None:
    """Acks slower than the 2 s a stopped user waits for them: each submission still unanswered is journaled as
    such and counted as unfinished, and a resume does not send it again (the API may have taken and billed it)."""
    folders = [tmp_path / name for name in ("master", "worker-1", "worker-2")]
    for folder in folders:
        folder.mkdir()
    report = folders[0] / "report"
    plan = ["--run-time", "120s", "--rate", "10", "--duration", "4", "--drain", "60", "--report-dir", "report"]
    with mock(faults=Faults(ack_latency=5.0)) as target:
        stopped = master_and_workers(
            "jobs", target.url, plan, folders[:2],
            terminate_when=lambda: target.stats()["totals"].get("submissions", 0) >= 10,
        )  # fmt: skip
        taken = target.stats()["totals"]["submissions"]
        first = _read(report)
        resumed = master_and_workers("jobs", target.url, [*plan, "--resume", "report"], [folders[0], folders[2]])
        stats = target.stats()["totals"]
    assert stopped.returncode == 0, stopped.stdout.decode(errors="replace")[-2000:]
    rows = _rows(report)
    unanswered = {row[1] for row in rows if row[0] == "unanswered"}
    assert 10 <= len(unanswered) == taken < 40, "every submission the mock took, none answered in time, has its row"
    assert first["submit"]["unfinished"] == len(unanswered)
    assert first["submit"]["count"] == 0, "no answer was read"
    assert resumed.returncode == 0, resumed.stdout.decode(errors="replace")[-2000:]
    final = _read(report)
    assert stats["submissions"] == 40, "the plan once: what went unanswered was not sent again"
    assert final["jobs"]["accepted"] == final["jobs"]["completed"] == 40 - len(unanswered)
    assert final["submit"]["unfinished"] == len(unanswered)
    assert final["spend"]["unread"] == len(unanswered), "perhaps billed: their worst case stays in the bound"
    assert not unanswered & {row[1] for row in _rows(report) if row[0] == "sent"}


def _rows(folder: Path) -> list[list[Any]]:
    return [json.loads(line) for path in folder.glob("journal-*.jsonl") for line in path.read_text().splitlines()]


def test_live_figures_are_scraped_while_a_two_process_run_goes(tmp_path: Path) -> None:
    """--metrics-port: the master serves every worker's figures while the run goes; its last ones are the run's."""
    port = free_port()
    report = tmp_path / "report"
    command = [
        sys.executable, "-m", "slowcheck", "load", "jobs", "--rate", "20", "--duration", "6", "--processes", "2",
        "--metrics-port", str(port), "--report-dir", str(report),
    ]  # fmt: skip
    scraped: list[dict[str, Any]] = []
    with subprocess.Popen(command, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT) as run:
        deadline = time.monotonic() + 120
        while run.poll() is None and time.monotonic() < deadline:
            try:
                answer = httpx.get(f"http://127.0.0.1:{port}/metrics", headers={"Accept": OPENMETRICS}, timeout=5)
            except httpx.TransportError:
                answer = None  # not listening yet, or already stopped
            if answer is not None and answer.status_code == 200:
                scraped.append(_samples(answer.text))
            time.sleep(0.5)  # a scrape interval, as Prometheus has one
        output, _ = run.communicate(timeout=120)
    assert run.returncode == 0, output.decode(errors="replace")[-2000:]
    during = [s for s in scraped if s.get(("slowcheck_completions_total", (("state", "Success"),)), 0) > 0]
    assert during, f"no scrape saw a completion ({len(scraped)} scrapes)"
    middle = during[0]
    assert middle[("slowcheck_submissions_offered_total", ())] > 0
    assert ("slowcheck_e2e_seconds", (("quantile", "0.5"),)) in middle
    assert any(key[0] == "slowcheck_jobs_in_flight" for s in scraped for key in s), "jobs in flight were shown"
    summary = json.loads((report / "summary.json").read_text(encoding="utf-8"))
    final = json.loads((report / "live.json").read_text(encoding="utf-8"))
    assert final["completions"]["Success"] == summary["jobs"]["completed"] > 0, "every worker's last figures came"
    assert final["submissions"]["offered"] == summary["submit"]["count"] + summary["submit"]["dropped"]
    assert final["submissions"]["accepted"] == summary["jobs"]["accepted"]


OPENMETRICS = "application/openmetrics-text; version=1.0.0"


def _samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }
