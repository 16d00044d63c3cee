"""The SDK matrix against the mock: real openai versions (Python via uv, Node via npm) in cached environments."""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path
from typing import Any

import pytest

from slowcheck.background import serve_in_background
from slowcheck.cli import main
from slowcheck.mock import MockSettings, Span, create_app
from slowcheck.sdk.pins import NODE_PINS, PYTHON_PINS
from tests.contract.broken import Broken, Exchange

pytestmark = pytest.mark.slow
KEY = "sk-FAKE-sdk-matrix-51d0"
PYTHON = "1.40.0,1.109.1"
NODE = "4.104.0"
"""The broken-API test's versions: one per band in which the probes' findings differ."""
TAG = f"py{sys.version_info.major}{sys.version_info.minor}"
HAS_NODE = shutil.which("node") is not None and shutil.which("npm") is not None


@pytest.fixture(scope="session")  # session: kept while the worker runs other modules between these tests
def cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("sdk-cache")


def _settings() -> MockSettings:
    return MockSettings(db=":memory:", api_keys=[KEY], queue_time=Span(0.1, 0.3), run_time=Span(0.1, 0.3))


def _mock(mutate: Any = None) -> Any:
    app = create_app(_settings())
    return serve_in_background(Broken(app, mutate) if mutate else app, name="test mock")


def _ready(cache: Path) -> set[tuple[str, str]]:
    """The environments the cache holds ready: (language, version)."""
    python = {
        ("python", p.parent.name.rsplit("-", 1)[1]) for p in cache.glob(f"python-{TAG}-openai-*/.slowcheck-ready")
    }
    node = {
        ("node", p.parent.name.removeprefix("openai-")) for p in cache.glob("node/node_modules/openai-*/package.json")
    }
    return python | node


def _run(
    url: str, folder: Path, cache: Path, capsys: pytest.CaptureFixture[str], *versions: str
) -> tuple[int, dict[str, Any], str]:
    ready = _ready(cache)
    argv = ["sdk-matrix", "--base-url", url + "/v1", "--batch-base-url", url + "/v1", "--api-key", KEY,
            "--report-dir", str(folder), "--cache-dir", str(cache), *versions]  # fmt: skip
    code = main(argv)
    out = capsys.readouterr().out
    document = json.loads((folder / "sdk-matrix.json").read_text())
    for row in document["rows"]:  # a cached environment is reused as it is; a missing one is installed
        installed = row["error"] is None and (row["language"], row["version"]) not in ready  # a failure installs none
        assert row["cold"] is installed, row["version"]
    return code, document, out


def _failed(document: dict[str, Any]) -> dict[str, set[str]]:
    return {
        f"{row['language']} {row['version']}": {c for c, cell in row["cells"].items() if cell["status"] == "failed"}
        for row in document["rows"]
    }


def test_every_pinned_version_passes_against_the_mock(
    tmp_path: Path, cache: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The default pins, all of them, as `slowcheck sdk-matrix` runs them without --python / --node."""
    with _mock() as url:
        code, document, out = _run(url, tmp_path, cache, capsys)
    assert code == 0, out
    assert HAS_NODE, "CI installs Node.js; the Node column must run"
    requested = [(r["language"], r["requested"]) for r in document["rows"]]
    assert requested == [("python", v) for v in PYTHON_PINS] + [("node", v) for v in NODE_PINS]
    failed = _failed(document)
    for row in document["rows"]:
        assert row["error"] is None
        assert row["failed_by_api"] == [], row
    # Hazards are shown, not hidden: no SDK sends an Idempotency-Key, so a retried POST enqueues twice; and
    # 1.0.0's client.get cannot read a bare JSON object.
    # Versions before client.batches (Python 1.0.0, Node 4.0.0) cannot run the batch flow; the Python SDK's
    # embeddings.create refuses an embedding list without data, which an async ack is, from 1.109.1 on.
    requested = {f"{r['language']} {r['version']}": f"{r['language']} {r['requested']}" for r in document["rows"]}
    failed = {requested[k]: v for k, v in failed.items()}
    assert failed.pop("python 1.0.0") == {"idempotency", "get-generation", "batch-flow"}
    assert failed.pop("node 4.0.0") == {"idempotency", "batch-flow"}
    for version in ("python 1.109.1", "python 2.54.0", "python latest"):
        assert failed.pop(version) == {"idempotency", "embeddings"}, version
    assert all(hazards == {"idempotency"} for hazards in failed.values()), failed
    cells = {f"{r['language']} {r['requested']}": r["cells"] for r in document["rows"]}
    assert "extra_body" in cells["python 1.40.0"]["metadata"]["detail"], "1.40.0 has no metadata= keyword"
    assert "metadata=" in cells["python 1.109.1"]["metadata"]["detail"]
    assert "followed retry-after-ms" in cells["python 1.40.0"]["retry-429"]["detail"]
    assert all(cells[f"node {v}"]["strict-parse"]["status"] == "n/a" for v in NODE_PINS)
    assert "AttributeError" in cells["python 1.0.0"]["batch-flow"]["detail"]
    assert "No embedding data received" in cells["python latest"]["embeddings"]["detail"]
    assert "http_response" in cells["python latest"]["embeddings"]["detail"], "the workaround is shown"
    assert cells["python 1.40.0"]["batch-flow"]["status"] == "passed"
    assert "files.content returned Response" in cells["node latest"]["batch-flow"]["detail"]
    assert out.splitlines()[-1] == "verdict: PASS"
    assert document["verdict"] == "pass"
    assert document["counts"]["not run"] == document["counts"]["violated"] == 0
    page = (tmp_path / "index.html").read_text()
    assert "PASS: every SDK version passes" in page
    assert KEY not in page + json.dumps(document) + out


def _broken(exchange: Exchange) -> tuple[int, Any] | None:
    """A mock that sends created in seconds, streams silently and forgets metadata."""
    body = exchange.body
    if exchange.method == "POST" and exchange.status == 200 and isinstance(body, dict) and "created" in body:
        return 200, body | {"created": body["created"] // 1000}
    if isinstance(exchange.request, dict) and exchange.request.get("stream") and exchange.status == 400:
        ack = {
            "id": "streamed-away",
            "object": "chat.completion",
            "created": 1749061362809,
            "model": "m",
            "choices": [],
        }
        return 200, ack
    if exchange.path.startswith("/v1/generation/") and isinstance(body, dict) and isinstance(body.get("request"), dict):
        request = {k: v for k, v in body["request"].items() if k != "metadata"}
        return 200, body | {"request": request}
    return None


def test_a_broken_api_turns_the_right_rows_red(tmp_path: Path, cache: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with _mock(_broken) as url:
        code, document, out = _run(url, tmp_path, cache, capsys, "--python", PYTHON, "--node", NODE)
    assert code == 1, out
    expected = {"created-ms", "stream-refused", "metadata"}
    for version, failed in _failed(document).items():
        sdk_side = {"embeddings"} if version == "python 1.109.1" else set()  # see the test above
        assert failed == expected | {"idempotency"} | sdk_side, version
    for row in document["rows"]:
        assert sorted(row["failed_by_api"]) == sorted(expected)
    failing = "python 1.40.0, python 1.109.1, node 4.104.0"
    assert out.splitlines()[-1] == f"verdict: FAIL: the API fails checks it answers for with: {failing}"
    assert "accepted: the SDK iterated 0 chunks and the id was lost" in out


def test_a_pin_pypi_does_not_have_is_not_run_and_the_matrix_inconclusive(
    tmp_path: Path, cache: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The real builder (uv asks PyPI): no openai 0.0.99 exists, so nothing is installed and nothing is held."""
    with _mock() as url:
        code, document, out = _run(url, tmp_path, cache, capsys, "--python", "0.0.99", "--node", "")
    assert code == 3, out
    (row,) = document["rows"]
    assert row["error"].startswith("could not install openai 0.0.99")
    assert "openai==0.0.99" in row["error"], "uv's own reason is kept"
    assert {c["outcome"] for c in row["cells"].values()} == {"not run"}
    assert out.splitlines()[-1].startswith("verdict: INCONCLUSIVE: 1 of 1 SDK versions could not run")


def test_versions_are_checked_before_anything_runs(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["sdk-matrix", "--python", "1.x", "--api-key", KEY]) == 2
    assert "--python: expected versions like 1.40.0 or 'latest', got '1.x'" in capsys.readouterr().err


def test_a_docs_shaped_api_passes_with_its_deviation_shown(
    tmp_path: Path, cache: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The server that follows only the public docs sends no x-request-id: a deviation, not a failure."""
    from tests.docs_server import Habits, create_app

    habits = Habits(completion_delay=0.5)
    with serve_in_background(create_app(habits)) as url:
        code = main(["sdk-matrix", "--base-url", url + "/v1", "--api-key", habits.keys[0], "--python", PYTHON,
                     "--node", "", "--report-dir", str(tmp_path), "--cache-dir", str(cache)])  # fmt: skip
    out = capsys.readouterr().out
    assert code == 0, out
    document = json.loads((tmp_path / "sdk-matrix.json").read_text())
    assert [r["version"] for r in document["rows"]] == PYTHON.split(",")
    for row in document["rows"]:
        assert row["failed_by_api"] == []
        assert row["cells"]["raw-headers"]["status"] == "deviation"
        assert row["cells"]["get-generation"]["status"] == "passed"
        assert row["cells"]["embeddings"]["status"] == "n/a", "the docs name no async embeddings path"
        assert row["cells"]["batch-flow"]["status"] == "n/a", "no --batch-base-url"
    assert "dev" in out
