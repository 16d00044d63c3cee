"""``slowcheck load SCENARIO --repeat N``: one checked plan run N times, and each figure's median and spread.

Run K writes a normal report folder, ``REPORT_DIR/run-K`` (``summary.json``, ``index.html``...), left as it wrote
it. ``REPORT_DIR/repeat.json`` then holds, for every numeric figure of the runs' summaries (``settings`` aside),
its median, min, max, spread and each run's value, with each run's verdict and the worst of them. The spread is
``max - min`` (``report.noise`` says why); ``slowcheck report compare`` takes the folder as one side and compares
medians beyond it. The verdict is the worst run's by the one grading rule (``verdict.combine``): any run failed
fails (exit 1); else any inconclusive run makes it inconclusive (exit 3); else it passes (exit 0).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from slowcheck.load import outcome
from slowcheck.report.noise import SPREAD, figures, numbers
from slowcheck.verdict import Verdict, combine

__all__ = ["REPEAT_FILE", "Repeated", "headline", "repeat", "run_folder", "summarise"]

REPEAT_FILE = "repeat.json"
_HEADLINE = (
    "submit.throughput_per_s", "submit.latency_ms.p50", "submit.latency_ms.p95", "submit.latency_ms.p99",
    "submit.errors", "submit.rate_limited", "rate_limit.burst", "rate_limit.sustained_per_s",
    "jobs.latency_s.queue.p99", "jobs.latency_s.e2e.p50", "jobs.latency_s.e2e.p99", "jobs.throughput.jobs_per_s",
    "jobs.goodput.share", "batch.completed_per_s", "batch.to_completed_s", "batch.upload.lines_per_s",
)  # fmt: skip
_POLL_HEADLINE = re.compile(r"^poll\.[^.]+\.(latency_s\.p50|detection_lag_s\.p50|polls_per_completion)$")


@dataclass(frozen=True, slots=True)
class Repeated:
    """What the runs found together: ``repeat.json``'s document and the worst run's verdict."""

    document: dict[str, Any]
    verdict: Verdict


def run_folder(report_dir: Path, index: int) -> Path:
    """Run ``index`` (from 1)'s own report folder."""
    return report_dir / f"run-{index}"


def repeat(
    count: int,
    report_dir: Path,
    run_one: Callable[[Path], dict[str, Any]],
    done: Callable[[int, Path, dict[str, Any], Verdict], None] = lambda *_: None,
) -> Repeated:
    """``run_one(folder)`` ``count`` times, one folder each, ``done`` told after each; then ``repeat.json``."""
    folders, summaries, verdicts = [], [], []
    for index in range(1, count + 1):
        folder = run_folder(report_dir, index)
        summary = run_one(folder)
        verdict = outcome.judge(summary)
        done(index, folder, summary, verdict)
        folders.append(folder)
        summaries.append(summary)
        verdicts.append(verdict)
    document = summarise(folders, summaries, verdicts)
    report_dir.mkdir(parents=True, exist_ok=True)
    (report_dir / REPEAT_FILE).write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")
    return Repeated(document, _worst(verdicts))


def summarise(
    folders: Sequence[Path], summaries: Sequence[dict[str, Any]], verdicts: Sequence[Verdict]
) -> dict[str, Any]:
    """``repeat.json``: the scenario, what spread means, each run's verdict, each figure over the runs."""
    worst = _worst(verdicts)
    return {
        "scenario": summaries[0].get("scenario") if summaries else None,
        "repeat": len(summaries),
        "spread": SPREAD,
        "verdict": {"status": worst.status, "reasons": list(worst.reasons)},
        "runs": [
            {"folder": folder.name, "verdict": verdict.status, "reasons": list(verdict.reasons)}
            for folder, verdict in zip(folders, verdicts, strict=True)
        ],
        "figures": {name: figure.to_json() for name, figure in figures([numbers(s) for s in summaries]).items()},
    }


def headline(document: dict[str, Any]) -> list[str]:
    """The console's table: the scenario's headline figures with median, min, max and spread."""
    order = {name: index for index, name in enumerate(_HEADLINE)}
    shown = sorted(
        (
            (name, figure)
            for name, figure in document["figures"].items()
            if (name in order or _POLL_HEADLINE.match(name)) and figure["median"] is not None
        ),
        key=lambda item: (order.get(item[0], len(order)), item[0]),
    )
    if not shown:
        return []
    rows = [("figure", "median", "min", "max", "spread")]
    rows += [(name, *(_cell(f[k]) for k in ("median", "min", "max", "spread"))) for name, f in shown]
    widths = [max(len(row[i]) for row in rows) for i in range(5)]
    return ["  " + "  ".join(cell.ljust(widths[i]) if i == 0 else cell.rjust(widths[i])
                              for i, cell in enumerate(row)) for row in rows]  # fmt: skip


def _cell(value: float | None) -> str:
    return "n/a" if value is None else f"{value:g}"


def _worst(verdicts: Sequence[Verdict]) -> Verdict:
    """The worst run's verdict (fail, then inconclusive, then pass), each reason naming its run."""
    named = [Verdict(v.status, tuple(f"run {i}: {r}" for r in v.reasons)) for i, v in enumerate(verdicts, 1)]
    return combine(*named)
