"""The load report's figures, drawn with matplotlib and inlined as SVG (the page must open from disk)."""

from __future__ import annotations

import io
from typing import Any

import matplotlib

matplotlib.use("Agg")  # no display; must precede pyplot
import matplotlib.pyplot as plt
from matplotlib.figure import Figure

__all__ = ["figures"]

_COLOURS = {"offered": "#9aa5b1", "ok": "#2f855a", "limited": "#dd6b20", "errors": "#c53030", "p50": "#2b6cb0"}
plt.rcParams.update(
    {
        "svg.fonttype": "none",
        "svg.hashsalt": "slowcheck",
        "font.size": 9,
        "axes.spines.top": False,
        "axes.spines.right": False,
        "axes.grid": True,
        "grid.alpha": 0.3,
    }
)


def figures(summary: dict[str, Any]) -> list[tuple[str, str]]:
    """``(caption, svg)`` for every figure the summary has data for."""
    drawn: list[tuple[str, str]] = []
    batch = summary.get("batch") or {}
    if batch.get("timeline"):
        drawn.append(("Lines completed since the batch was created", _svg(_batch_progress(batch))))
    timeline = summary.get("timeline") or []
    if timeline:
        drawn.append(("Throughput over time (per second of planned arrival)", _svg(_throughput(timeline))))
        drawn.append(("Ack latency over time, from each planned arrival", _svg(_latency(timeline))))
    steps = summary.get("steps") or []
    if steps:
        drawn.append(("Share of 429s against offered rate", _svg(_limits(steps, summary["rate_limit"]))))
    poll = {k: v for k, v in (summary.get("poll") or {}).items() if v["completions"]}
    if poll:
        drawn.append(("Polling strategies: cost and latency", _svg(_strategies(poll))))
    return drawn


def _batch_progress(batch: dict[str, Any]) -> Figure:
    figure, axes = plt.subplots(figsize=(6, 3))
    points = batch["timeline"]
    axes.step([p["t"] for p in points], [p["completed"] for p in points], where="post", color=_COLOURS["ok"],
              label="completed")  # fmt: skip
    axes.axhline(batch["lines"], color=_COLOURS["offered"], linestyle="--", label="lines")
    axes.set(xlabel="seconds since create", ylabel="lines")
    _legend(axes, 2)
    return figure


def _throughput(timeline: list[dict[str, Any]]) -> Figure:
    figure, axes = plt.subplots(figsize=(6, 3))
    t = [p["t"] for p in timeline]
    axes.plot(t, [p["offered_per_s"] for p in timeline], color=_COLOURS["offered"], label="offered", linestyle="--")
    axes.plot(t, [p["ok_per_s"] for p in timeline], color=_COLOURS["ok"], label="accepted")
    axes.plot(t, [p["rate_limited_per_s"] for p in timeline], color=_COLOURS["limited"], label="429")
    axes.plot(t, [p["errors_per_s"] for p in timeline], color=_COLOURS["errors"], label="errors")
    axes.set(xlabel="seconds", ylabel="submissions / s")
    _legend(axes, 4)
    return figure


def _latency(timeline: list[dict[str, Any]]) -> Figure:
    figure, axes = plt.subplots(figsize=(6, 3))
    points = [p for p in timeline if p["latency_ms"]["p50"] is not None]
    t = [p["t"] for p in points]
    axes.plot(t, [p["latency_ms"]["p50"] for p in points], color=_COLOURS["p50"], label="p50")
    axes.plot(t, [p["latency_ms"]["p95"] for p in points], color=_COLOURS["limited"], label="p95")
    axes.set(xlabel="seconds", ylabel="ms")
    axes.set_ylim(bottom=0)
    _legend(axes, 2)
    return figure


def _limits(steps: list[dict[str, Any]], limits: dict[str, Any]) -> Figure:
    figure, axes = plt.subplots(figsize=(6, 3))
    for phase, marker in (("climb", "o"), ("settle", "s")):
        chosen = [s for s in steps if s["phase"] == phase]
        if chosen:
            axes.plot(
                [s["rate"] for s in chosen],
                [100 * s["rate_limited_ratio"] for s in chosen],
                marker=marker,
                linestyle="-" if phase == "climb" else ":",
                label=phase,
            )
    if limits.get("sustainable_per_s") is not None:
        axes.axvline(limits["sustainable_per_s"], color=_COLOURS["ok"], linestyle="--", label="sustainable")
    axes.axhline(1.0, color=_COLOURS["offered"], linewidth=0.8)
    axes.set(xlabel="offered submissions / s", ylabel="% answered 429")
    _legend(axes, 3)
    return figure


def _strategies(poll: dict[str, dict[str, Any]]) -> Figure:
    figure, (cost, time_axes) = plt.subplots(1, 2, figsize=(6, 3))
    names = list(poll)
    cost.bar(names, [poll[n]["polls_per_completion"] or 0 for n in names], color=_COLOURS["p50"])
    cost.set(ylabel="polls per completion")
    x = range(len(names))
    width = 0.38
    p50 = [poll[n]["latency_s"]["p50"] or 0 for n in names]
    p95 = [poll[n]["latency_s"]["p95"] or 0 for n in names]
    time_axes.bar([i - width / 2 for i in x], p50, width, label="latency p50", color=_COLOURS["p50"])
    time_axes.bar([i + width / 2 for i in x], p95, width, label="latency p95", color=_COLOURS["limited"])
    time_axes.set_xticks(list(x), names)
    time_axes.set(ylabel="seconds, submit to seen")
    _legend(time_axes, 2)
    figure.tight_layout()
    return figure


def _legend(axes: Any, columns: int) -> None:
    """Above the plot, so it never hides a line."""
    axes.legend(loc="lower left", bbox_to_anchor=(0, 1.0), frameon=False, ncols=columns, borderaxespad=0.2)


def _svg(figure: Figure) -> str:
    buffer = io.StringIO()
    figure.savefig(buffer, format="svg", bbox_inches="tight", metadata={"Date": None})
    plt.close(figure)
    text = buffer.getvalue()
    return text[text.index("<svg") :]
