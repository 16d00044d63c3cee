"""The rule catalogue: each rule has an id, one sentence, a source, a request cost, and a check.

A check raises :class:`~slowcheck.findings.Violation` when the API breaks a documented promise or something a
client relies on, :class:`~slowcheck.findings.Deviation` when it is only stricter or laxer than OpenAI's spec
the way OpenAI-compatible backends commonly are, :class:`~slowcheck.findings.Skipped` when this configuration
does not ask for it, and :class:`~slowcheck.findings.NotRun` when it should have run but could not (budget,
time, target). ``docs/verdicts.md`` is the vocabulary. A rule that judges with one check of ``slowcheck.checks``
takes its id, title, source and deviation from it (:func:`rule_of`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from slowcheck.checks import criterion
from slowcheck.findings import Source

__all__ = ["RULES", "Rule", "rule", "rule_of"]

Cost = int | Callable[[Any], int]
"""Requests a rule sends of its own: a number, or a function of the target (its settings)."""


@dataclass(frozen=True, slots=True)
class Rule:
    id: str
    group: str
    title: str
    """One sentence: what holds when the API keeps its contract."""
    source: Source
    check: Callable[[Any], None] = field(compare=False, repr=False)
    cost: Cost = field(default=0, compare=False, repr=False)
    uses: tuple[str, ...] = ()
    """Shared resources (see ``budget.SHARED``) the rule reads; each is paid for once per run."""
    deviation: str = ""
    """What the rule reports as a deviation rather than a violation; empty when every finding is a violation."""
    skip: Callable[[Any], str | None] | None = field(default=None, compare=False, repr=False)
    """Why this configuration does not ask for the rule (naming the flag that enables it), or None."""

    def skip_reason(self, target: Any) -> str | None:
        return self.skip(target) if self.skip is not None else None

    def requests(self, target: Any) -> int:
        return self.cost(target) if callable(self.cost) else self.cost


RULES: dict[str, Rule] = {}


def rule(
    rule_id: str,
    group: str,
    title: str,
    *,
    source: Source,
    cost: Cost = 0,
    uses: tuple[str, ...] = (),
    deviation: str = "",
    skip: Callable[[Any], str | None] | None = None,
) -> Callable[[Callable[[Any], None]], Callable[[Any], None]]:
    """Register a check as a rule of the catalogue (in the order the catalogue runs, see ``runner``)."""

    def register(check: Callable[[Any], None]) -> Callable[[Any], None]:
        if rule_id in RULES:
            raise ValueError(f"rule {rule_id} is registered twice")
        RULES[rule_id] = Rule(rule_id, group, title, source, check, cost, uses, deviation, skip)
        return check

    return register


def rule_of(
    judged_by: Callable[..., Any],
    group: str,
    *,
    cost: Cost = 0,
    uses: tuple[str, ...] = (),
    skip: Callable[[Any], str | None] | None = None,
) -> Callable[[Callable[[Any], None]], Callable[[Any], None]]:
    """:func:`rule` for a rule that applies one registered check (``slowcheck.checks``): its id, title, source
    and deviation are the check's, stated once."""
    found = criterion(judged_by)
    return rule(
        found.id, group, found.title, source=found.source, cost=cost, uses=uses, deviation=found.deviation, skip=skip
    )
