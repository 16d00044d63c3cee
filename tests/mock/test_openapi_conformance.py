"""schemathesis's own runner, every check and phase, against schemas/openapi.yaml and the mock: the document
says what the mock does. Bounded in examples (and by a timeout); a failure names the case to reproduce."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from slowcheck.background import serve_in_background
from slowcheck.mock import create_app
from slowcheck.mock.app.admission import IDEMPOTENCY_KEY_LENGTH
from slowcheck.schemas import schema_set
from tests.contract.broken import Broken
from tests.mock.conftest import KEY, fast

pytestmark = pytest.mark.slow
OPENAPI = schema_set().directory / "openapi.yaml"


def schemathesis(url: str, tmp_path: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "schemathesis.cli", "run", str(OPENAPI), "--url", url,
         "-H", f"Authorization: Bearer {KEY}", "--checks", "all", "--seed", "1", "--generation-database", "none",
         "--report-dir", str(tmp_path / "schemathesis"), "--no-color", *extra],
        capture_output=True, text=True, timeout=300, check=False, cwd=tmp_path,
    )  # fmt: skip


@pytest.fixture
def mock_url() -> Iterator[str]:
    with serve_in_background(create_app(fast(api_keys=[KEY]))) as url:
        yield url


def test_every_operation_phase_and_check_passes_against_the_mock(mock_url: str, tmp_path: Path) -> None:
    done = schemathesis(mock_url, tmp_path, "--phases", "examples,coverage,fuzzing,stateful", "--max-examples", "5")
    assert done.returncode == 0, done.stdout[-6000:]
    assert "Tested: 16" in done.stdout, "every operation of the document"
    assert "Failures:" not in done.stdout
    # The one warning allowed: stateful runs of five steps do not always reach a batch made by a link chain.
    _, _, after = done.stdout.partition("=== WARNINGS ===")
    warnings = [line for line in after.partition("=== SUMMARY ===")[0].strip("= \n").splitlines() if line.strip()]
    assert all(line.startswith(("Missing test data", "  - ", "💡")) for line in warnings), warnings
    assert KEY not in done.stdout


def test_the_run_catches_a_server_that_breaks_the_document(tmp_path: Path) -> None:
    """The control: the same run fails when refusals become server errors."""
    app = Broken(create_app(fast(api_keys=[KEY])), lambda e: (500, e.body) if e.status == 400 else None)
    with serve_in_background(app) as url:
        done = schemathesis(url, tmp_path, "--phases", "coverage", "--include-operation-id", "submitCompletion")
    assert done.returncode == 1, done.stdout[-3000:]
    assert "Server error" in done.stdout


def test_the_idempotency_key_bounds_are_the_documents() -> None:
    declared = schema_set().openapi()["components"]["parameters"]["IdempotencyKey"]["schema"]
    assert IDEMPOTENCY_KEY_LENGTH == (declared["minLength"], declared["maxLength"])
