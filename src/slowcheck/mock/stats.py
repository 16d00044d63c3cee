"""Server-side truth for load reports to compare with: what arrived, per key and per generation."""

from __future__ import annotations

from collections import Counter, OrderedDict, defaultdict, deque
from dataclasses import dataclass, field
from typing import Any

__all__ = ["Stats"]

_ATTEMPTS_KEPT = 1000
WINDOW = 100_000
"""Per-generation poll counts, and body hashes per key, are kept for the most recent this many: a soak run
stores millions of generations, and the process must not grow with them. Ordered dicts, not dicts: a dict
whose oldest entry is deleted over and over finds the next oldest by scanning past every deleted slot, which
cost 41 µs a call at this window (an OrderedDict: 0.3 µs)."""


@dataclass(slots=True)
class Stats:
    """Counters since the mock started (they are not persisted: they describe this process's run)."""

    by_key: defaultdict[str, Counter[str]] = field(default_factory=lambda: defaultdict(Counter))
    polls_by_generation: OrderedDict[str, int] = field(default_factory=OrderedDict)
    """The oldest id is forgotten first."""
    body_hashes: dict[str, OrderedDict[str, None]] = field(default_factory=dict)
    """Per key, the hashes of its recent bodies, oldest first."""
    webhook_attempts: deque[dict[str, Any]] = field(default_factory=lambda: deque(maxlen=_ATTEMPTS_KEPT))
    webhooks: Counter[str] = field(default_factory=Counter)

    def count(self, tenant: str, what: str, amount: int = 1) -> None:
        self.by_key[tenant][what] += amount

    def submitted(self, tenant: str, body_hash: str) -> None:
        """Count a stored submission, and a duplicate when this key sent the same body before."""
        self.count(tenant, "submissions")
        seen = self.body_hashes.get(tenant)
        if seen is None:
            seen = self.body_hashes[tenant] = OrderedDict()
        if body_hash in seen:
            self.count(tenant, "duplicate_bodies")
        seen[body_hash] = None
        if len(seen) > WINDOW:
            seen.popitem(last=False)

    def finished(self, generation: Any) -> None:
        """The truth a load run's figures are compared with: per key, sums over the generations that ran."""
        counter = self.by_key[generation.tenant]
        counter["finished"] += 1
        if generation.dispatched_at is None or generation.finished_at is None:
            return
        counter["ran"] += 1
        counter["queue_s_sum"] += generation.dispatched_at - generation.created
        counter["run_s_sum"] += generation.finished_at - generation.dispatched_at
        counter["e2e_s_sum"] += generation.finished_at - generation.created
        usage = (generation.response or {}).get("usage") or {}
        counter["completion_tokens"] += int(usage.get("completion_tokens") or 0)

    def polled(self, tenant: str, generation_id: str) -> None:
        self.count(tenant, "polls")
        polls = self.polls_by_generation
        polls[generation_id] = polls.get(generation_id, 0) + 1
        if len(polls) > WINDOW:
            polls.popitem(last=False)

    def webhook_attempt(self, record: dict[str, Any]) -> None:
        self.webhook_attempts.append(record)
        self.webhooks["attempts"] += 1

    def totals(self) -> Counter[str]:
        total: Counter[str] = Counter()
        for counter in self.by_key.values():
            total.update(counter)
        return total

    def for_key(self, tenant: str, states: Counter[str]) -> dict[str, Any]:
        """What one key may see: its own counts and generations (no webhook deliveries: they name URLs)."""
        own = dict(self.by_key.get(tenant, Counter()))
        return {"scope": tenant, "totals": own, "by_key": {tenant: own}, "generations": dict(states)}

    def to_json(self, states: Counter[str]) -> dict[str, Any]:
        return {
            "totals": dict(self.totals()),
            "by_key": {tenant: dict(counter) for tenant, counter in sorted(self.by_key.items())},
            "generations": dict(states),
            "webhooks": dict(self.webhooks),
            "webhook_attempts": list(self.webhook_attempts),
        }
