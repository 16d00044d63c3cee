"""One vocabulary for every command that judges: pass, fail or inconclusive, and their exit codes.

0 every check that should run held (deviations and skips listed) · 1 at least one violation · 2 usage error,
bad configuration or unreachable target · 3 inconclusive: nothing violated, but something that should have
run did not. A run that checked nothing is never 0.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

__all__ = ["EXIT_CODES", "Verdict", "combine", "from_counts"]

Status = Literal["pass", "fail", "inconclusive"]
EXIT_CODES: dict[Status, int] = {"pass": 0, "fail": 1, "inconclusive": 3}


@dataclass(frozen=True, slots=True)
class Verdict:
    status: Status
    reasons: tuple[str, ...] = ()

    @property
    def exit_code(self) -> int:
        return EXIT_CODES[self.status]

    def line(self) -> str:
        """The terminal's last word: ``PASS``, ``FAIL: ...`` or ``INCONCLUSIVE: ...``."""
        head = self.status.upper()
        return f"{head}: {'; '.join(self.reasons)}" if self.reasons else head


def from_counts(counts: Mapping[str, int], *, why_not_run: str = "") -> Verdict:
    """A verdict from outcome counts (held, violated, deviation, skipped, not run)."""
    if counts.get("violated", 0):
        return Verdict("fail", (f"{counts['violated']} violated",))
    if counts.get("not run", 0):
        return Verdict("inconclusive", (why_not_run or f"{counts['not run']} could not run",))
    if not counts.get("held", 0) and not counts.get("deviation", 0):
        return Verdict("inconclusive", ("nothing was checked",))
    return Verdict("pass")


def combine(*verdicts: Verdict) -> Verdict:
    """Several parts of one run: any failure fails it; else anything inconclusive makes it inconclusive."""
    for status in ("fail", "inconclusive"):
        reasons = tuple(r for v in verdicts if v.status == status for r in v.reasons)
        if any(v.status == status for v in verdicts):
            return Verdict(status, reasons)
    return Verdict("pass")
