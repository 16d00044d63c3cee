"""A jobs run with locust's own master and workers, each worker in a folder of its own (as on other machines):
the master's figures are a local run's."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from slowcheck.mock import Span
from tests.load.conftest import KEY, REPO, mock, slowcheck

pytestmark = pytest.mark.slow

_PLAN = ("--rate", "20", "--duration", "5", "--drain", "60")
"""100 jobs at 20 a second, every one followed to its end."""


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _distributed(url: str, tmp_path: Path) -> tuple[subprocess.CompletedProcess[bytes], list[Path]]:
    """``locust --master`` and two ``--worker``s, each process in its own working folder with its own
    ``--report-dir``: nothing on disk is shared."""
    port = str(_free_port())
    scenario = str(REPO / "load" / "jobs.py")
    env = {"SLOWCHECK_API_KEY": KEY, "PATH": "/usr/bin:/bin"}
    folders = [tmp_path / name for name in ("master", "worker-1", "worker-2")]
    for folder in folders:
        folder.mkdir()
    master = subprocess.Popen(
        [
            sys.executable, "-m", "locust", "-f", scenario, "--master", "--master-bind-host", "127.0.0.1",
            "--master-bind-port", port, "--headless", "-u", "2", "-r", "2", "--expect-workers", "2", "--host", url,
            "--run-time", "120s", *_PLAN, "--report-dir", "report",
        ],
        env=env, cwd=folders[0], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
    )  # fmt: skip
    worker = [sys.executable, "-m", "locust", "-f", scenario, "--worker", "--master-host", "127.0.0.1",
              "--master-port", port, "--report-dir", "report"]  # fmt: skip
    workers = [
        subprocess.Popen(worker, env=env, cwd=folder, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        for folder in folders[1:]
    ]
    try:
        output, _ = master.communicate(timeout=180)
    finally:
        for process in [master, *workers]:
            if process.poll() is None:
                process.kill()
        for worker in workers:
            worker.wait(timeout=30)
    assert master.returncode is not None
    return subprocess.CompletedProcess(master.args, master.returncode, output), folders


def _read(folder: Path) -> dict[str, Any]:
    return json.loads((folder / "summary.json").read_text(encoding="utf-8"))  # type: ignore[no-any-return]


def test_a_master_with_workers_elsewhere_has_the_figures_of_a_local_run(tmp_path: Path) -> None:
    # Fixed times, so two runs of the plan have the same latencies to find (the harness's own jitter aside).
    with mock(queue_time=Span(0.3, 0.3), run_time=Span(0.4, 0.4)) as target:
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
