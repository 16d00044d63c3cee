"""A baseline of accepted findings (``--baseline``): fingerprints stable over runs, accepted, expired, pending and
fixed entries, ``--update-baseline``, and a bad file told in one line."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest

from slowcheck import api
from slowcheck.background import serve_in_background
from slowcheck.baseline import Baseline, fingerprint, normalise, status_of, today, waived
from slowcheck.checks.report import verdict, write_results
from slowcheck.cli import main
from slowcheck.contract.command import known_ids
from slowcheck.contract.plan import ContractPlan
from slowcheck.contract.rules import RULES
from slowcheck.contract.runner import run_suite
from slowcheck.errors import ConfigError
from slowcheck.findings import Outcome, Result
from slowcheck.inprocess import ROOT, in_process
from slowcheck.mock import MockSettings, create_app
from slowcheck.mock.app import DEFAULT_MODELS
from slowcheck.proxy import report
from slowcheck.proxy.recording import Recorder, Relayed
from tests.conftest import fast_mock
from tests.contract.broken import Broken, Exchange
from tests.proxy.test_judge import Traffic

KEYS = ["sk-baseline-one-1111", "sk-baseline-two-2222"]
BROKEN_RULE = "ACK-CREATED-MS"


def _seconds(exchange: Exchange) -> tuple[int, Any] | None:
    """One broken promise: the ack's ``created`` in seconds, not milliseconds (a number that moves every run)."""
    acked = exchange.method == "POST" and exchange.status == 200 and exchange.path == api.CHAT
    return (200, exchange.body | {"created": exchange.body["created"] // 1000}) if acked else None


def _mock() -> MockSettings:
    return fast_mock(api_keys=KEYS, models=list(DEFAULT_MODELS))


def _judged(*rules: str) -> list[Result]:
    """The rules judged against the broken app, in this process."""
    plan = ContractPlan(rules=tuple(RULES[r] for r in rules), base_url=ROOT + "/v1", api_key=KEYS[0],
                        second_api_key=KEYS[1], completion_timeout=5)  # fmt: skip
    with in_process(Broken(create_app(_mock()), _seconds)) as transport:
        return run_suite(plan, transport=transport).results


def _write(path: Path, document: Any) -> Path:
    path.write_text(json.dumps(document), encoding="utf-8")
    return path


def _entry(rule: str, print_: str, expires: date, reason: str = "the provider fixes it in Q3") -> dict[str, str]:
    return {"rule": rule, "fingerprint": print_, "reason": reason, "expires": expires.isoformat()}


# Fingerprints


def test_a_findings_fingerprint_is_the_same_over_two_runs_of_the_same_broken_target() -> None:
    first, second = _judged(BROKEN_RULE)[0], _judged(BROKEN_RULE)[0]
    assert first.outcome is second.outcome is Outcome.VIOLATED
    assert first.message != second.message, "the message carries the client's clock in ms: it moves"
    baseline = Baseline(Path("unused.json"))
    baseline.judge(first)
    baseline.judge(second)
    assert first.findings[0]["fingerprint"] == second.findings[0]["fingerprint"]
    assert first.findings[0]["fingerprint"] == fingerprint(BROKEN_RULE, second.message)
    assert fingerprint("ACK-SHAPE", first.message) != fingerprint(BROKEN_RULE, first.message), "the rule is in it"


@pytest.mark.parametrize(
    ("one", "other"),
    [
        pytest.param("TP8E48MrRhmtVPulLjkvQ: went from In Progress to Queued",
                     "TP8E48Qc_MMwrCVYB6-i6: went from In Progress to Queued", id="generation-ids"),
        pytest.param("created=1796623074 is not within 5 minutes of the client's clock in ms (1796623074473)",
                     "created=1796623099 is not within 5 minutes of the client's clock in ms (1796623099617)",
                     id="epoch-numbers"),
        pytest.param("the ack took 2.06 s", "the ack took 3.71 s", id="durations"),
        pytest.param("usage does not add up: {'prompt_tokens': 7, 'completion_tokens': 10, 'total_tokens': 18}",
                     "usage does not add up: {'prompt_tokens': 4, 'completion_tokens': 3, 'total_tokens': 9}",
                     id="bodies"),
        pytest.param("request 3f2c9a1e-8d7b-4c6a-9e5f-0a1b2c3d4e5f at 2026-12-07T05:51:27.123Z failed",
                     "request 0d9e8f7a-1b2c-4d3e-8f9a-b0c1d2e3f4a5 at 2026-12-08T11:02:03Z failed", id="uuid-and-time"),
    ],
)  # fmt: skip
def test_what_moves_between_runs_is_normalised_away(one: str, other: str) -> None:
    assert normalise(one) == normalise(other)


def test_what_tells_findings_apart_is_kept() -> None:
    assert normalise("submit without a key: expected 401, got 200") != normalise(
        "submit without a key: expected 401, got 500"
    )
    assert normalise("$.messages[0].role: 'x' is not valid") != normalise("$.messages[1].role: 'x' is not valid")
    assert normalise("finish_reason 'eos' is not one of […]") != normalise("finish_reason 'end' is not one of […]")


# Judging against a baseline (no socket)


def test_an_accepted_finding_does_not_fail_the_verdict_and_an_expired_one_does(tmp_path: Path) -> None:
    results = _judged(BROKEN_RULE, "ACK-SHAPE", "ACK-MODEL-ECHO")
    broken = {r.rule.id: r for r in results if r.outcome is Outcome.VIOLATED}
    assert verdict(results).exit_code == 1
    entries = [_entry(rule, fingerprint(rule, r.message), today()) for rule, r in broken.items()]
    Baseline.load(_write(tmp_path / "b.json", {"accepted": entries}), RULES).judge_all(results)
    assert all(waived(r) for r in broken.values())
    assert status_of(broken[BROKEN_RULE]) == {"status": "accepted", "reason": "the provider fixes it in Q3",
                                              "expires": today().isoformat()}  # fmt: skip
    assert verdict(results).exit_code == 0, "an entry holds through its expiry date"

    results = _judged(BROKEN_RULE, "ACK-SHAPE", "ACK-MODEL-ECHO")
    yesterday = [e | {"expires": (today() - timedelta(days=1)).isoformat()} for e in entries]
    Baseline.load(_write(tmp_path / "b.json", {"accepted": yesterday}), RULES).judge_all(results)
    assert {status_of(r)["status"] for r in results if status_of(r)} == {"expired"}  # type: ignore[index]
    assert verdict(results).exit_code == 1


def test_a_pending_rules_violation_does_not_fail(tmp_path: Path) -> None:
    results = _judged(BROKEN_RULE, "ACK-SHAPE")
    failing = sorted(r.rule.id for r in results if r.outcome is Outcome.VIOLATED)
    assert failing
    baseline = Baseline.load(_write(tmp_path / "b.json", {"pending": failing}), RULES)
    baseline.judge_all(results)
    assert verdict(results).status == "pass"
    assert baseline.document() == {"file": str(tmp_path / "b.json"), "accepted": 0, "expired": 0,
                                   "pending": len(failing), "fixed": []}  # fmt: skip


def test_listing_a_rule_as_pending_never_revives_its_expired_entry(tmp_path: Path) -> None:
    results = _judged(BROKEN_RULE)
    (broken,) = [r for r in results if r.outcome is Outcome.VIOLATED]
    expired = _entry(BROKEN_RULE, fingerprint(BROKEN_RULE, broken.message), today() - timedelta(days=1))
    Baseline.load(_write(tmp_path / "b.json", {"accepted": [expired], "pending": [BROKEN_RULE]}), RULES).judge_all(
        results
    )
    assert status_of(broken)["status"] == "expired"  # type: ignore[index]
    assert verdict(results).exit_code == 1


def test_every_finding_in_results_json_has_its_fingerprint_without_a_baseline(tmp_path: Path) -> None:
    results = _judged(BROKEN_RULE)
    write_results(tmp_path / "results.json", results, target="t", duration=0.1)
    rules = json.loads((tmp_path / "results.json").read_text())["rules"]
    (rule,) = [r for r in rules if r["id"] == BROKEN_RULE]
    assert rule["findings"]
    for finding in rule["findings"]:
        assert finding["fingerprint"] == fingerprint(BROKEN_RULE, finding["message"])


def test_an_entry_no_finding_matches_is_reported_fixed(tmp_path: Path) -> None:
    results = _judged("ACK-MODEL-ECHO")  # holds: the breakage leaves the model alone
    gone = _entry("ACK-MODEL-ECHO", "0123456789ab", today() + timedelta(days=9))
    baseline = Baseline.load(_write(tmp_path / "b.json", {"accepted": [gone]}), RULES)
    baseline.judge_all(results)
    assert baseline.document()["fixed"] == [{"rule": "ACK-MODEL-ECHO", "fingerprint": "0123456789ab",
                                             "reason": "the provider fixes it in Q3"}]  # fmt: skip
    assert "fixed: ACK-MODEL-ECHO 0123456789ab (the provider fixes it in Q3): no longer found; remove it" in "\n".join(
        baseline.lines()
    )


def test_an_entry_of_a_rule_that_did_not_run_is_neither_accepted_nor_fixed(tmp_path: Path) -> None:
    skipped = Result(RULES["LIFE-USAGE-SUM"], Outcome.SKIPPED, "--completion-timeout 0")
    baseline = Baseline.load(_write(tmp_path / "b.json", {"accepted": [_entry("LIFE-USAGE-SUM", "ab", today())]}),
                             RULES)  # fmt: skip
    baseline.judge_all([skipped])
    assert baseline.document() == {"file": str(tmp_path / "b.json"), "accepted": 0, "expired": 0, "pending": 0,
                                   "fixed": []}  # fmt: skip


@pytest.mark.parametrize("suffix", [".json", ".toml"])
def test_update_keeps_what_still_matches_and_dates_what_is_new(tmp_path: Path, suffix: str) -> None:
    results = _judged(BROKEN_RULE, "ACK-SHAPE", "ACK-MODEL-ECHO")
    failing = [r for r in results if r.outcome is Outcome.VIOLATED]
    kept = _entry(BROKEN_RULE, fingerprint(BROKEN_RULE, failing[0].message), today() + timedelta(days=3))
    gone = _entry("ACK-MODEL-ECHO", "0123456789ab", today())
    unjudged = _entry("LIFE-USAGE-SUM", "ba9876543210", today())
    path = tmp_path / f"baseline{suffix}"
    _write(tmp_path / "seed.json", {"accepted": [kept, gone, unjudged], "pending": ["LIFE-FINISHES"]})
    baseline = Baseline.load(tmp_path / "seed.json", RULES)
    baseline.path = path
    new_ones = len({fingerprint(r.rule.id, f["message"]) for r in failing for f in r.findings}) - 1
    assert baseline.update(results) == (2, new_ones)
    written = Baseline.load(path, RULES)
    assert written.pending == {"LIFE-FINISHES"}
    by_rule = {e.rule: e for e in written.entries}
    assert (by_rule[BROKEN_RULE].reason, by_rule[BROKEN_RULE].expires.isoformat()) == (kept["reason"], kept["expires"])
    assert "ACK-MODEL-ECHO" not in by_rule, "an entry no longer found is dropped"
    assert by_rule["LIFE-USAGE-SUM"].fingerprint == "ba9876543210", "an entry of a rule that did not run stays"
    new = [e for e in written.entries if e.rule not in (BROKEN_RULE, "LIFE-USAGE-SUM")]
    assert new
    assert all(e.reason == "TODO" and e.expires == today() + timedelta(days=30) for e in new)


# A bad file: one line, exit 2


@pytest.mark.parametrize(
    ("name", "text", "said"),
    [
        pytest.param("b.json", '{"accepted": [', "not valid JSON", id="json-syntax"),
        pytest.param("b.toml", "accepted = [", "not valid TOML", id="toml-syntax"),
        pytest.param("b.json", '{"accepted": [{"rule": "ACK-SHAPE", "fingerprint": "ab", "reason": "r"}]}',
                     "accepted entry 1: missing 'expires'", id="missing-field"),
        pytest.param("b.json", '{"accepted": [{"rule": "ACK-SHAPE", "fingerprint": "ab", "reason": "r", '
                     '"expires": "next week"}]}', "expected an ISO date", id="bad-date"),
        pytest.param("b.toml", '[[accepted]]\nrule = "ACK-NOPE"\nfingerprint = "ab"\nreason = "r"\n'
                     "expires = 2027-01-31\n", "unknown rule id 'ACK-NOPE'", id="unknown-rule"),
        pytest.param("b.json", '{"pending": ["NOPE"]}', "pending: unknown rule id 'NOPE'", id="unknown-pending"),
        pytest.param("b.json", '{"acepted": []}', "expected a table of 'accepted' and 'pending'", id="unknown-key"),
        pytest.param("missing.json", None, "cannot read --baseline", id="missing-file"),
    ],
)  # fmt: skip
def test_a_bad_baseline_is_one_line_and_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], name: str, text: str | None, said: str
) -> None:
    path = tmp_path / name
    if text is not None:
        path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError, match=said):
        Baseline.load(path, known_ids())
    code = main(["contract", "--baseline", str(path), "--report-dir", str(tmp_path / "report")])
    captured = capsys.readouterr()
    assert code == 2
    assert said in captured.err
    assert len(captured.err.strip().splitlines()) == 1
    assert not (tmp_path / "report").exists(), "nothing ran"


def test_update_baseline_needs_the_file(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["contract", "--update-baseline"]) == 2
    assert "--update-baseline: name the file with --baseline FILE" in capsys.readouterr().err


# The command against a target with one broken promise (a real socket)


@pytest.fixture(scope="module")
def broken_url() -> Iterator[str]:
    with serve_in_background(Broken(create_app(_mock()), _seconds)) as url:
        yield url + "/v1"


def _contract(url: str, folder: Path, *flags: str) -> int:
    return main(["contract", "--base-url", url, "--api-key", KEYS[0], "--report-dir", str(folder),
                 "--completion-timeout", "0", *flags])  # fmt: skip


def _rules(folder: Path) -> dict[str, Any]:
    return {r["id"]: r for r in json.loads((folder / "results.json").read_text())["rules"]}


@pytest.mark.slow
def test_a_broken_promise_fails_until_baselined_then_passes_shown_accepted(
    broken_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    file = tmp_path / "baseline.json"
    # When: a run with no baseline yet writes one
    assert _contract(broken_url, tmp_path / "one", "--baseline", str(file), "--update-baseline") == 1
    out = capsys.readouterr().out
    assert f"VIOLATED  {BROKEN_RULE}" in out
    assert "new (reason 'TODO', expires" in out
    written = json.loads(file.read_text())["accepted"]
    assert BROKEN_RULE in {e["rule"] for e in written}
    # Then: the next run with it passes, the finding shown accepted, in the terminal and in results.json
    assert _contract(broken_url, tmp_path / "two", "--baseline", str(file)) == 0
    out = capsys.readouterr().out
    assert f"accepted  {BROKEN_RULE}" in out
    assert "accepted (baseline: TODO)" in out
    counted = re.search(r"(\d+) violated \((\d+) accepted by the baseline\)", out)
    assert counted, out
    assert counted[1] == counted[2], "every violated rule is accepted, and the counts line says so"
    assert "verdict: PASS" in out
    rule = _rules(tmp_path / "two")[BROKEN_RULE]
    assert (rule["outcome"], rule["baseline"]["status"]) == ("violated", "accepted")
    assert rule["findings"][0]["fingerprint"] in {e["fingerprint"] for e in written}
    document = json.loads((tmp_path / "two" / "results.json").read_text())
    assert document["verdict"] == "pass"
    assert document["baseline"] == {"file": str(file), "accepted": len(written), "expired": 0, "pending": 0,
                                    "fixed": []}  # fmt: skip


@pytest.mark.slow
def test_an_expired_entry_fails_again_and_says_so(
    broken_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    file = tmp_path / "baseline.json"
    assert _contract(broken_url, tmp_path / "one", "--baseline", str(file), "--update-baseline") == 1
    document = json.loads(file.read_text())
    for entry in document["accepted"]:
        entry["expires"] = "2020-01-31"
    file.write_text(json.dumps(document))
    capsys.readouterr()
    assert _contract(broken_url, tmp_path / "two", "--baseline", str(file)) == 1
    out = capsys.readouterr().out
    assert f"VIOLATED  {BROKEN_RULE}" in out
    assert "baseline entry expired 2020-01-31 (TODO)" in out
    assert _rules(tmp_path / "two")[BROKEN_RULE]["baseline"]["status"] == "expired"


@pytest.mark.slow
def test_pending_rules_are_reported_and_never_fail(
    broken_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert _contract(broken_url, tmp_path / "one") == 1
    failing = [i for i, r in _rules(tmp_path / "one").items() if r["outcome"] == "violated"]
    file = tmp_path / "baseline.toml"
    file.write_text(f"pending = {json.dumps(failing)}\n", encoding="utf-8")
    capsys.readouterr()
    assert _contract(broken_url, tmp_path / "two", "--baseline", str(file)) == 0
    out = capsys.readouterr().out
    assert f"pending   {BROKEN_RULE}" in out
    assert _rules(tmp_path / "two")[BROKEN_RULE]["baseline"]["status"] == "pending"


@pytest.mark.slow
def test_a_baselined_finding_the_healthy_target_no_longer_shows_is_reported_fixed(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    file = _write(tmp_path / "baseline.json", {"accepted": [_entry(BROKEN_RULE, "0123456789ab", today())]})
    with serve_in_background(create_app(_mock())) as url:
        assert _contract(url + "/v1", tmp_path / "run", "--baseline", str(file)) == 0
    out = capsys.readouterr().out
    assert f"fixed: {BROKEN_RULE} 0123456789ab (the provider fixes it in Q3): no longer found; remove it" in out
    fixed = json.loads((tmp_path / "run" / "results.json").read_text())["baseline"]["fixed"]
    assert fixed == [{"rule": BROKEN_RULE, "fingerprint": "0123456789ab", "reason": "the provider fixes it in Q3"}]


# The proxy: the same baseline over its findings


def test_the_proxy_report_reads_the_baseline(tmp_path: Path) -> None:
    traffic = Traffic()
    traffic.submit()
    assert traffic.send("GET", "/v1/generation/G1", 500, None, {"detail": "boom"}) == ["API-ERROR-ENVELOPE"]
    assert report.write(tmp_path / "plain", traffic.judge, target="t", duration=1.0, fail_on="violation").exit_code == 1
    message = "HTTP 500 without the OpenAI error envelope"
    entry = _entry("API-ERROR-ENVELOPE", fingerprint("API-ERROR-ENVELOPE", message), today())
    baseline = Baseline.load(_write(tmp_path / "b.json", {"accepted": [entry]}), known_ids())
    judged = report.write(tmp_path / "based", traffic.judge, target="t", duration=1.0, fail_on="violation",
                          baseline=baseline)  # fmt: skip
    assert judged.status == "pass"
    document = json.loads((tmp_path / "based" / "results.json").read_text())
    assert {r["id"]: r["baseline"] for r in document["rules"]}["API-ERROR-ENVELOPE"]["status"] == "accepted"
    assert document["baseline"]["accepted"] == 1


@pytest.mark.parametrize("command", ["run", "proxy"])
def test_run_and_proxy_refuse_a_bad_baseline_before_starting(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], command: str
) -> None:
    path = _write(tmp_path / "b.json", {"accepted": [_entry("NOPE", "ab", today())]})
    assert main([command, "--baseline", str(path), "--report-dir", str(tmp_path / "report")]) == 2
    err = capsys.readouterr().err
    assert "accepted entry 1: unknown rule id 'NOPE'" in err
    assert not (tmp_path / "report").exists()


class _Tape:
    """In the judge's place: each exchange of the traffic goes to a recording instead."""

    def __init__(self, recorder: Recorder) -> None:
        self.recorder = recorder

    def judge(self, exchange: Relayed) -> list[Any]:
        self.recorder.write(exchange)
        return []


def test_a_recording_judged_offline_reads_the_baseline(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    traffic = Traffic()
    recorder = Recorder(tmp_path / "traffic.jsonl", "https://api.example/v1", traffic.clock)
    traffic.judge = _Tape(recorder)  # type: ignore[assignment]
    traffic.submit()
    traffic.send("GET", "/v1/generation/G1", 500, None, {"detail": "boom"})
    recorder.close()
    offline = ["contract", "--from-recording", str(tmp_path / "traffic.jsonl"), "--report-dir"]
    assert main([*offline, str(tmp_path / "one")]) == 1
    file = tmp_path / "baseline.toml"
    assert main([*offline, str(tmp_path / "two"), "--baseline", str(file), "--update-baseline"]) == 1
    assert 'rule = "API-ERROR-ENVELOPE"' in file.read_text()
    capsys.readouterr()
    assert main([*offline, str(tmp_path / "three"), "--baseline", str(file)]) == 0
    assert "baseline " + str(file) + ": 1 accepted" in capsys.readouterr().out
