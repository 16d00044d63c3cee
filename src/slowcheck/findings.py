"""What one check found, in the vocabulary every judging command shares (``docs/verdicts.md``).

A check raises or returns :class:`Violation` when the API breaks a documented promise or something a client
relies on, :class:`Deviation` when it is only stricter or laxer than OpenAI's spec the way OpenAI-compatible
backends commonly are; a rule raises :class:`Skipped` when this configuration does not ask for it and
:class:`NotRun` when it should have run but could not (budget, time, target). A :class:`Result` is the
outcome of one judged item (a contract rule, a proxy check), whatever judged it.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

__all__ = [
    "Deviation",
    "Judged",
    "NotRun",
    "Outcome",
    "Result",
    "Skipped",
    "Source",
    "Violation",
    "raise_all",
    "worst_of",
]

Source = Literal["documented", "inferred"]
"""Where a check's promise comes from: the API's docs (or OpenAI's spec, which the API adopts), or our belief."""


class Violation(AssertionError):
    """The API broke a rule: what was expected, and the exchange that shows it (keys never included)."""

    def __init__(
        self, message: str, *, request: Any = None, response: Any = None, reproduction: dict[str, Any] | None = None
    ) -> None:
        super().__init__(message)
        self.message, self.request, self.response = message, request, response
        self.also: list[Violation] = []
        """The rule's other findings, after this one (the worst first): a report lists every one."""
        self.reproduction = reproduction
        """How to send the finding's requests again (``slowcheck.reproduce``): each as a ``curl`` command with the
        key as ``$SLOWCHECK_API_KEY``, a generation's whole life for a lifecycle finding, and the correlation id
        its submission carried; None when no request shows it."""

    def finding(self) -> dict[str, Any]:
        """The finding as ``results.json`` lists it: outcome, message, request, response, and where requests show
        it the first one's ``curl``, the ``correlation_id`` and the whole ``reproduction``."""
        outcome = "deviation" if isinstance(self, Deviation) else "violated"
        found = {"outcome": outcome, "message": self.message, "request": self.request, "response": self.response}
        if self.reproduction is not None:
            found["curl"] = self.reproduction.get("curl")  # the first request's, for a summary's one line
            found["correlation_id"] = self.reproduction.get("correlation_id")
            found["reproduction"] = self.reproduction
        return found


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


class Judged(Protocol):
    """What a result is about, as reports name it: a contract rule (``contract.rules.Rule``) or a proxy check."""

    @property
    def id(self) -> str: ...

    @property
    def group(self) -> str: ...

    @property
    def title(self) -> str: ...

    @property
    def source(self) -> Source: ...


@dataclass(slots=True)
class Result:
    rule: Judged
    outcome: Outcome
    message: str = ""
    request: Any = None
    response: Any = None
    seconds: float = 0.0
    crash: str | None = None
    """Set when the check raised something other than a verdict (the answer broke the check's assumptions):
    still a violation against a real target, but a defect in the self-tests, which tell the two apart."""
    findings: list[dict[str, Any]] = field(default_factory=list)
    """Every finding of a violated or deviating rule (outcome, message, request, response, and where a request
    shows it its reproduction and correlation id), the first being the one ``message`` names."""
