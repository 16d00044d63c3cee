"""What the proxy found: each finding with the exchange that shows it, the checks exercised, and the results."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from slowcheck.baseline import normalise
from slowcheck.findings import Deviation, Outcome, Result, Violation
from slowcheck.proxy.catalogue import CATALOGUE, Side
from slowcheck.proxy.recording import Relayed

__all__ = ["Finding", "Tally"]

_SHAPES = 100
"""Shapes of finding kept per check beyond the first examples; past this, the check says not all were kept."""


@dataclass(frozen=True, slots=True)
class Finding:
    check: str
    message: str
    exchange: int
    at: float
    outcome: Outcome
    request: Any = None
    response: Any = None

    @property
    def side(self) -> Side:
        return CATALOGUE[self.check].side


class Tally:
    """Findings per check (the first ``examples`` kept, all counted), and how often each check was exercised."""

    def __init__(self, on_finding: Callable[[Finding], None] | None = None, *, examples: int = 5) -> None:
        self.on_finding = on_finding
        self.examples = examples
        self.shapes: dict[str, set[str]] = {}
        """Per check, the shapes of the findings seen (``baseline.normalise``)."""
        self.findings: dict[str, list[Finding]] = {}
        self.counts: Counter[str] = Counter()
        """Findings per check (beyond the kept examples)."""
        self.exercised: Counter[str] = Counter()
        self.latest: list[Finding] = []
        """The findings of the exchange being judged."""

    def checked(self, check: str) -> None:
        self.exercised[check] += 1

    def find(self, check: str, message: str, relayed: Relayed) -> None:
        """A finding of one of the proxy's own checks, graded as the catalogue says."""
        self.add(check, (Deviation if CATALOGUE[check].deviation else Violation)(message), relayed)

    def add(self, check: str, found: Violation | None, relayed: Relayed) -> None:
        """What a check returned about ``relayed`` (None: nothing found)."""
        if found is None:
            return
        self.counts[check] += 1
        outcome = Outcome.DEVIATION if isinstance(found, Deviation) else Outcome.VIOLATED
        finding = Finding(check, found.message, relayed.index, relayed.ended, outcome, _show(relayed.request_json(),
                          relayed.request_body), _show(relayed.response_json(), relayed.response_body))  # fmt: skip
        kept = self.findings.setdefault(check, [])
        shape = normalise(found.message)
        shapes = self.shapes.setdefault(check, set())
        # The first examples, and the first of every other shape of finding (up to a bound): a baseline that
        # accepts the first ones must still see a new broken promise of the same check later in the traffic.
        if len(kept) < self.examples or (shape not in shapes and len(shapes) < _SHAPES):
            kept.append(finding)
        shapes.add(shape)
        self.latest.append(finding)
        if self.on_finding is not None:
            self.on_finding(finding)

    def results(self) -> list[Result]:
        """One result per check: violated or deviation when it found something, held when traffic exercised it
        and it found nothing, skipped when no traffic it applies to passed."""
        results = []
        for check in CATALOGUE.values():
            kept = self.findings.get(check.id)
            if kept:
                first, more = kept[0], self.counts[check.id] - 1
                worst = min((f.outcome for f in kept), key=[Outcome.VIOLATED, Outcome.DEVIATION].index)
                message = first.message + (f" (and {more} more)" if more else "")
                listed = [{"outcome": f.outcome.value, "message": f.message, "request": f.request,
                           "response": f.response} for f in kept]  # fmt: skip
                if len(self.shapes.get(check.id, ())) > _SHAPES:  # one no baseline accepts: not all were seen
                    listed.append({"outcome": worst.value, "message": f"more than {_SHAPES} kinds of finding: "
                                   "the rest were counted, not kept", "request": None, "response": None})  # fmt: skip
                results.append(Result(check, worst, message, first.request, first.response, findings=listed))
            elif self.exercised[check.id]:
                results.append(Result(check, Outcome.HELD, f"judged {self.exercised[check.id]} times"))
            else:
                results.append(Result(check, Outcome.SKIPPED, "no traffic it applies to passed the proxy"))
        return results

    def by_side(self) -> dict[str, int]:
        """Findings counted per side: ``client`` and ``api``."""
        return {side: sum(n for c, n in self.counts.items() if CATALOGUE[c].side == side) for side in ("client", "api")}


def _show(document: Any, body: bytes) -> Any:
    if document is not None:
        return document
    return body[:500].decode("utf-8", "replace") if body else None
