"""Probes: generations the suite submits to watch, and the one way they are submitted and awaited.

The lifecycle rules, the webhook rules and LIFE-GENERATED all watch generations: each submits its bodies
with :func:`submit_all` and waits with :func:`await_all`, which polls in sweeps until every probe is terminal,
``--completion-timeout`` after the first submission has passed, or the pool's poll reserve is spent.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from slowcheck import api
from slowcheck.contract.polling import sweep
from slowcheck.contract.target import Exchange, Target
from slowcheck.findings import NotRun, Violation
from slowcheck.hints import hint_seconds

__all__ = ["RESUBMITS", "Probe", "acked", "await_all", "await_resubmitting", "submit_all"]

RESUBMITS = 3
"""Times a probe that ended ``Failed`` (documented: a generation may fail) is submitted again, so that the
rules needing a Success can be judged; four failures of one body in a row make those rules not run."""


@dataclass(slots=True)
class Probe:
    """One watched generation: what was sent, when, the ack, and every record read since."""

    kind: api.Kind
    body: dict[str, Any]
    submitted_ms: float
    ack: dict[str, Any]
    records: list[dict[str, Any]] = field(default_factory=list)
    attempt: int = 0
    """0 for a body's first submission; 1, 2... for each time it was submitted again after ending Failed."""
    exchanges: list[Exchange] = field(default_factory=list)
    """The submission and every poll, as sent and answered: a finding's reproduction (``target.sequence``)."""

    @property
    def id(self) -> str:
        return str(self.ack["id"])

    @property
    def failed(self) -> bool:
        return self.final is not None and self.final.get("state") == "Failed"

    @property
    def final(self) -> dict[str, Any] | None:
        last = self.records[-1] if self.records else None
        return last if last is not None and last.get("state") in api.TERMINAL else None


def submit_all(target: Target, bodies: Iterable[tuple[api.Kind, dict[str, Any]]], what: str) -> list[Probe]:
    """Submit each body in turn; an answer without an id is a Violation naming ``what``."""
    found = []
    for kind, body in bodies:
        sent = time.time() * 1000
        exchange = target.request("POST", api.SUBMIT.get(kind, api.EMBEDDINGS), json=body)
        ack = acked(exchange)
        if ack is None:
            raise Violation(f"{what} was not acknowledged with an id ({exchange.status})", **exchange.summary())
        found.append(Probe(kind, exchange.body, sent, ack, exchanges=[exchange]))  # the body as sent: its id
    return found


def acked(exchange: Exchange) -> dict[str, Any] | None:
    """The ack in a submission's answer: a 200 whose body has a string id; None otherwise."""
    ack = exchange.json
    return ack if exchange.status == 200 and isinstance(ack, dict) and isinstance(ack.get("id"), str) else None


def await_all(target: Target, watched: Iterable[Probe], *, pool: str, since_ms: float | None = None) -> str:
    """Poll the probes until each is terminal, ``--completion-timeout`` after ``since_ms`` (default: the first
    submission, epoch ms) passes, or the pool's poll reserve is spent; every record read is kept on its probe.

    Returns why it stopped: ``finished``, ``deadline`` or ``reserve``.
    """
    return _await(target, list(watched), since_ms=since_ms, reserve=target.session.reserve(pool))[0]


def _await(target: Target, watched: list[Probe], *, since_ms: float | None, reserve: int | None) -> tuple[str, int]:
    """:func:`await_all` within ``reserve`` polls; why it stopped, and the polls it spent."""
    if not watched:
        return "finished", 0
    start = since_ms if since_ms is not None else min(p.submitted_ms for p in watched)
    deadline = start / 1000 + target.completion_timeout

    def read(probe: Probe) -> tuple[bool, float | None]:
        exchange = target.generation(probe.id)
        probe.exchanges.append(exchange)
        if exchange.status == 200 and isinstance(exchange.json, dict):
            probe.records.append(exchange.json)
        return probe.final is not None, hint_seconds(exchange.headers)  # a 404 here is "not ready yet"

    monotonic_deadline = time.monotonic() + max(0.0, deadline - time.time())
    return sweep([p for p in watched if p.final is None], read, deadline=monotonic_deadline, reserve=reserve)


def await_resubmitting(
    target: Target, watched: list[Probe], *, pool: str, what: str, since_ms: float | None = None
) -> tuple[list[Probe], str]:
    """:func:`await_all`, then each probe that ended ``Failed`` submitted again (up to ``RESUBMITS`` times) and
    awaited from its own submission, all within the pool's one reserve of polls. Returns every attempt (a Failed
    record is still judged for its shape, its states and its timestamps) and why the last wait stopped. A
    resubmission that cannot be sent (the budget, noise that never clears, a refusal) ends the resubmitting;
    what was observed stays."""
    attempts = list(watched)
    reserve = target.session.reserve(pool)
    ending, spent = _await(target, attempts, since_ms=since_ms, reserve=reserve)
    latest = attempts
    for attempt in range(1, RESUBMITS + 1):
        reserve = None if reserve is None else reserve - spent
        failed = [p for p in latest if p.failed]
        if not failed or ending == "reserve" or (reserve is not None and reserve <= 0):
            break
        try:
            latest = submit_all(target, [(p.kind, p.body) for p in failed], f"{what} submitted again after Failed")
        except (NotRun, Violation):
            break
        for probe in latest:
            probe.attempt = attempt
        attempts += latest
        ending, spent = _await(target, latest, since_ms=min(p.submitted_ms for p in latest), reserve=reserve)
    return attempts, ending
