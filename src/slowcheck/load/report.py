"""What a load run writes: ``summary.json`` (public keys), ``index.html``, and the threshold verdicts."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

from slowcheck.load import jobs, spend, thresholds as threshold_rules
from slowcheck.load.samples import Samples, StrategySamples
from slowcheck.load.summary import build
from slowcheck.load.thresholds import Threshold

__all__ = ["MISMATCH_THRESHOLD", "skeleton", "thresholds", "write"]


def skeleton(scenario: str, strategies: list[str]) -> dict[str, Any]:
    """A summary of nothing, with every key a run of this scenario will have: thresholds are checked on it."""
    samples = Samples(strategies={name: StrategySamples() for name in strategies})
    summary = build(samples, scenario=scenario, target="", settings={})
    if scenario == "jobs":
        summary["jobs"] = jobs.skeleton()
        summary["spend"] = spend.skeleton()
    return summary


MISMATCH_THRESHOLD = "jobs.correctness.mismatched==0"
"""A jobs run breaches on any answer that is not its job's, unless a threshold of the user's names the figure."""


def thresholds(
    exprs: list[str], scenario: str, strategies: list[str], *, max_spend: float | None = None
) -> list[Threshold]:
    """The user's thresholds, and the ones a jobs run always has: no answer another job's, and with
    ``--max-spend`` no arrival kept from being sent (``spend.SPEND_THRESHOLD``)."""
    shape = skeleton(scenario, strategies)
    if scenario == "jobs" and not any(e.strip().startswith("jobs.correctness.mismatched") for e in exprs):
        exprs = [*exprs, MISMATCH_THRESHOLD]
    if scenario == "jobs" and max_spend is not None:
        exprs = [*exprs, spend.SPEND_THRESHOLD]
    return [threshold_rules.parse(expr, shape) for expr in exprs]


def write(
    directory: Path,
    samples: Samples,
    *,
    scenario: str,
    target: str,
    settings: dict[str, Any],
    thresholds: list[Threshold],
    extra: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """``extra``: keys computed elsewhere (the jobs scenario's, from its journal), over those of the samples."""
    summary = build(samples, scenario=scenario, target=target, settings=settings) | (extra or {})
    summary["thresholds"] = threshold_rules.evaluate(thresholds, summary)
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "summary.json").write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
    _write_generations(directory / "generations.csv", samples)
    from slowcheck.load.page import render  # matplotlib loads only when a page is written

    (directory / "index.html").write_text(render(summary), encoding="utf-8")
    return summary


def _write_generations(path: Path, samples: Samples) -> None:
    """Every completion the poll scenario saw, one row each, for analysis beyond the summary."""
    if not samples.strategies:
        return
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["strategy", "generation_id", "submitted_at", "seen_at", "finished_at", "polls", "state"])
        for name, strategy in sorted(samples.strategies.items()):
            for row in strategy.completions:
                writer.writerow([name, *row])
