"""``--credit``: what each key may spend, held for pending work and charged from real usage.

A submission's cost is estimated from its prompt tokens (counted as ``usage`` will count them) and the most
completion tokens it may get (``n`` x ``max_tokens``, or the generator's own defaults), at its model's prices
(the one table, :mod:`slowcheck.prices`, its asynchronous discount applied).
What exceeds a key's available credit (its balance less what is held) is refused with a 402; what is accepted
holds its estimate until it finishes: a Success is charged its real ``usage``, a Failed generation nothing.
Batch lines hold nothing: each is charged as it completes (a batch is refused only once nothing is left).
The ledger lives in the store's own SQLite file, written in the same commits as the generations it is about.
Amounts are integers of nano-USD, so a hold and its release cancel exactly.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from slowcheck.mock import generator
from slowcheck.mock.errors import ApiError
from slowcheck.mock.records import Generation
from slowcheck.prices import DEFAULT_PRICES, Price, load_prices, load_table

if TYPE_CHECKING:
    from slowcheck.mock.engine import Engine
    from slowcheck.mock.settings import MockSettings

__all__ = ["DEFAULT_PRICES", "Credit", "Price", "load_prices"]
"""The price table's home is :mod:`slowcheck.prices`; its names are kept here for the mock's callers."""

_NANO = 1_000_000_000
"""Ledger units a dollar."""


_TABLES = """
CREATE TABLE IF NOT EXISTS credit_spent (tenant TEXT PRIMARY KEY, nano INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS credit_holds (
  generation_id TEXT PRIMARY KEY, tenant TEXT NOT NULL, model TEXT NOT NULL, nano INTEGER NOT NULL);
"""
_SPENT = "INSERT INTO credit_spent VALUES (?, ?) ON CONFLICT (tenant) DO UPDATE SET nano = excluded.nano"
_HOLD = "INSERT OR REPLACE INTO credit_holds VALUES (?, ?, ?, ?)"
_RELEASE = "DELETE FROM credit_holds WHERE generation_id = ?"


class Credit:
    """Per key fingerprint: spent and held, against the credit every key starts with (off without one)."""

    def __init__(self, settings: MockSettings, engine: Engine) -> None:
        self.enabled = settings.credit is not None
        self.grant = round((settings.credit or 0.0) * _NANO)
        self.table = load_table(settings.prices if self.enabled else None)
        self.spent: dict[str, int] = {}
        self.held: dict[str, int] = {}
        self._holds: dict[str, tuple[str, str, int]] = {}
        """Generation id -> tenant, model, nano-USD held."""
        self._store, self._stats = engine.store, engine.stats
        if not self.enabled:
            return
        self._store.add_tables(_TABLES)
        self.spent = dict(self._store.rows("SELECT tenant, nano FROM credit_spent"))
        for generation_id, tenant, model, nano in self._store.rows("SELECT * FROM credit_holds"):
            self._holds[generation_id] = (tenant, model, nano)
            self.held[tenant] = self.held.get(tenant, 0) + nano
        engine.listeners.append(self.settle)

    def available(self, tenant: str) -> int:
        return self.grant - self.spent.get(tenant, 0) - self.held.get(tenant, 0)

    def hold(self, tenant: str, generations: Sequence[Generation]) -> None:
        """Hold the estimates of new generations (a group's together), or refuse them all with a 402."""
        if not self.enabled:
            return
        holds = [(g, g.request["model"], self.estimate(g)) for g in generations]
        total = sum(nano for _, _, nano in holds)
        if total > self.available(tenant):
            what = "this request is" if len(holds) == 1 else f"these {len(holds)} requests are"
            self._refuse(tenant, f"{what} estimated at {_usd(total)}")
        for generation, model, nano in holds:
            self._holds[generation.id] = (tenant, model, nano)
            self._store.queue(_HOLD, (generation.id, tenant, model, nano))
        self.held[tenant] = self.held.get(tenant, 0) + total

    def require_some(self, tenant: str) -> None:
        """A batch holds nothing (its lines are charged as they complete), but needs credit left to start."""
        if self.enabled and self.available(tenant) <= 0:
            self._refuse(tenant, "a batch needs some")

    def estimate(self, generation: Generation) -> int:
        prompt, completion = generator.token_bounds(generation)
        return self.table.nano(generation.request["model"], prompt, completion)

    def settle(self, generation: Generation) -> None:
        """A generation is terminal: its hold released, and a Success charged its real usage."""
        hold = self._holds.pop(generation.id, None)
        if hold is not None:
            self.held[hold[0]] -= hold[2]
            self._store.queue(_RELEASE, (generation.id,))
        if generation.state != "Success":
            return
        response = generation.response or {}
        usage = response.get("usage")
        model = hold[1] if hold is not None else str(response.get("model"))
        if isinstance(usage, dict):
            charge = self.table.nano(model, _tokens(usage, "prompt_tokens"), _tokens(usage, "completion_tokens"))
        else:  # an upstream answer without usage: its estimate
            charge = hold[2] if hold is not None else 0
        tenant = generation.tenant
        self.spent[tenant] = self.spent.get(tenant, 0) + charge
        self._store.queue(_SPENT, (tenant, self.spent[tenant]))

    def account(self, tenant: str) -> dict[str, float]:
        spent, held = self.spent.get(tenant, 0), self.held.get(tenant, 0)
        return {"balance_usd": (self.grant - spent) / _NANO, "held_usd": held / _NANO, "spent_usd": spent / _NANO}

    def to_json(self, tenant: str | None) -> dict[str, Any]:
        """For ``/_mock/stats``, scoped as its counts are: a key sees its own account, the admin every key's
        (and their sums)."""
        if not self.enabled:
            return {}
        tenants = [tenant] if tenant is not None else sorted(set(self.spent) | {t for t, n in self.held.items() if n})
        by_key = {t: self.account(t) for t in tenants}
        if tenant is not None:
            return {"credit": by_key[tenant], "credit_by_key": by_key}
        names = ("balance_usd", "held_usd", "spent_usd")
        totals = {name: sum(account[name] for account in by_key.values()) for name in names}
        return {"credit": totals, "credit_by_key": by_key}

    def _refuse(self, tenant: str, what: str) -> None:
        self._stats.count(tenant, "insufficient_quota")
        available, held = self.available(tenant), self.held.get(tenant, 0)
        raise ApiError(
            402,
            f"Insufficient credit: {what}, and the key has {_usd(max(0, available))} available "
            f"({_usd(self.grant - self.spent.get(tenant, 0))} balance, {_usd(held)} held for pending work).",
            type="insufficient_quota",
            code="insufficient_quota",
        )


def _tokens(usage: dict[str, Any], name: str) -> int:
    value = usage.get(name)
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else 0


def _usd(nano: int) -> str:
    return f"${nano / _NANO:.6f}"
