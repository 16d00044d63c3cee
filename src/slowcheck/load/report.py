"""What a load run writes: ``summary.json`` (public keys), ``index.html``, and the threshold verdicts."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from slowcheck.load import thresholds as threshold_rules
from slowcheck.load.samples import Samples, StrategySamples
from slowcheck.load.summary import build
from slowcheck.load.thresholds import Threshold

__all__ = ["skeleton", "thresholds", "write"]


def skeleton(scenario: str, strategies: list[str]) -> dict[str, Any]:
    """A summary of nothing, with every key a run of this scenario will have: thresholds are checked on it."""
    samples = Samples(strategies={name: StrategySamples() for name in strategies})
    return build(samples, scenario=scenario, target="", settings={})


def thresholds(exprs: list[str], scenario: str, strategies: list[str]) -> list[Threshold]:
    shape = skeleton(scenario, strategies)
    return [threshold_rules.parse(expr, shape) for expr in exprs]


def write(
    directory: Path,
    samples: Samples,
    *,
    scenario: str,
    target: str,
    settings: dict[str, Any],
    thresholds: list[Threshold],
) -> dict[str, Any]:
    summary = build(samples, scenario=scenario, target=target, settings=settings)
    summary["thresholds"] = threshold_rules.evaluate(thresholds, summary)
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "summary.json").write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
    from slowcheck.load.page import render  # matplotlib loads only when a page is written

    (directory / "index.html").write_text(render(summary), encoding="utf-8")
    return summary
