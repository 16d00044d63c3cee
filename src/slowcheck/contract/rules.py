"""The rule catalogue: each rule has an id, one sentence, a source, and a check that raises Violation.

A rule's source is ``documented`` (the API's docs say so) or ``inferred`` (we believe it; ``--lenient ID``
turns its violations into warnings until the live API confirms it).
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

__all__ = ["RULES", "NotRun", "Outcome", "Result", "Rule", "Violation", "rule"]

Source = Literal["documented", "inferred"]


class Violation(AssertionError):
    """The API broke a rule: what was expected, and the exchange that shows it (keys never included)."""

    def __init__(self, message: str, *, request: Any = None, response: Any = None) -> None:
        super().__init__(message)
        self.message, self.request, self.response = message, request, response


class NotRun(Exception):
    """The rule could not be checked here (a missing second key, the request budget, a timeout of 0)."""


class Outcome(str, enum.Enum):
    HELD = "held"
    VIOLATED = "violated"
    WARNED = "warned"
    """Violated, but the rule is inferred and the user asked for leniency."""
    NOT_RUN = "not run"


@dataclass(frozen=True, slots=True)
class Rule:
    id: str
    group: str
    title: str
    """One sentence: what holds when the API keeps its contract."""
    source: Source
    check: Callable[[Any], None] = field(compare=False, repr=False)


@dataclass(slots=True)
class Result:
    rule: Rule
    outcome: Outcome
    message: str = ""
    request: Any = None
    response: Any = None
    seconds: float = 0.0


RULES: dict[str, Rule] = {}


def rule(
    rule_id: str, group: str, title: str, *, source: Source
) -> Callable[[Callable[[Any], None]], Callable[[Any], None]]:
    """Register a check as a rule of the catalogue."""

    def register(check: Callable[[Any], None]) -> Callable[[Any], None]:
        if rule_id in RULES:
            raise ValueError(f"rule {rule_id} is registered twice")
        RULES[rule_id] = Rule(rule_id, group, title, source, check)
        return check

    return register
