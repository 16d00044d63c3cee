"""`slowcheck proxy` as a user runs it: traffic through it, Ctrl-C, the report, the exit code; and the
recording judged offline by `slowcheck contract --from-recording`."""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from slowcheck.cli import main
from slowcheck.mock.server import mock_in_background
from tests.conftest import fast_mock
from tests.proxy.test_proxy import KEY, MODEL, _wait

REPO = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.slow


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _until_listening(port: int, process: subprocess.Popen[str]) -> None:
    """The proxy prints its address once it listens: read up to that line."""
    assert process.stdout is not None
    for line in process.stdout:
        if f"127.0.0.1:{port}/v1" in line:
            return
    raise AssertionError(f"the proxy never listened: {process.stderr.read() if process.stderr else ''}")


def test_ctrl_c_writes_the_report_and_the_exit_code_follows_fail_on(tmp_path: Path) -> None:
    port = _free_port()
    folder, recording = tmp_path / "report", tmp_path / "traffic.jsonl"
    settings = fast_mock(port=0, api_keys=[KEY], models=[MODEL])
    with mock_in_background(settings) as url:
        process = subprocess.Popen(
            [sys.executable, "-m", "slowcheck", "proxy", "--upstream", url + "/v1", "--port", str(port),
             "--record", str(recording), "--report-dir", str(folder)],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=REPO,
        )  # fmt: skip
        try:
            _until_listening(port, process)
            with httpx.Client(base_url=f"http://127.0.0.1:{port}/v1", headers={"Authorization": f"Bearer {KEY}"}) as c:
                body = {"model": MODEL, "messages": [{"role": "user", "content": "hi"}], "stream": True}
                refused = c.post("/slow/chat/completions", json=body)
                ack = c.post("/slow/chat/completions", json=body | {"stream": False}).json()
                _wait(c, ack["id"])
            process.send_signal(signal.SIGINT)
            out, err = process.communicate(timeout=30)
        finally:
            if process.poll() is None:
                process.kill()
    assert refused.status_code == 400, "the mock's own answer to stream: true came through"
    assert process.returncode == 1, out + err
    assert "client violated  CLIENT-NO-STREAM" in out
    assert out.strip().splitlines()[-1].startswith("verdict: FAIL")
    summary = json.loads((folder / "summary.json").read_text())
    assert summary["finding_counts"] == {"client": 1, "api": 0}
    assert [f["check"] for f in summary["findings"]["client"]] == ["CLIENT-NO-STREAM"]
    for name in ("index.html", "results.json", "junit.xml"):
        assert (folder / name).is_file()
    for path in [*folder.iterdir(), recording]:
        assert KEY not in path.read_text(), f"the key reached {path.name}"
    # Judged offline, the recording finds the same; --strict changes nothing here (no deviation).
    code = main(["contract", "--from-recording", str(recording), "--report-dir", str(tmp_path / "offline")])
    assert code == 1
    offline = json.loads((tmp_path / "offline" / "summary.json").read_text())
    assert offline["finding_counts"] == summary["finding_counts"]
    assert offline["figures"]["exchanges"] == summary["figures"]["exchanges"]


@pytest.mark.parametrize(
    ("argv", "says"),
    [
        (["proxy", "--upstream", "ftp://x"], "--base-url must be an http(s) URL"),
        (["proxy", "--port", "70000"], "--port: expected a port"),
        (["proxy", "--webhook-forward", "x"], "--webhook-forward: expected an http(s) URL"),
        (["proxy", "--metrics-port", "host:"], "--metrics-port: expected PORT or HOST:PORT"),
        (["contract", "--from-recording", "/nonexistent.jsonl"], "--from-recording /nonexistent.jsonl: No such"),
    ],
)
def test_bad_proxy_options_are_one_line_errors(capsys: pytest.CaptureFixture[str], argv: list[str], says: str) -> None:
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert says in err
    assert err.count("\n") == 1


def test_a_file_that_is_no_recording_is_refused_by_name(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    bogus = tmp_path / "x.jsonl"
    bogus.write_text('{"slowcheck_recording": 9}\n')
    assert main(["contract", "--from-recording", str(bogus), "--report-dir", str(tmp_path / "r")]) == 2
    assert "format 9, this slowcheck reads 1" in capsys.readouterr().err
