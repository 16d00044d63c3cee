"""What a contract run writes: results.json for tools, junit.xml for CI, and the terminal summary."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from collections import Counter
from pathlib import Path
from typing import Any

from slowcheck.contract.rules import Outcome, Result

__all__ = ["counts", "write_junit", "write_results"]


def counts(results: list[Result]) -> dict[str, int]:
    found = Counter(r.outcome.value for r in results)
    return {outcome.value: found.get(outcome.value, 0) for outcome in Outcome}


def write_results(path: Path, results: list[Result], *, target: str, duration: float) -> None:
    document: dict[str, Any] = {
        "target": target,
        "duration_s": round(duration, 3),
        "counts": counts(results),
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
                "seconds": round(r.seconds, 3),
            }
            for r in results
        ],
    }
    path.write_text(json.dumps(document, indent=2, ensure_ascii=False, default=str) + "\n", encoding="utf-8")


def write_junit(path: Path, results: list[Result], *, duration: float) -> None:
    tally = counts(results)
    suite = ET.Element(
        "testsuite",
        name="slowcheck.contract",
        tests=str(len(results)),
        failures=str(tally["violated"]),
        skipped=str(tally["not run"]),
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
        if result.outcome is Outcome.VIOLATED:
            failure = ET.SubElement(case, "failure", message=result.message)
            failure.text = json.dumps({"request": result.request, "response": result.response}, default=str)[:20000]
        elif result.outcome is Outcome.NOT_RUN:
            ET.SubElement(case, "skipped", message=result.message)
        elif result.outcome is Outcome.WARNED:
            ET.SubElement(case, "system-out").text = f"warning (lenient): {result.message}"
    ET.ElementTree(suite).write(path, encoding="utf-8", xml_declaration=True)
