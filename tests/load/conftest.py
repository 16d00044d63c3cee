from __future__ import annotations

import contextlib
import csv
import json
import subprocess
import sys
from collections.abc import Iterator
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
