"""The budget plan: what each selected rule needs, computed before the first request.

Each rule declares its own requests (``Rule.cost``) and the shared resources it reads (``Rule.uses``: the
acks, the lifecycle probes and their polls, fuzz cases...), each paid for once. A share has a floor (below
it, its rules cannot conclude) and a full size (what the configuration asks for). The plan walks the rules in
catalogue order, admits each whose floor still fits, then hands what is left to the flexible shares in
priority order: poll reserves first (a lifecycle rule that cannot wait concludes nothing), then generated
examples, then fuzz cases. Rules that do not fit are listed before anything is sent. What each share got is
handed to the run's session (:func:`grant`): a pool's poll reserve, a fuzz mode's cases.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from slowcheck.contract.rules import Rule

__all__ = ["SHARES", "Plan", "Share", "grant", "make_plan", "share"]


@dataclass(frozen=True, slots=True)
class Share:
    name: str
    what: str
    """How the plan names it: 'lifecycle probes', 'polls of the lifecycle probes'."""
    floor: Callable[[Any], int]
    full: Callable[[Any], int]
    pool: str | None = None
    """The pool of waiting subjects whose poll reserve these requests are (``Session.reserve``)."""
    grant: Callable[[Any, int], None] | None = None
    """What else the requests granted change (the number of generated examples that fit)."""
    priority: int = 0
    """Lower first when the plan hands out what is left above the floors."""
    prepare: Callable[[Any], Any] | None = None
    """Started right after the preflight, before any rule (probes that need time to finish)."""
    step: Callable[[Any], int] = lambda target: 1
    """Requests above the floor are granted in multiples of this (one whole example, say)."""


SHARES: dict[str, Share] = {}


def share(
    name: str,
    what: str,
    *,
    floor: Callable[[Any], int],
    full: Callable[[Any], int] | None = None,
    pool: str | None = None,
    grant: Callable[[Any, int], None] | None = None,
    priority: int = 0,
    prepare: Callable[[Any], Any] | None = None,
    step: Callable[[Any], int] | None = None,
) -> None:
    """Declare a shared resource; ``full`` defaults to ``floor`` (a fixed cost)."""
    SHARES[name] = Share(name, what, floor, full or floor, pool, grant, priority, prepare, step or (lambda target: 1))


@dataclass(slots=True)
class Plan:
    budget: int | None
    preflight: int
    admitted: list[Rule] = field(default_factory=list)
    refused: dict[str, int] = field(default_factory=dict)
    """Rule id -> the requests it would have needed on top of what was admitted before it."""
    skipped: dict[str, str] = field(default_factory=dict)
    """Rule id -> why this configuration does not ask for it."""
    shares: dict[str, int] = field(default_factory=dict)
    """Share -> requests granted."""
    own: dict[str, int] = field(default_factory=dict)
    """Rule id -> its own requests."""
    needed: int = 0
    """Requests the selection needs in full (every share at its full size)."""

    @property
    def planned(self) -> int:
        return self.preflight + sum(self.own[r.id] for r in self.admitted) + sum(self.shares.values())

    def lines(self) -> list[str]:
        """The plan as the terminal shows it before the first request."""
        cap = f"{self.budget} requests" if self.budget is not None else "no request cap"
        head = f"plan: {self.planned} requests of {cap}"
        if self.needed > self.planned:
            head += f" (the full selection needs about {self.needed})"
        parts = [f"preflight {self.preflight}"]
        immediate = sum(self.own[r.id] for r in self.admitted)
        parts.append(f"rules' own requests {immediate}")
        parts += [f"{SHARES[name].what} {granted}" for name, granted in self.shares.items() if granted]
        out = [head + ":", "  " + ", ".join(parts)]
        if self.skipped:
            out.append(f"  skipped by configuration: {len(self.skipped)} ({', '.join(self.skipped)})")
        if self.refused:
            out.append(
                f"  the budget cannot cover {len(self.refused)} rule(s); they will not run: {', '.join(self.refused)}"
                f" (--max-requests {self.needed} would cover the selection)"
            )
        return out


def make_plan(
    target: Any, rules: Iterable[Rule], *, preflight: int, skip: Callable[[Rule], str | None] = lambda r: None
) -> Plan:
    """Admit rules in order while their floors fit the budget, then grant the flexible shares what is left."""
    budget: int | None = target.max_requests
    plan = Plan(budget, preflight)
    used = full = preflight
    paid: set[str] = set()  # shares the admitted rules already pay for
    known: set[str] = set()  # shares counted into the full need
    for item in rules:
        reason = skip(item)
        if reason:
            plan.skipped[item.id] = reason
            continue
        own = item.requests(target)
        full += own + sum(SHARES[n].full(target) for n in item.uses if n not in known)
        known.update(item.uses)
        new = [SHARES[name] for name in item.uses if name not in paid]
        floor = own + sum(s.floor(target) for s in new)
        if budget is not None and used + floor > budget:
            plan.refused[item.id] = floor
            continue
        plan.admitted.append(item)
        plan.own[item.id] = own
        for s in new:
            plan.shares[s.name] = s.floor(target)
        paid.update(item.uses)
        used += floor
    plan.needed = full
    left = None if budget is None else budget - used
    for s in sorted((SHARES[n] for n in plan.shares), key=lambda s: s.priority):
        extra = s.full(target) - plan.shares[s.name]
        if left is not None:
            extra = max(0, min(extra, left))
            extra -= extra % max(1, s.step(target))
            left -= extra
        plan.shares[s.name] += extra
    return plan


def grant(target: Any, plan: Plan) -> None:
    """Hand each share what the plan granted it: to the run's session (the requests, a pool's reserve), and to
    the share's own ``grant``."""
    session = target.session
    session.capped = plan.budget is not None
    for name, requests in plan.shares.items():
        found = SHARES[name]
        session.granted[name] = requests
        if found.pool is not None:
            session.reserves[found.pool] = requests
        if found.grant is not None:
            found.grant(target, requests)
