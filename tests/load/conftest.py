from __future__ import annotations

import contextlib
import csv
import json
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from slowcheck.mock import MockSettings, Span
from slowcheck.mock.server import mock_in_background

KEY = "sk-FAKE-find-me-7f3a9c21"
"""Recognisable, so a test can prove it reached no file."""
AUTH = {"Authorization": f"Bearer {KEY}"}
REPO = Path(__file__).resolve().parents[2]


@dataclass
class Mock:
    url: str

    def stats(self) -> dict[str, Any]:
        return httpx.get(f"{self.url}/_mock/stats", headers=AUTH, timeout=10).json()  # type: ignore[no-any-return]

    def polls(self, generation_id: str) -> int:
        answer = httpx.get(f"{self.url}/_mock/stats/generations/{generation_id}", headers=AUTH, timeout=10)
        return int(answer.json()["polls"])


@contextlib.contextmanager
def mock(**overrides: Any) -> Iterator[Mock]:
    base: dict[str, Any] = {
        "port": 0,
        "db": ":memory:",
        "api_keys": [KEY],
        "queue_time": Span(0.1, 0.4),
        "run_time": Span(0.1, 0.5),
    }
    with mock_in_background(MockSettings(**(base | overrides))) as url:
        yield Mock(url)


@dataclass
class Run:
    code: int
    out: str
    err: str
    folder: Path

    @property
    def summary(self) -> dict[str, Any]:
        return json.loads((self.folder / "summary.json").read_text(encoding="utf-8"))  # type: ignore[no-any-return]

    def generations(self) -> list[dict[str, str]]:
        with (self.folder / "generations.csv").open(encoding="utf-8") as handle:
            return list(csv.DictReader(handle))


def slowcheck(folder: Path, *argv: str, timeout: float = 180) -> Run:
    """The CLI in its own process, as a user runs it."""
    done = subprocess.run(
        [sys.executable, "-m", "slowcheck", *argv, "--report-dir", str(folder)],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
        cwd=REPO,
    )
    return Run(done.returncode, done.stdout, done.stderr, folder)


@pytest.fixture
def report_dir(tmp_path: Path) -> Path:
    return tmp_path / "report"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def master_and_workers(
    scenario: str,
    host: str,
    argv: Sequence[str],
    folders: Sequence[Path],
    *,
    timeout: float = 180,
    terminate_when: Callable[[], bool] | None = None,
) -> subprocess.CompletedProcess[bytes]:
    """The documented multi-machine commands on one machine: ``locust --master`` with ``argv`` in
    ``folders[0]``, and a ``--worker`` in each other folder (its own ``--report-dir report`` there); the master's
    exit code and output, every process stopped. ``terminate_when``: the master gets SIGTERM (as docker and
    Kubernetes stop it) once this says so."""
    port = str(free_port())
    locustfile = str(REPO / "load" / f"{scenario}.py")
    env = {"SLOWCHECK_API_KEY": KEY, "PATH": "/usr/bin:/bin"}
    workers = len(folders) - 1
    master = subprocess.Popen(
        [
            sys.executable, "-m", "locust", "-f", locustfile, "--master", "--master-bind-host", "127.0.0.1",
            "--master-bind-port", port, "--headless", "-u", str(workers), "-r", str(workers), "--expect-workers",
            str(workers), "--host", host, *argv,
        ],
        env=env, cwd=folders[0], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
    )  # fmt: skip
    worker = [sys.executable, "-m", "locust", "-f", locustfile, "--worker", "--master-host", "127.0.0.1",
              "--master-port", port, "--report-dir", "report"]  # fmt: skip
    started = [
        subprocess.Popen(worker, env=env, cwd=folder, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        for folder in folders[1:]
    ]
    try:
        if terminate_when is not None:
            deadline = time.monotonic() + timeout
            while master.poll() is None and not terminate_when() and time.monotonic() < deadline:
                time.sleep(0.1)  # checking a file the run writes, not standing in for it
            master.send_signal(signal.SIGTERM)
        output, _ = master.communicate(timeout=timeout)
    finally:
        for process in [master, *started]:
            if process.poll() is None:
                process.kill()
        for process in started:  # a worker the master did not tell to quit waits a minute for its heartbeat
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
    assert master.returncode is not None
    return subprocess.CompletedProcess(master.args, master.returncode, output)
