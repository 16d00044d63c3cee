"""What a judged run writes, whatever judged it (the contract's rules, the proxy's checks): results.json for
tools, junit.xml for CI, the counts per outcome and the verdict."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from collections import Counter
from pathlib import Path
from typing import Any, Protocol

from slowcheck.baseline import fingerprint, status_of, waived
from slowcheck.findings import Outcome, Result
from slowcheck.verdict import Verdict, from_counts

__all__ = ["Planned", "counts", "verdict", "write_junit", "write_results"]


class Planned(Protocol):
    """The budget plan a contract run made before its first request (``contract.budget.Plan``), as reported."""

    @property
    def budget(self) -> int | None: ...

    @property
    def planned(self) -> int: ...

    @property
    def needed(self) -> int: ...

    @property
    def shares(self) -> dict[str, int]: ...


def counts(results: list[Result]) -> dict[str, int]:
    found = Counter(r.outcome.value for r in results)
    return {outcome.value: found.get(outcome.value, 0) for outcome in Outcome}


def verdict(results: list[Result], plan: Planned | None = None) -> Verdict:
    """Fail on a violation; inconclusive when a rule that should have run did not, saying what would help. A
    finding the baseline accepts (or of a rule it lists as pending) counts as checked, not against the run."""
    tally = counts([r for r in results if not waived(r)])
    tally["held"] += sum(1 for r in results if waived(r))
    not_run = [r for r in results if r.outcome is Outcome.NOT_RUN]
    why = ""
    if not_run:
        budget = [r for r in not_run if "--max-requests" in r.message or "budget" in r.message]
        if plan is not None and plan.budget is not None and budget:
            why = f"{len(not_run)} rules could not run within {plan.budget} requests; about {plan.needed} are needed"
        else:
            why = f"{len(not_run)} rules could not run: {not_run[0].rule.id}: {not_run[0].message}"
    return from_counts(tally, why_not_run=why)


def write_results(
    path: Path,
    results: list[Result],
    *,
    target: str,
    duration: float,
    plan: Planned | None = None,
    conditions: dict[str, Any] | None = None,
) -> None:
    """``conditions``: what the run met on the way (transient failures retried, 429s, the pace it kept)."""
    judged = verdict(results, plan)
    for result in results:  # every finding's fingerprint, so a team can baseline one before it has a baseline
        for finding in result.findings:
            finding.setdefault("fingerprint", fingerprint(result.rule.id, str(finding.get("message", ""))))
    document: dict[str, Any] = {
        "target": target,
        "duration_s": round(duration, 3),
        "verdict": judged.status,
        "reasons": list(judged.reasons),
        "conditions": conditions,
        "spend": (conditions or {}).get("spend"),
        "counts": counts(results),
        "plan": None
        if plan is None
        else {"budget": plan.budget, "planned": plan.planned, "needed": plan.needed, "shares": plan.shares},
        "rules": [
            {
                "id": r.rule.id,
                "group": r.rule.group,
                "title": r.rule.title,
                "source": r.rule.source,
                "outcome": r.outcome.value,
                "message": r.message,
                "request": r.request,
                "response": r.response,
                "findings": r.findings,
                "baseline": status_of(r),
                "seconds": round(r.seconds, 3),
            }
            for r in results
        ],
    }
    path.write_text(json.dumps(document, indent=2, ensure_ascii=False, default=str) + "\n", encoding="utf-8")


def write_junit(path: Path, results: list[Result], *, duration: float) -> None:
    """violated -> failure, not run -> error, skipped -> skipped, deviation -> a passing case with a property."""
    tally = counts(results)
    suite = ET.Element(
        "testsuite",
        name="slowcheck.contract",
        tests=str(len(results)),
        failures=str(tally["violated"]),
        errors=str(tally["not run"]),
        skipped=str(tally["skipped"]),
        time=f"{duration:.3f}",
    )
    for result in results:
        case = ET.SubElement(
            suite,
            "testcase",
            classname=f"contract.{result.rule.group}",
            name=result.rule.id,
            time=f"{result.seconds:.3f}",
        )
        accepted = status_of(result) if waived(result) else None
        if accepted is not None:
            properties = ET.SubElement(case, "properties")
            ET.SubElement(properties, "property", name="baseline", value=f"{accepted['status']}: {accepted['reason']}")
            ET.SubElement(case, "system-out").text = f"{result.outcome.value}, {accepted['status']}: {result.message}\n"
        elif result.outcome is Outcome.VIOLATED:
            failure = ET.SubElement(case, "failure", message=result.message)
            listed = "".join(f"{f['outcome']}: {f['message']}\n" for f in result.findings)
            example = json.dumps({"request": result.request, "response": result.response}, default=str)[:20000]
            failure.text = listed + example
        elif result.outcome is Outcome.NOT_RUN:
            ET.SubElement(case, "error", message=f"not run: {result.message}")
        elif result.outcome is Outcome.SKIPPED:
            ET.SubElement(case, "skipped", message=result.message)
        elif result.outcome is Outcome.DEVIATION:
            properties = ET.SubElement(case, "properties")
            ET.SubElement(properties, "property", name="deviation", value=result.message)
            messages = [f["message"] for f in result.findings] or [result.message]
            ET.SubElement(case, "system-out").text = "".join(f"deviation: {m}\n" for m in messages)
    ET.ElementTree(suite).write(path, encoding="utf-8", xml_declaration=True)
