"""The rule catalogue: each rule has an id, one sentence, a source, a request cost, and a check.

A check raises :class:`Violation` when the API breaks a documented promise or something a client relies on,
:class:`Deviation` when it is only stricter or laxer than OpenAI's spec the way OpenAI-compatible backends
commonly are, :class:`Skipped` when this configuration does not ask for it, and :class:`NotRun` when it should
have run but could not (budget, time, target). ``docs/verdicts.md`` is the vocabulary.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Literal

__all__ = [
    "RULES",
    "Deviation",
    "NotRun",
    "Outcome",
    "Result",
    "Rule",
    "Skipped",
    "Violation",
    "raise_all",
    "rule",
    "worst_of",
]

Source = Literal["documented", "inferred"]
Cost = int | Callable[[Any], int]
"""Requests a rule sends of its own: a number, or a function of the target (its settings)."""


class Violation(AssertionError):
    """The API broke a rule: what was expected, and the exchange that shows it (keys never included)."""

    def __init__(self, message: str, *, request: Any = None, response: Any = None) -> None:
        super().__init__(message)
        self.message, self.request, self.response = message, request, response
        self.also: list[Violation] = []
        """The rule's other findings, after this one (the worst first): a report lists every one."""

    def finding(self) -> dict[str, Any]:
        outcome = "deviation" if isinstance(self, Deviation) else "violated"
        return {"outcome": outcome, "message": self.message, "request": self.request, "response": self.response}


class Deviation(Violation):
    """Stricter or laxer than OpenAI's spec in a way compatible backends commonly are: a warning."""


def worst_of(checks: Iterable[Callable[[], None]]) -> None:
    """Run every check and raise the worst finding (a violation before a deviation, else the first), carrying
    every other one in ``also``, so that one finding never hides the next."""
    found: list[Violation] = []
    for check in checks:
        try:
            check()
        except Violation as finding:
            found.append(finding)
    raise_all(found)


def raise_all(found: Iterable[Violation]) -> None:
    """Raise the worst of ``found`` (violations before deviations, each in order) with the rest in ``also``."""
    flat = [f for finding in found for f in (finding, *finding.also)]
    if flat:
        flat.sort(key=lambda f: isinstance(f, Deviation))  # stable
        for finding in flat:
            finding.also = []
        worst, worst.also = flat[0], flat[1:]
        raise worst


class NotRun(Exception):
    """The rule should have run but could not: the request budget, the time, or the target ran out."""


class Skipped(Exception):
    """This configuration does not ask for the rule; the message names the flag that enables it."""


class Outcome(str, enum.Enum):
    HELD = "held"
    VIOLATED = "violated"
    DEVIATION = "deviation"
    SKIPPED = "skipped"
    NOT_RUN = "not run"


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


@dataclass(slots=True)
class Result:
    rule: Rule
    outcome: Outcome
    message: str = ""
    request: Any = None
    response: Any = None
    seconds: float = 0.0
    crash: str | None = None
    """Set when the check raised something other than a verdict (the answer broke the check's assumptions):
    still a violation against a real target, but a defect in the self-tests, which tell the two apart."""
    findings: list[dict[str, Any]] = field(default_factory=list)
    """Every finding of a violated or deviating rule (outcome, message, request, response), the first being
    the one ``message`` names."""


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
