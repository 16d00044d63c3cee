"""What a proxy run (or a recording judged offline) writes: results.json and junit.xml as the contract suite
writes them, summary.json with the findings split by side and the per-client figures, and index.html."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Literal

from slowcheck import __version__
from slowcheck.baseline import Baseline, waived
from slowcheck.checks.report import counts, write_junit, write_results
from slowcheck.findings import Outcome, Result
from slowcheck.proxy.catalogue import CATALOGUE
from slowcheck.proxy.judge import Judge
from slowcheck.verdict import Verdict, from_counts

__all__ = ["FAIL_ON", "FailOn", "verdict", "write"]

FailOn = Literal["violation", "deviation", "never"]
FAIL_ON: tuple[FailOn, ...] = ("violation", "deviation", "never")


def verdict(judge: Judge, fail_on: FailOn, results: list[Result] | None = None) -> Verdict:
    """As the contract's: a violation fails (a deviation too with ``deviation``; nothing with ``never``); no
    traffic at all is inconclusive, whatever ``--fail-on`` says: nothing was checked. ``results``: the judge's,
    marked by a baseline (what it accepts or lists as pending does not count)."""
    if not judge.exchanges:
        return Verdict("inconclusive", ("no traffic passed the proxy",))
    results = judge.results() if results is None else results
    tally = counts([r for r in results if not waived(r)])
    tally["held"] += sum(1 for r in results if waived(r))
    if fail_on == "deviation" and tally["deviation"]:
        return Verdict("fail", (f"{tally['violated']} violated, {tally['deviation']} deviations",))
    if fail_on == "never":
        return Verdict("pass")
    return from_counts(tally)


def write(
    folder: Path, judge: Judge, *, target: str, duration: float, fail_on: FailOn, baseline: Baseline | None = None
) -> Verdict:
    folder.mkdir(parents=True, exist_ok=True)
    results = judge.results()
    if baseline is not None:
        baseline.judge_all(results)
    judged = verdict(judge, fail_on, results)
    write_results(folder / "results.json", results, target=target, duration=duration)
    if baseline is not None:
        baseline.record(folder / "results.json")
    write_junit(folder / "junit.xml", results, duration=duration)
    findings: dict[str, list[dict[str, Any]]] = {"client": [], "api": []}
    for check, kept in judge.findings.items():
        for finding in kept:
            findings[CATALOGUE[check].side].append(
                {
                    "check": check,
                    "outcome": finding.outcome.value,
                    "message": finding.message,
                    "exchange": finding.exchange,
                    "request": finding.request,
                    "response": finding.response,
                }  # fmt: skip
            )
    summary = {
        "target": target,
        "verdict": judged.status,
        "reasons": list(judged.reasons),
        "fail_on": fail_on,
        "duration_s": round(duration, 3),
        "counts": counts(results),
        "findings": findings,
        "finding_counts": judge.by_side(),
        "figures": judge.figures(),
        "slowcheck": __version__,
    }
    (folder / "summary.json").write_text(json.dumps(summary, indent=2, default=str) + "\n", encoding="utf-8")
    (folder / "index.html").write_text(_page(summary, results), encoding="utf-8")
    return judged


def _page(summary: dict[str, Any], results: list[Any]) -> str:
    from slowcheck.templates import environment

    rows = [
        {
            "id": r.rule.id,
            "side": CATALOGUE[r.rule.id].side,
            "title": r.rule.title,
            "outcome": r.outcome.value,
            "message": r.message,
            "failing": r.outcome in (Outcome.VIOLATED, Outcome.DEVIATION),
        }  # fmt: skip
        for r in results
    ]
    return environment().get_template("proxy.html.j2").render(summary=summary, rows=rows)
