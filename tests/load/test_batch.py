"""`slowcheck load batch`: one large batch uploaded, created and read until it ends; its figures and its
verdict on the result files."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from slowcheck.background import serve_in_background
from slowcheck.cli import main
from slowcheck.mock import create_app
from tests.conftest import fast_mock
from tests.contract.broken import Broken, Exchange, JsonLines

KEY = "sk-load-batch-7e21"


def _mock(mutate: Any = None) -> Any:
    settings = fast_mock(api_keys=[KEY], workers=64)
    app = create_app(settings)
    return serve_in_background(Broken(app, mutate) if mutate else app, name="batch mock")


@pytest.mark.slow
def test_a_generated_batch_against_the_embedded_mock(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["load", "batch", "--lines", "60", "--poll-interval", "0.2", "--report-dir", str(tmp_path),
                 "--threshold", "batch.answered.missing==0", "--threshold", "batch.to_completed_s<60"])  # fmt: skip
    out = capsys.readouterr().out
    assert code == 0, out
    summary = json.loads((tmp_path / "summary.json").read_text())
    batch = summary["batch"]
    assert (batch["status"], batch["lines"], batch["completed"]) == ("completed", 60, 60)
    assert batch["answered"] == {"output_lines": 60, "error_lines": 0, "missing": 0, "repeated": 0}
    assert batch["upload"]["lines_per_s"] > 0
    assert batch["bytes"] == (tmp_path / "input.jsonl").stat().st_size
    assert batch["timeline"][-1]["completed"] == 60
    assert [t["passed"] for t in summary["thresholds"]] == [True, True]
    assert "every custom_id answered once" in (tmp_path / "index.html").read_text()
    assert "60 lines" in out
    assert "sk-slowcheck-" not in out + (tmp_path / "summary.json").read_text()


def _twice(exchange: Exchange) -> tuple[int, Any] | None:
    return (200, JsonLines([*exchange.body, exchange.body[0]])) if isinstance(exchange.body, JsonLines) else None


@pytest.mark.slow
def test_a_line_answered_twice_breaches_and_is_shown(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    given = tmp_path / "mine.jsonl"
    body = {"model": "m", "messages": [{"role": "user", "content": "Hello"}]}
    given.write_text("".join(json.dumps({"custom_id": f"c{i}", "method": "POST", "body": body}) + "\n"
                             for i in range(5)))  # fmt: skip
    with _mock(_twice) as url:
        code = main(["load", "batch", "--base-url", url + "/v1", "--batch-base-url", url + "/v1", "--api-key", KEY,
                     "--input", str(given), "--poll-interval", "0.1", "--report-dir", str(tmp_path / "r"),
                     "--threshold", "batch.errors==0"])  # fmt: skip
    out = capsys.readouterr().out
    assert code == 1, out
    summary = json.loads((tmp_path / "r" / "summary.json").read_text())
    assert summary["batch"]["answered"]["repeated"] == 1
    assert "1 answered twice" in out
    assert "BREACHED" in out


@pytest.mark.parametrize(
    ("argv", "says"),
    [
        pytest.param(["--threshold", "batch.nope<1"], "summary.json has no 'batch.nope'", id="threshold-path"),
        pytest.param(["--input", "/no/such.jsonl"], "--input /no/such.jsonl: cannot read it", id="missing-input"),
        pytest.param(["--lines", "0"], "--lines: expected 1 or more", id="no-lines"),
        pytest.param(
            ["--base-url", "http://127.0.0.1:9/v1", "--api-key", KEY], "give --batch-base-url", id="no-batch-url"
        ),  # fmt: skip
    ],
)
def test_usage_errors_are_one_line_and_exit_2(
    argv: list[str], says: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["load", "batch", "--report-dir", str(tmp_path), *argv])
    err = capsys.readouterr().err
    assert code == 2
    assert says in err
    assert err.count("\n") == 1


@pytest.mark.slow
def test_an_upload_refused_by_the_upload_limit_is_waited_out_and_named(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The docs-shaped Batch host takes one upload a minute; the run's upload comes second in that minute."""
    import httpx

    from slowcheck.load import batch as load_batch
    from tests.docs_server import Habits, create_batch_app

    clock = [1_000_000.0]
    slept: list[float] = []

    def sleep(seconds: float) -> None:  # the host's clock moves as the run waits: no minute really passes
        slept.append(seconds)
        clock[0] += seconds

    app = create_batch_app(Habits(upload_interval=60.0, completion_delay=1.0, clock=lambda: clock[0]))
    source = tmp_path / "in.jsonl"
    load_batch.generated_file(source, 3, "inference-net/load-test")
    with serve_in_background(app, name="batch host") as url:
        first = httpx.post(url + "/v1/files", headers={"Authorization": "Bearer sk-docs-one"},
                           files={"file": ("a.jsonl", source.read_bytes())}, data={"purpose": "batch"})  # fmt: skip
        assert first.status_code == 200
        monkeypatch.setattr(load_batch.time, "sleep", sleep)
        summary = load_batch.run(url, "docs batch host", "sk-docs-one", input_file=source, poll_interval=1.0,
                                 timeout=60, thresholds=[], report_dir=tmp_path / "report")  # fmt: skip
    assert summary["limits"]["met"] == "upload"
    assert summary["limits"]["counts"]["upload"] == 1 == app.state.sent["429"]
    assert slept[0] == 60, "the Retry-After was honoured"
    assert summary["batch"]["status"] == "completed"
