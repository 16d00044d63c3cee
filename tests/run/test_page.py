"""The main job's page for runs that skipped phases: nothing measured is said, not rendered as a crash."""

from __future__ import annotations

import json
from pathlib import Path

from slowcheck.run.page import write_page


def test_a_run_without_load_or_sdk_renders(tmp_path: Path) -> None:
    rules = [
        {"id": "ACK-SHAPE", "group": "ack", "title": "The ack validates.", "source": "documented",
         "outcome": "violated", "message": "created is in seconds", "request": {"body": {"model": "m"}},
         "response": {"status": 200, "body": {"created": 1}}, "seconds": 0.1},
        {"id": "ACK-FAST", "group": "ack", "title": "Acks are fast.", "source": "inferred", "outcome": "held",
         "message": "", "request": None, "response": None, "seconds": 0.1},
    ]  # fmt: skip
    (tmp_path / "results.json").write_text(json.dumps({"rules": rules}))
    summary = {
        "verdict": "fail",
        "reasons": ["1 contract rules violated"],
        "target": "https://api.example.test/v1",
        "generated_at": "2026-11-25T20:00:00+00:00",
        "duration_s": 12.0,
        "contract": {"counts": {"held": 1, "violated": 1, "deviation": 0, "skipped": 0, "not run": 0}, "rules": 2},
        "load": {},
        "sdk": None,
        "settings": {"load_seconds": 0.0, "thresholds": []},
        "slowcheck": "0.1.0",
    }
    write_page(tmp_path / "index.html", summary, results_path=tmp_path / "results.json")
    page = (tmp_path / "index.html").read_text()
    assert "FAIL: 1 contract rules violated." in page
    assert page.index("ACK-SHAPE") < page.index("ACK-FAST"), "violations come first"
    assert "the failing example" in page
    assert "&#34;created&#34;: 1" in page, "the failing response is shown, escaped"
    assert "No load phase ran" in page
    assert "No SDK check ran." in page


def test_every_finding_and_the_noise_met_are_on_the_page(tmp_path: Path) -> None:
    findings = [
        {"outcome": "deviation", "message": "five stop strings: accepted", "request": {"stop": "abcde"},
         "response": {"status": 200}},
        {"outcome": "deviation", "message": "max_tokens as a string: accepted", "request": {"max_tokens": "8"},
         "response": {"status": 200}},
    ]  # fmt: skip
    rules = [
        {"id": "REQ-INVALID-4XX", "group": "validation", "title": "Bad bodies get a 4xx.", "source": "documented",
         "outcome": "deviation", "message": "five stop strings: accepted (and 1 more)", "request": {"stop": "abcde"},
         "response": {"status": 200}, "findings": findings, "seconds": 0.1},
    ]  # fmt: skip
    (tmp_path / "results.json").write_text(json.dumps({"rules": rules}))
    conditions = {
        "requests": 180,
        "transient": {"count": 3, "by_answer": {"503": 2, "ReadError": 1}, "requests_retried": 3,
                      "requests_cleared": 3, "examples": []},
        "rate_limited": 2,
        "paced_per_minute": 108.0,
        "pace_learned": True,
    }  # fmt: skip
    summary = {
        "verdict": "pass",
        "reasons": [],
        "target": "https://api.example.test/v1",
        "generated_at": "2026-11-25T20:00:00+00:00",
        "duration_s": 12.0,
        "contract": {"counts": {"held": 0, "violated": 0, "deviation": 1, "skipped": 0, "not run": 0}, "rules": 1,
                     "conditions": conditions},
        "load": {},
        "sdk": None,
        "settings": {"load_seconds": 0.0, "thresholds": []},
        "slowcheck": "0.1.0",
    }  # fmt: skip
    write_page(tmp_path / "index.html", summary, results_path=tmp_path / "results.json")
    page = (tmp_path / "index.html").read_text()
    assert "deviation: max_tokens as a string: accepted" in page, "the second finding is shown, not only the first"
    assert "&#34;max_tokens&#34;: &#34;8&#34;" in page
    assert "3 transient failure(s) (2 × 503, 1 × ReadError), 3 of 3 request(s) retried through" in page
    assert "2 answered 429 and retried, then paced at 108" in page
