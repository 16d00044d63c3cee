"""sdk-matrix's verdict and exit codes, fast: no environment is built (the builder is stubbed: the openai installed
beside slowcheck is the one version that "installs"), the probe and the lab are real, against the mock."""

from __future__ import annotations

import importlib.metadata
import json
import sys
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from slowcheck.background import serve_in_background
from slowcheck.cli import main
from slowcheck.errors import ConfigError
from slowcheck.mock import MockSettings, Span, create_app
from slowcheck.sdk import envs
from slowcheck.sdk.checks import CHECKS
from slowcheck.sdk.grading import counts, judge
from tests.contract.broken import Broken, Exchange

pytestmark = pytest.mark.slow  # the mock on a real socket, and the probes in processes of their own

KEY = "sk-FAKE-sdk-verdict-7e21"
INSTALLED = importlib.metadata.version("openai")
MISSING = "9.9.9"
"""A version PyPI does not have: the stub refuses it as uv does."""


@pytest.fixture(autouse=True)
def builder(monkeypatch: pytest.MonkeyPatch) -> None:
    """The environment builder: the running interpreter for the installed openai, an install failure otherwise."""

    def python_env(version: str, cache: Path, timeout: float) -> Path:
        if version != INSTALLED:
            raise ConfigError(f"could not install openai {version}: no version of openai=={version}")
        return Path(sys.executable)

    monkeypatch.setattr(envs, "python_env", python_env)
    monkeypatch.setattr(envs, "python_env_ready", lambda version, cache: version == INSTALLED)


def _forget_metadata(exchange: Exchange) -> tuple[int, Any] | None:
    """A broken promise: the stored request loses the metadata the client sent."""
    body = exchange.body
    if exchange.path.startswith("/v1/generation/") and isinstance(body, dict) and isinstance(body.get("request"), dict):
        return 200, body | {"request": {k: v for k, v in body["request"].items() if k != "metadata"}}
    return None


@pytest.fixture
def mock_url(request: pytest.FixtureRequest) -> Iterator[str]:
    settings = MockSettings(db=":memory:", api_keys=[KEY], queue_time=Span(0.05, 0.1), run_time=Span(0.05, 0.1))
    app = create_app(settings)
    mutate = getattr(request, "param", None)
    with serve_in_background(Broken(app, mutate) if mutate else app, name="test mock") as url:
        yield url


def _matrix(url: str, folder: Path, capsys: pytest.CaptureFixture[str], python: str) -> tuple[int, dict[str, Any], str]:
    argv = ["sdk-matrix", "--base-url", url + "/v1", "--api-key", KEY, "--python", python, "--node", "",
            "--report-dir", str(folder), "--cache-dir", str(folder / "cache")]  # fmt: skip
    code = main(argv)
    out = capsys.readouterr().out
    return code, json.loads((folder / "sdk-matrix.json").read_text()), out


def test_a_target_that_keeps_its_promises_passes_with_hazards_listed(
    mock_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, document, out = _matrix(mock_url, tmp_path, capsys, INSTALLED)
    assert code == 0, out
    assert out.splitlines()[-1] == "verdict: PASS"
    assert document["verdict"] == "pass"
    (row,) = document["rows"]
    assert row["cells"]["idempotency"]["outcome"] == "deviation", "no SDK sends an Idempotency-Key: a hazard"
    assert row["cells"]["batch-flow"]["outcome"] == "skipped", "no --batch-base-url"
    assert document["counts"]["violated"] == document["counts"]["not run"] == 0
    assert document["counts"]["held"] >= 8
    assert sum(document["counts"].values()) == len(CHECKS)
    assert "hazard" in out
    assert 'class="verdict pass"' in (tmp_path / "index.html").read_text()


@pytest.mark.parametrize("mock_url", [_forget_metadata], indirect=True)
def test_a_broken_promise_fails_even_beside_a_version_that_could_not_run(
    mock_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, document, out = _matrix(mock_url, tmp_path, capsys, f"{INSTALLED},{MISSING}")
    assert code == 1, out
    assert out.splitlines()[-1] == f"verdict: FAIL: the API fails checks it answers for with: python {INSTALLED}"
    assert document["verdict"] == "fail"
    ran, missing = document["rows"]
    assert ran["failed_by_api"] == ["metadata"]
    assert ran["cells"]["metadata"]["outcome"] == "violated"
    assert {c["outcome"] for c in missing["cells"].values()} == {"not run"}
    assert document["counts"]["violated"] == 1
    assert document["counts"]["not run"] == len(CHECKS)


def test_a_version_that_cannot_be_installed_is_not_run_and_the_matrix_inconclusive(
    mock_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, document, out = _matrix(mock_url, tmp_path, capsys, f"{INSTALLED},{MISSING}")
    assert code == 3, out
    last = out.splitlines()[-1]
    assert last.startswith(f"verdict: INCONCLUSIVE: 1 of 2 SDK versions could not run (python {MISSING}: could not ")
    assert "conclusive once every version installs" in last
    assert document["verdict"] == "inconclusive"
    ran, missing = document["rows"]
    assert ran["error"] is None
    assert ran["failed_by_api"] == []
    assert missing["error"].startswith(f"could not install openai {MISSING}")
    for check, cell in missing["cells"].items():
        assert (cell["status"], cell["outcome"]) == ("not run", "not run"), check
        assert cell["detail"] == missing["error"]
    assert f"py {MISSING}: not run: could not install openai {MISSING}" in out
    table = [line for line in out.splitlines() if line.startswith(tuple(f"{c.id} " for c in CHECKS))]
    assert len(table) == len(CHECKS)
    assert all(line.endswith("not run") for line in table), "the missing version's column: never hazard, never ok"
    assert "(0 environments installed)" in out, "one that failed to install was not installed"
    page = (tmp_path / "index.html").read_text()
    assert 'class="verdict inconclusive"' in page
    assert f"python {MISSING}: could not install openai {MISSING}" in page


def test_a_matrix_where_every_install_failed_is_inconclusive_never_0(
    mock_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, document, out = _matrix(mock_url, tmp_path, capsys, f"{MISSING},9.9.8")
    assert code == 3, out
    assert out.splitlines()[-1].startswith("verdict: INCONCLUSIVE: 2 of 2 SDK versions could not run")
    assert document["counts"] == {"held": 0, "violated": 0, "deviation": 0, "skipped": 0, "not run": 2 * len(CHECKS)}


def test_node_versions_asked_for_by_name_without_node_are_not_run(
    mock_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(envs.NodeEnvs, "available", staticmethod(lambda: False))
    argv = ["sdk-matrix", "--base-url", mock_url + "/v1", "--api-key", KEY, "--python", "", "--node", "4.104.0",
            "--report-dir", str(tmp_path), "--cache-dir", str(tmp_path / "cache")]  # fmt: skip
    assert main(argv) == 3
    out = capsys.readouterr().out
    assert out.splitlines()[-1].startswith("verdict: INCONCLUSIVE: 1 of 1 SDK versions could not run (node 4.104.0: "
                                           "Node.js or npm is not installed)")  # fmt: skip
    (row,) = json.loads((tmp_path / "sdk-matrix.json").read_text())["rows"]
    assert {c["outcome"] for c in row["cells"].values()} == {"not run"}


def test_a_bad_flag_exits_2_before_anything_runs(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["sdk-matrix", "--python", "1.x", "--api-key", KEY, "--report-dir", str(tmp_path / "r")]) == 2
    assert "--python: expected versions like 1.40.0 or 'latest', got '1.x'" in capsys.readouterr().err
    assert main(["sdk-matrix", "--jobs", "0", "--api-key", KEY, "--report-dir", str(tmp_path / "r")]) == 2
    assert "--jobs: expected 1 or more, got 0" in capsys.readouterr().err
    assert not (tmp_path / "r").exists()


def _row(**outcomes: str) -> dict[str, Any]:
    cells = {check: {"outcome": outcome, "detail": "seen"} for check, outcome in outcomes.items()}
    return {"language": "python", "version": "1.40.0", "requested": "1.40.0", "error": None, "cells": cells}


@pytest.mark.parametrize(
    ("rows", "status", "reason"),
    [
        pytest.param([], "inconclusive", "nothing was checked", id="no-rows"),
        pytest.param([_row(a="skipped", b="skipped")], "inconclusive", "nothing was checked", id="all-skipped"),
        pytest.param([_row(a="held", b="deviation")], "pass", None, id="held-and-hazard"),
        pytest.param([_row(a="deviation")], "pass", None, id="only-a-hazard-still-checked"),
        pytest.param(
            [_row(a="held", b="not run")],
            "inconclusive",
            "1 checks could not run (python 1.40.0 b: seen)",
            id="one-check-not-run",
        ),  # fmt: skip
        pytest.param(
            [_row(a="violated", b="not run")],
            "fail",
            "the API fails checks it answers for with: python 1.40.0",
            id="violated-beats-not-run",
        ),  # fmt: skip
    ],
)
def test_the_matrix_verdict_follows_the_shared_rule(
    rows: list[dict[str, Any]], status: str, reason: str | None
) -> None:
    judged = judge(rows)
    assert judged.status == status
    assert judged.exit_code == {"pass": 0, "fail": 1, "inconclusive": 3}[status]
    assert (judged.reasons[0] if judged.reasons else None) == reason
    assert sum(counts(rows).values()) == sum(len(r["cells"]) for r in rows)


def _document(*rows: dict[str, Any]) -> dict[str, Any]:
    return {"rows": list(rows)}


@pytest.mark.parametrize(
    ("sdk", "status", "reason"),
    [
        pytest.param(None, "pass", None, id="no-sdk-phase"),
        pytest.param(_document(_row(a="held", b="deviation")), "pass", None, id="sdk-pass"),
        pytest.param(
            _document(_row(a="held", b="not run")),
            "inconclusive",
            "sdk: 1 checks could not run (python 1.40.0 b: seen)",
            id="sdk-inconclusive",
        ),  # fmt: skip
        pytest.param(_document(), "inconclusive", "sdk: nothing was checked", id="sdk-checked-nothing"),
        pytest.param(
            _document(_row(a="violated")),
            "fail",
            "sdk: the API fails checks it answers for with: python 1.40.0",
            id="sdk-fail",
        ),  # fmt: skip
    ],
)
def test_slowcheck_run_combines_the_sdk_phase_verdict(
    sdk: dict[str, Any] | None, status: str, reason: str | None
) -> None:
    """`slowcheck run`'s phases combined: every contract rule held, no load; the SDK phase decides."""
    from slowcheck.contract.rules import RULES
    from slowcheck.findings import Outcome, Result
    from slowcheck.run.command import _judge

    held = [Result(rule, Outcome.HELD) for rule in RULES.values()]
    phase = None if sdk is None else judge(sdk["rows"])  # what the SDK phase's run holds as its verdict
    judged = _judge(held, SimpleNamespace(plan=None), {}, phase)  # type: ignore[arg-type]
    assert judged.status == status
    assert judged.exit_code == {"pass": 0, "fail": 1, "inconclusive": 3}[status]
    assert (judged.reasons[0] if judged.reasons else None) == reason
