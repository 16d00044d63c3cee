"""The registry of checks: each judges one thing the API promises, under one id, one source and one tolerance.

A check is a plain function of what was observed (a record read, an ack, a webhook delivery) that returns a
finding (:class:`~slowcheck.findings.Violation` or :class:`~slowcheck.findings.Deviation`) or None; it sends
nothing. :func:`check` registers one, as schemathesis's ``@check`` does: the contract's rules, the proxy and
LIFE-GENERATED then call the same function, and read its id, title and source here rather than restating them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from slowcheck.findings import Source

__all__ = ["CHECKS", "Criterion", "check", "criterion"]

_F = TypeVar("_F", bound=Callable[..., Any])


def _always(_: Any) -> bool:
    return True


@dataclass(frozen=True, slots=True)
class Criterion:
    """What one check judges, as every report names it."""

    id: str
    title: str
    """One sentence: what holds when the API keeps its promise."""
    source: Source
    function: Callable[..., Any] = field(compare=False, repr=False)
    tolerance: float = 0.0
    """The slack the check allows, in seconds (two clocks that differ a little); 0 for none."""
    deviation: str = ""
    """What the check reports as a deviation rather than a violation; empty when every finding is a violation."""
    applies: Callable[[Any], bool] = field(default=_always, compare=False, repr=False)
    """Whether an observation is one the check judges (a response check needs a Success): a proxy counts a check
    as exercised, and held, only on what it applies to."""


CHECKS: dict[str, Criterion] = {}
_BY_FUNCTION: dict[Callable[..., Any], Criterion] = {}


def check(
    check_id: str,
    title: str,
    *,
    source: Source,
    tolerance: float = 0.0,
    deviation: str = "",
    applies: Callable[[Any], bool] = _always,
) -> Callable[[_F], _F]:
    """Register a check under ``check_id``; the function is returned unchanged."""

    def register(function: _F) -> _F:
        if check_id in CHECKS:
            raise ValueError(f"check {check_id} is registered twice")
        CHECKS[check_id] = _BY_FUNCTION[function] = Criterion(
            check_id, title, source, function, tolerance, deviation, applies
        )
        return function

    return register


def criterion(function: Callable[..., Any]) -> Criterion:
    """The registered criterion of a check function."""
    return _BY_FUNCTION[function]
