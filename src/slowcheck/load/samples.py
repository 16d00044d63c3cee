"""What one simulated user observed, in a form that crosses process boundaries (plain lists and dicts).

Each user collects its own ``Samples``; workers send theirs to the master when they finish, and the master
merges them into one before the summary is built. Times are epoch seconds (``time.time()``), so samples from
several processes on one machine line up; detection lag compares them with the server's ``finishedAt``.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import asdict, dataclass, field
from typing import Any

from slowcheck.load import limits

__all__ = ["STATUS_TRANSPORT_ERROR", "Samples", "StrategySamples"]

STATUS_TRANSPORT_ERROR = 0
"""The status recorded when no usable answer came back: refused, reset, timed out, or a 2xx without an id."""

_PROBLEMS_KEPT = 5


@dataclass(slots=True)
class StrategySamples:
    """One polling strategy's view of its share of the workload."""

    completions: list[list[Any]] = field(default_factory=list)
    """``[generation_id, submitted_at, seen_at, finished_at or None, polls, state]`` per terminal generation."""
    polls: int = 0
    wasted: int = 0
    """Polls answered with a state that was not terminal yet (or 404 before the id was known)."""
    rate_limited: int = 0
    errors: int = 0
    webhooks: int = 0
    unfinished: int = 0
    """Generations still outstanding when the run ended."""
    not_run: str | None = None

    def merge(self, other: StrategySamples) -> None:
        self.completions.extend(other.completions)
        for name in ("polls", "wasted", "rate_limited", "errors", "webhooks", "unfinished"):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.not_run = self.not_run or other.not_run


@dataclass(slots=True)
class Samples:
    started: float = 0.0
    ended: float = 0.0
    submits: list[list[float]] = field(default_factory=list)
    """``[intended_at, latency_ms, status]``; latency counts from the planned arrival, not from the send."""
    dropped: int = 0
    """Arrivals never sent because the in-flight cap was reached (the harness, not the target, was the limit)."""
    unfinished: int = 0
    errors: Counter[str] = field(default_factory=Counter)
    acks_checked: int = 0
    acks_invalid: int = 0
    ack_problems: list[str] = field(default_factory=list)
    limited: Counter[str] = field(default_factory=Counter)
    """Over every 429: ``count``, ``retry_after`` (a Retry-After or retry-after-ms header), ``envelope_ok``."""
    refusals: Counter[str] = field(default_factory=Counter)
    """429s by ``tenth|what|limit named`` (see :func:`slowcheck.load.limits.met`): which limit was met."""
    per_tick: Counter[str] = field(default_factory=Counter)
    """The key's requests per tenth of a second (epoch, a string: it crosses processes as JSON)."""
    reading: dict[str, Any] | None = None
    """The rate-limit probe's :class:`~slowcheck.load.probe.Reading`, as a dict."""
    strategies: dict[str, StrategySamples] = field(default_factory=dict)

    def sent(self, at: float, what: str, status: int, said: str = "") -> None:
        """One request of the key, counted in its tenth of a second; a 429 with what it answered and the limit
        its message named (``said``)."""
        tick = limits.tick(at)
        self.per_tick[tick] += 1
        if status == 429:
            self.refusals[f"{tick}|{what}|{said}"] += 1

    def problem(self, text: str) -> None:
        self.acks_invalid += 1
        if len(self.ack_problems) < _PROBLEMS_KEPT:
            self.ack_problems.append(text)

    def merge(self, other: Samples) -> None:
        self.started = min(filter(None, (self.started, other.started)), default=0.0)
        self.ended = max(self.ended, other.ended)
        self.submits.extend(other.submits)
        self.dropped += other.dropped
        self.unfinished += other.unfinished
        self.errors.update(other.errors)
        self.acks_checked += other.acks_checked
        self.acks_invalid += other.acks_invalid
        self.ack_problems = (self.ack_problems + other.ack_problems)[:_PROBLEMS_KEPT]
        self.limited.update(other.limited)
        self.reading = self.reading or other.reading
        self.refusals.update(other.refusals)
        self.per_tick.update(other.per_tick)
        for name, strategy in other.strategies.items():
            self.strategies.setdefault(name, StrategySamples()).merge(strategy)

    def to_dict(self) -> dict[str, Any]:
        # Not dataclasses.asdict: it deep-copies every sample row, which costs seconds on a long run.
        data = {name: getattr(self, name) for name in self.__dataclass_fields__}
        data["errors"], data["limited"] = dict(self.errors), dict(self.limited)
        data["refusals"], data["per_tick"] = dict(self.refusals), dict(self.per_tick)
        data["strategies"] = {name: asdict(strategy) for name, strategy in self.strategies.items()}
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Samples:
        fields = dict(data)
        fields["errors"] = Counter(fields.get("errors", {}))
        fields["limited"] = Counter(fields.get("limited", {}))
        fields["refusals"] = Counter(fields.get("refusals", {}))
        fields["per_tick"] = Counter(fields.get("per_tick", {}))
        fields["strategies"] = {k: StrategySamples(**v) for k, v in fields.get("strategies", {}).items()}
        return cls(**fields)
