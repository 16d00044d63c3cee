"""The matrix in the verdict vocabulary: each cell's outcome, the counts, and the matrix's ``Verdict``.

A cell's ``status`` is the probe's word (passed, failed, n/a, deviation) or ``not run``; its ``outcome`` is the
word every command speaks (``slowcheck.verdict``). An ``api`` failure is violated. An ``sdk`` failure is a
hazard: the SDK version's own behaviour, listed as deviations are and never failing the run. A version that
could not be installed, or whose probe could not run, is not run, never a hazard and never held.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from slowcheck.verdict import Verdict, from_counts

__all__ = ["NOT_RUN", "OUTCOMES", "cell", "counts", "judge", "label", "not_run_cells"]

OUTCOMES = ("held", "violated", "deviation", "skipped", "not run")
NOT_RUN = "not run"
_OUTCOME = {"passed": "held", "n/a": "skipped", "deviation": "deviation", NOT_RUN: NOT_RUN}
_CONCLUSIVE = (
    "conclusive once every version installs and its probe finishes: pins that exist on PyPI / npm, the registries "
    "reachable, the runtime present (environments are cached, so a rerun installs only what is missing)"
)


def cell(status: str, party: str, detail: str) -> dict[str, Any]:
    """One cell: the probe's status, who answers for a failure, what was seen, and its outcome."""
    if status == "failed":
        outcome = "violated" if party == "api" else "deviation"
    else:
        outcome = _OUTCOME.get(status, NOT_RUN)  # a word the probe should not say: nothing was judged
    return {"status": status, "party": party, "detail": detail, "outcome": outcome}


def not_run_cells(checks: Iterable[tuple[str, str]], why: str) -> dict[str, dict[str, Any]]:
    """Every cell of a version that could not run: ``checks`` as (id, party)."""
    return {check: cell(NOT_RUN, party, why) for check, party in checks}


def label(row: Mapping[str, Any]) -> str:
    return f"{row['language']} {row['version'] or row['requested']}"


def counts(rows: Iterable[Mapping[str, Any]]) -> dict[str, int]:
    found = Counter(c["outcome"] for row in rows for c in row["cells"].values())
    return {outcome: found.get(outcome, 0) for outcome in OUTCOMES}


def judge(rows: Sequence[Mapping[str, Any]]) -> Verdict:
    """Fail on what the API answers for; inconclusive when a version or a check could not run, or none did."""
    judged = from_counts(counts(rows))
    if judged.status == "fail":
        failing = [label(r) for r in rows if any(c["outcome"] == "violated" for c in r["cells"].values())]
        return Verdict("fail", (f"the API fails checks it answers for with: {', '.join(failing)}",))
    if judged.status == "inconclusive" and judged.reasons != ("nothing was checked",):
        return Verdict("inconclusive", (*_why_not_run(rows), _CONCLUSIVE))
    return judged


def _why_not_run(rows: Sequence[Mapping[str, Any]]) -> list[str]:
    broken = [r for r in rows if r["error"]]
    reasons = []
    if broken:
        first = f"{label(broken[0])}: {broken[0]['error']}"
        reasons.append(f"{len(broken)} of {len(rows)} SDK versions could not run ({first})")
    partial = [(label(r), check, c["detail"]) for r in rows if not r["error"]
               for check, c in r["cells"].items() if c["outcome"] == NOT_RUN]  # fmt: skip
    if partial:
        name, check, detail = partial[0]
        reasons.append(f"{len(partial)} checks could not run ({name} {check}: {detail})")
    return reasons
