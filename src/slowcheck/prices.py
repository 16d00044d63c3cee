"""What a run costs: the price table, a submission's worst case, and the spend of a run (``Spend``).

The table gives, per model, USD per million tokens in and out, and the asynchronous discount as a factor (what
``/v1/slow`` charges of those prices). What the API's documentation says, and what the built-in table assumes:

- [documented] inference.net prices serverless models "in USD per 1M tokens", with separate input and output
  rates; the asynchronous API has "significantly cheaper pricing compared to synchronous requests" ("contact
  sales for specific rates"); requests are authorized against the credit balance up front (a 402 when it cannot
  cover the estimated cost), and failed inferences are never billed.
- [assumed] the figures below: estimates for the mock's own models, not inference.net's price list.
- [assumed] the asynchronous discount: no figure is published, so the built-in factor is 1.0 (no discount).
  A spend cap that errs high stops early rather than late; give ``--prices`` with your account's rates.
- [assumed] a submission's worst case: a token per byte of its JSON body (no tokenizer makes fewer bytes a
  token) and ``n`` x its token limit out (``max_completion_tokens``, ``max_tokens``; else OpenAI's documented
  16 for a text completion and an assumed 4,096 for a chat); an embedding, its input only.

A price file (``--prices FILE``: TOML, or JSON by its ``.json`` suffix) lists models as ``{input = USD, output
= USD}``, a ``default`` entry for the models it does not list, and optionally ``async_discount`` (0 < f <= 1).
"""

from __future__ import annotations

import math
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from slowcheck import _json, config_file
from slowcheck.errors import ConfigError

__all__ = [
    "BUILT_IN",
    "DEFAULT_PRICES",
    "Price",
    "PriceTable",
    "Spend",
    "SpendLimitReached",
    "combine",
    "describe",
    "load_prices",
    "load_table",
    "usd",
    "worst_case",
]

_NANO = 1_000_000_000
"""Nano-USD a dollar (the mock's credit ledger counts in integers of them)."""
BUILT_IN = "built-in estimate"
"""How a report names the built-in table (a price file is named by its path)."""
_CHAT_LIMIT = 4096
"""[assumed] The most tokens a chat completion without a token limit may write."""
_TEXT_LIMIT = 16
"""OpenAI's documented default ``max_tokens`` of a legacy (text) completion."""


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
"""[assumed] Estimates for the mock's own models, not inference.net's price list: give ``--prices`` for real
figures."""


@dataclass(frozen=True, slots=True)
class PriceTable:
    """Prices per model (``default`` for the others), the asynchronous discount, and where they come from."""

    prices: Mapping[str, Price]
    discount: float = 1.0
    """What the asynchronous API charges of the prices (1.0: no discount, the built-in assumption)."""
    source: str = BUILT_IN

    def price(self, model: Any) -> Price:
        return self.prices.get(str(model)) or self.prices["default"]

    def nano(self, model: Any, prompt_tokens: int, completion_tokens: int) -> int:
        """The cost in nano-USD, the discount applied."""
        return round(self.price(model).cost(prompt_tokens, completion_tokens) * self.discount)

    def usd(self, model: Any, prompt_tokens: int, completion_tokens: int) -> float:
        price = self.price(model)
        return (prompt_tokens * price.input + completion_tokens * price.output) * self.discount / 1e6


def load_table(source: str | Path | Mapping[str, Any] | None) -> PriceTable:
    """The built-in estimates, or a price file (TOML, or JSON by its ``.json`` suffix) or table instead: every
    model it lists, and a ``default`` for the others (a table of its own, so no built-in figure mixes in)."""
    if source is None:
        return PriceTable(dict(DEFAULT_PRICES))
    where = "prices" if isinstance(source, Mapping) else f"prices {source}"
    table = dict(source if isinstance(source, Mapping) else _read(Path(source)))
    discount = table.pop("async_discount", 1.0)
    if not _number(discount) or not 0 < discount <= 1:
        raise ConfigError(f"{where}: async_discount must be a factor above 0 and at most 1, got {_excerpt(discount)}")
    if "default" not in table:
        raise ConfigError(f"{where}: no 'default' entry (the price of the models it does not list)")
    prices: dict[str, Price] = {}
    for model, entry in table.items():
        fields: Mapping[str, Any] = entry if isinstance(entry, Mapping) else {}
        values: list[Any] = [fields.get(name) for name in ("input", "output")]
        if set(fields) != {"input", "output"} or not all(_number(v) and v >= 0 for v in values):
            raise ConfigError(
                f"{where}: {model!r} must be {{input = USD, output = USD}} per million tokens (>= 0), "
                f"got {_excerpt(entry)}"
            )
        prices[str(model)] = Price(float(values[0]), float(values[1]))
    return PriceTable(prices, float(discount), BUILT_IN if isinstance(source, Mapping) else str(source))


def load_prices(source: str | Mapping[str, Any] | None) -> dict[str, Price]:
    """The table's prices alone (``load_table``)."""
    return dict(load_table(source).prices)


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and -math.inf < value < math.inf


def _excerpt(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def _read(path: Path) -> Mapping[str, Any]:
    table = config_file.read(path, "prices")
    if not isinstance(table, Mapping):
        raise ConfigError(f"prices {path}: expected a table of models")
    return table


def worst_case(body: Any, kind: str) -> tuple[int, int]:
    """A submission's most prompt and completion tokens, before it is sent: a token per byte of its JSON body,
    and ``n`` x its token limit out (none for an embedding; a raw body's is the kind's default limit)."""
    raw = body if isinstance(body, bytes) else _json.dumps(body) if body is not None else b""
    if kind == "embedding":
        return len(raw), 0
    fields: Mapping[str, Any] = body if isinstance(body, Mapping) else {}
    limit: Any = next((v for v in (fields.get("max_completion_tokens"), fields.get("max_tokens")) if _whole(v)), None)
    if limit is None:
        limit = _TEXT_LIMIT if kind == "text" else _CHAT_LIMIT
    n: Any = fields.get("n")
    return len(raw), (int(n) if _whole(n) else 1) * int(limit)


def _whole(value: Any) -> bool:
    return _number(value) and value == int(value) and value > 0


class SpendLimitReached(Exception):
    """A submission would take the run's estimate past ``--max-spend``: it is not sent."""


@dataclass(slots=True)
class Spend:
    """A run's spend: every accepted submission (duplicates and retries included), priced from the usage its
    terminal record reports, or at its worst case while that was not read; and ``--max-spend``'s stop."""

    table: PriceTable = field(default_factory=lambda: load_table(None))
    limit: float | None = None
    """``--max-spend`` in USD: a submission whose worst case would pass it is not sent."""
    submissions: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    stopped: int = 0
    """Submissions the limit kept from being sent."""
    _usage_usd: float = 0.0
    _pending: dict[str, float] = field(default_factory=dict)
    """Accepted generations (or groups) whose usage was not read: their worst case, in USD."""
    _in_flight: float = 0.0
    _settled: set[str] = field(default_factory=set)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def worst_usd(self, model: Any, body: Any, kind: str) -> float:
        """A submission's worst case in USD (``worst_case`` at its model's price)."""
        return self.table.usd(model, *worst_case(body, kind))

    def admit(self, worst: float) -> float:
        """Before a submission: its worst case (USD) held until it is answered; ``SpendLimitReached`` when the
        estimate would pass the limit."""
        with self._lock:
            if self.limit is not None and self._committed() + worst > self.limit:
                self.stopped += 1
                raise SpendLimitReached(
                    f"the spend limit (--max-spend {self.limit:g} USD) would be passed: about "
                    f"{usd(self._committed())} spent or held, and this submission may cost {usd(worst)}"
                )
            self._in_flight += worst
        return worst

    def answered(self, worst: float, accepted: list[str], *, count: int | None = None) -> None:
        """A submission's answer: the generations it made (a group's id once, for its ``count`` members) hold its
        worst case until their usage is read; a refusal holds nothing."""
        with self._lock:
            self._in_flight = max(0.0, self._in_flight - worst)
            self.submissions += count if count is not None else len(accepted)
            for key in accepted:
                if key not in self._pending and key not in self._settled:
                    self._pending[key] = worst / max(1, len(accepted))

    def settle(self, generation_id: str, model: Any, usage: Any, *, group: str | None = None, size: int = 1) -> None:
        """A terminal record read: its usage priced once (a Failed one, or one without usage, costs nothing)."""
        with self._lock:
            if generation_id in self._settled:
                return
            self._settled.add(generation_id)
            if generation_id in self._pending:
                del self._pending[generation_id]
            elif group is not None and group in self._pending:
                self._pending[group] = max(0.0, self._pending[group] * (1 - 1 / max(1, size)))
            if not isinstance(usage, Mapping):
                return
            prompt, completion = _count(usage, "prompt_tokens"), _count(usage, "completion_tokens")
            self.prompt_tokens += prompt
            self.completion_tokens += completion
            self._usage_usd += self.table.usd(model, prompt, completion)

    def _committed(self) -> float:
        return self._usage_usd + sum(self._pending.values()) + self._in_flight

    @property
    def estimate_usd(self) -> float:
        """What the usage read costs at the table's prices."""
        with self._lock:
            return self._usage_usd

    @property
    def at_most_usd(self) -> float:
        """The estimate with every accepted submission whose usage was not read (or sent, never answered) at its
        worst case: what ``--max-spend`` holds the run to."""
        with self._lock:
            return self._committed()

    def to_json(self) -> dict[str, Any]:
        with self._lock:
            unread, committed, usage = len(self._pending), self._committed(), self._usage_usd
        return {
            "estimate_usd": round(usage, 6),
            "at_most_usd": round(committed, 6),
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": self.completion_tokens,
            "submissions": self.submissions,
            "unread": unread,
            "limit_usd": self.limit,
            "stopped": self.stopped,
            "prices": self.table.source,
        }

    def line(self) -> str:
        """The console's line: 'spent about $0.0123 (estimate): ...'."""
        return describe(self.to_json())


def describe(found: Mapping[str, Any]) -> str:
    """A spend (``Spend.to_json``'s, or a load summary's ``spend``) in one line."""
    source = found["prices"]
    text = (
        f"spent about {usd(found['estimate_usd'])} (estimate, {source if source == BUILT_IN else 'prices ' + source}):"
        f" {found['prompt_tokens']} prompt + {found['completion_tokens']} completion tokens over "
        f"{found['submissions']} submission(s)"
    )
    if found["unread"]:
        text += f"; at most {usd(found['at_most_usd'])} with the {found['unread']} whose usage was not read"
    if found["limit_usd"] is not None:
        text += f"; --max-spend {found['limit_usd']:g} USD"
        if found["stopped"]:
            text += f" kept {found['stopped']} submission(s) from being sent"
    return text


def combine(*spends: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """The spends of a run's parts (the contract's, a load phase's) as one: amounts and counts added, the limit
    and the prices of the first."""
    given = [s for s in spends if s]
    if not given:
        return None
    found = dict(given[0])
    for other in given[1:]:
        for name in ("estimate_usd", "at_most_usd", "prompt_tokens", "completion_tokens", "submissions", "unread"):
            found[name] = found[name] + other[name]
        found["stopped"] += other["stopped"]
    for name in ("estimate_usd", "at_most_usd"):
        found[name] = round(found[name], 6)
    return found


def usd(amount: float) -> str:
    """Dollars as a report shows them: four decimals, six below a cent (the mock's runs cost fractions of one)."""
    return f"${amount:.4f}" if amount >= 0.01 or amount == 0 else f"${amount:.6f}"


def _count(usage: Mapping[str, Any], name: str) -> int:
    value = usage.get(name)
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else 0
