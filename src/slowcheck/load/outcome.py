"""The verdict of a load run, in the vocabulary every command speaks (``slowcheck.verdict``).

A breached threshold fails the run. A run that could not measure what it set out to is inconclusive, never a
pass: no submission accepted, the rate-limit probe without a reading, a batch with no line done. Otherwise it
passes: load has no promise of its own to break beyond the thresholds a team sets.
"""

from __future__ import annotations

from typing import Any

from slowcheck import api
from slowcheck.verdict import Verdict

__all__ = ["NO_READING", "judge"]

NO_READING = "the probe gave no reading (its error is in the report folder's locust.log)"
_COMPLETED: api.BatchStatus = "completed"


def judge(summary: dict[str, Any]) -> Verdict:
    breached = [t["expr"] for t in summary["thresholds"] if not t["passed"]]
    if breached:
        return Verdict("fail", tuple(f"threshold {expr} breached" for expr in breached))
    if summary["scenario"] == "batch":
        return _batch(summary["batch"])
    if summary["scenario"] == "rate-limit":
        limits = summary["rate_limit"]
        if not limits["conclusive"]:
            return Verdict("inconclusive", (limits["reason"] or NO_READING,))
        return Verdict("pass")
    submit = summary["submit"]
    if not submit["ok"]:
        common = max(submit["error_messages"].items(), key=lambda item: item[1], default=None)
        why = f"; most often {common[0]} ({common[1]} ×)" if common else ""
        return Verdict("inconclusive", (f"no submission was accepted ({submit['count']} sent{why})",))
    return Verdict("pass")


def _batch(batch: dict[str, Any]) -> Verdict:
    if batch.get("status") != _COMPLETED or not batch.get("completed"):
        return Verdict("inconclusive", (f"the batch ended {batch.get('status')} with no line completed",))
    return Verdict("pass")
