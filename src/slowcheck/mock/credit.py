"""``--credit``: what each key may spend, held for pending work and charged from real usage.

A submission's cost is estimated from its prompt tokens (counted as ``usage`` will count them) and the most
completion tokens it may get (``n`` x ``max_tokens``, or the generator's own defaults), at its model's prices.
What exceeds a key's available credit (its balance less what is held) is refused with a 402; what is accepted
holds its estimate until it finishes: a Success is charged its real ``usage``, a Failed generation nothing.
Batch lines hold nothing: each is charged as it completes (a batch is refused only once nothing is left).
The ledger lives in the store's own SQLite file, written in the same commits as the generations it is about.
Amounts are integers of nano-USD, so a hold and its release cancel exactly.
"""

from __future__ import annotations

import math
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from slowcheck import _json
from slowcheck.errors import ConfigError
from slowcheck.mock import generator
from slowcheck.mock.errors import ApiError, excerpt
from slowcheck.mock.records import Generation

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

if TYPE_CHECKING:
    from slowcheck.mock.engine import Engine
    from slowcheck.mock.settings import MockSettings

__all__ = ["DEFAULT_PRICES", "Credit", "Price", "load_prices"]

_NANO = 1_000_000_000
"""Ledger units a dollar."""


@dataclass(frozen=True, slots=True)
class Price:
    """USD per million tokens, in and out."""

    input: float
    output: float

    def cost(self, prompt_tokens: int, completion_tokens: int) -> int:
        """In nano-USD: a price of p USD per million tokens is 1000 x p nano-USD a token."""
        return round((prompt_tokens * self.input + completion_tokens * self.output) * 1000)


DEFAULT_PRICES: dict[str, Price] = {
    "google/gemma-3-27b-instruct/bf-16": Price(0.15, 0.30),
    "meta-llama/llama-3.2-3b-instruct/fp-16": Price(0.02, 0.02),
    "meta-llama/llama-3.2-1b-instruct/fp-8": Price(0.01, 0.01),
    "inference-net/load-test": Price(0.02, 0.02),
    "qwen/qwen3-embedding-4b": Price(0.02, 0.0),
    "default": Price(0.10, 0.10),
}
"""Estimates for the mock's own models, not inference.net's price list: give ``--prices`` for real figures."""


def load_prices(source: str | Mapping[str, Any] | None) -> dict[str, Price]:
    """The built-in estimates, or a price file (TOML, or JSON by its ``.json`` suffix) or table instead: every
    model it lists, and a ``default`` for the others (a table of its own, so no built-in figure mixes in)."""
    if source is None:
        return dict(DEFAULT_PRICES)
    where = "prices" if isinstance(source, Mapping) else f"prices {source}"
    table = source if isinstance(source, Mapping) else _read(Path(source))
    if "default" not in table:
        raise ConfigError(f"{where}: no 'default' entry (the price of the models it does not list)")
    prices: dict[str, Price] = {}
    for model, entry in table.items():
        fields = entry if isinstance(entry, Mapping) else {}
        values = [fields.get(name) for name in ("input", "output")]
        if set(fields) != {"input", "output"} or not all(_price(v) for v in values):
            raise ConfigError(
                f"{where}: {model!r} must be {{input = USD, output = USD}} per million tokens (>= 0), "
                f"got {excerpt(entry)}"
            )
        prices[str(model)] = Price(float(values[0]), float(values[1]))  # type: ignore[arg-type]
    return prices


def _price(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and 0 <= value < math.inf


def _read(path: Path) -> Mapping[str, Any]:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read prices {path}: {exc.strerror or exc}") from None
    try:
        table = _json.loads(text.encode()) if path.suffix.lower() == ".json" else tomllib.loads(text)
    except (ValueError, tomllib.TOMLDecodeError) as exc:
        kind = "JSON" if path.suffix.lower() == ".json" else "TOML"
        raise ConfigError(f"prices {path} is not valid {kind}: {str(exc).splitlines()[0][:120]}") from None
    if not isinstance(table, Mapping):
        raise ConfigError(f"prices {path}: expected a table of models")
    return table


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
        self.prices = load_prices(settings.prices) if self.enabled else {}
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
        return self._price(generation.request["model"]).cost(prompt, completion)

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
            charge = self._price(model).cost(_tokens(usage, "prompt_tokens"), _tokens(usage, "completion_tokens"))
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

    def _price(self, model: str) -> Price:
        return self.prices.get(model) or self.prices["default"]

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
