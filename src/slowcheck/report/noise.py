"""Figures of several runs of one plan: each figure's median, min, max and spread, the noise the runs showed.

The spread is ``max - min`` (the range), not the median absolute deviation: repeats are few (three to five),
and with three runs the MAD is one distance (zero when two runs agree), so it would hide the noise actually
seen. The range is the whole of it, which makes a comparison that must beat it conservative: on a shared,
noisy machine a false alarm costs more than a change noticed one release later.
"""

from __future__ import annotations

import statistics
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

__all__ = ["SPREAD", "Figure", "figures", "numbers", "rounded"]

SPREAD = "max - min of the runs' values (their range: the noise seen)"
"""What ``spread`` means, as ``repeat.json`` and ``report compare`` say it."""


@dataclass(frozen=True, slots=True)
class Figure:
    """One figure over several runs; ``values`` keeps each run's (``None`` where it measured nothing)."""

    values: tuple[float | None, ...]

    @property
    def measured(self) -> list[float]:
        return [v for v in self.values if v is not None]

    @property
    def median(self) -> float | None:
        measured = self.measured
        return rounded(statistics.median(measured)) if measured else None

    @property
    def low(self) -> float | None:
        return min(self.measured, default=None)

    @property
    def high(self) -> float | None:
        return max(self.measured, default=None)

    @property
    def spread(self) -> float | None:
        """``max - min``; ``None`` with fewer than two measured runs (no noise known)."""
        measured = self.measured
        return rounded(max(measured) - min(measured)) if len(measured) > 1 else None

    def to_json(self) -> dict[str, Any]:
        return {"median": self.median, "min": self.low, "max": self.high, "spread": self.spread,
                "values": list(self.values)}  # fmt: skip


def numbers(summary: Mapping[str, Any], *, skip: Iterable[str] = ("settings",)) -> dict[str, float | None]:
    """Every numeric leaf of a summary by its dotted name (``submit.latency_ms.p95``); booleans, strings and
    arrays (timelines, examples) left out, ``None`` kept (a figure not measured in that run)."""
    flat: dict[str, float | None] = {}
    skipped = set(skip)

    def walk(prefix: str, node: Any) -> None:
        if isinstance(node, Mapping):
            for key, value in node.items():
                name = f"{prefix}.{key}" if prefix else str(key)
                if name not in skipped:
                    walk(name, value)
        elif node is None or (isinstance(node, (int, float)) and not isinstance(node, bool)):
            flat[prefix] = node

    walk("", summary)
    return flat


def figures(runs: Sequence[Mapping[str, float | None]]) -> dict[str, Figure]:
    """Each name any run has, its values in run order (``None`` where a run lacks it), sorted by name."""
    names = sorted({name for run in runs for name in run})
    return {name: Figure(tuple(run.get(name) for run in runs)) for name in names}


def rounded(value: float) -> float:
    """Six significant digits: a median of two halves, a spread of floats, without the binary noise."""
    return float(f"{value:.6g}")
