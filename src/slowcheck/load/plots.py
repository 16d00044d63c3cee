"""The load report's figures, drawn with matplotlib and inlined as SVG (the page must open from disk)."""

from __future__ import annotations

import io
from typing import Any

import matplotlib

matplotlib.use("Agg")  # no display; must precede pyplot
import matplotlib.pyplot as plt
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle

from slowcheck.load.jobs import parse_slo

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
    jobs = summary.get("jobs") or {}
    if jobs.get("timeline"):
        drawn.append(("Sampled jobs: queue, run and notice, from the first arrival", _svg(_phases(jobs["timeline"]))))
    if jobs.get("slices"):
        drawn.append(("Completions and output tokens per second, per slice", _svg(_slices(jobs["slices"]))))
    if jobs.get("cdf"):
        drawn.append(("End-to-end time of the measured jobs (CDF)", _svg(_cdf(jobs["cdf"], jobs["goodput"]["slo"]))))
    timeline = summary.get("timeline") or []
    if timeline:
        drawn.append(("Throughput over time (per second of planned arrival)", _svg(_throughput(timeline))))
        drawn.append(("Ack latency over time, from each planned arrival", _svg(_latency(timeline))))
    limits = summary.get("rate_limit") or {}
    if timeline and limits.get("conclusive") is not None:
        drawn.append(("Submissions accepted since the start, and the limit read", _svg(_limits(timeline, limits))))
    poll = {k: v for k, v in (summary.get("poll") or {}).items() if v["completions"]}
    if poll:
        drawn.append(("Polling strategies: cost and latency", _svg(_strategies(poll))))
    return drawn


def _phases(timeline: list[dict[str, Any]]) -> Figure:
    figure, axes = plt.subplots(figsize=(6, 3.2))
    for row, job in enumerate(timeline):
        created, dispatched, finished, seen = (job[k] for k in ("created", "dispatched", "finished", "seen"))
        axes.barh(row, dispatched - created, left=created, height=1.0, color=_COLOURS["offered"], linewidth=0)
        axes.barh(row, finished - dispatched, left=dispatched, height=1.0, color=_COLOURS["ok"], linewidth=0)
        axes.barh(row, max(0.0, seen - finished), left=finished, height=1.0, color=_COLOURS["limited"], linewidth=0)
    axes.set(xlabel="seconds", ylabel="jobs (sampled, by arrival)")
    axes.set_yticks([])
    handles = [Rectangle((0, 0), 1, 1, color=_COLOURS[c]) for c in ("offered", "ok", "limited")]
    axes.legend(handles, ["queue", "run", "notice"], loc="lower left", bbox_to_anchor=(0, 1.0), frameon=False,
                ncols=3, borderaxespad=0.2)  # fmt: skip
    return figure


def _slices(slices: list[dict[str, Any]]) -> Figure:
    figure, jobs_axes = plt.subplots(figsize=(6, 3))
    t = [s["t"] for s in slices]
    width = (t[1] - t[0]) if len(t) > 1 else 1.0
    jobs_axes.bar(t, [s["jobs_per_s"] for s in slices], width=width * 0.9, align="edge", color=_COLOURS["ok"],
                  label="jobs / s")  # fmt: skip
    jobs_axes.set(xlabel="seconds (slice start)", ylabel="jobs completed / s")
    tokens_axes = jobs_axes.twinx()
    tokens_axes.plot([x + width / 2 for x in t], [s["output_tokens_per_s"] for s in slices], color=_COLOURS["p50"],
                     marker="o", linestyle="--", label="output tokens / s")  # fmt: skip
    tokens_axes.set(ylabel="output tokens / s")
    tokens_axes.set_ylim(bottom=0)
    tokens_axes.grid(False)
    handles: list[Any] = [*jobs_axes.containers[:1], *tokens_axes.get_lines()]
    jobs_axes.legend(handles, ["jobs / s", "output tokens / s"], loc="lower left", bbox_to_anchor=(0, 1.0),
                     frameon=False, ncols=2, borderaxespad=0.2)  # fmt: skip
    return figure


def _cdf(cdf: list[list[float]], slos: list[str]) -> Figure:
    figure, axes = plt.subplots(figsize=(6, 3))
    axes.plot([p[0] for p in cdf], [100 * p[1] for p in cdf], color=_COLOURS["ok"], label="e2e")
    for slo in map(parse_slo, slos):
        if slo.metric == "e2e":
            axes.axvline(slo.bound, color=_COLOURS["errors"], linestyle="--", label=f"SLO {slo.expr}")
    axes.set(xlabel="seconds, created to finishedAt", ylabel="% of jobs")
    axes.set_ylim(0, 100)
    _legend(axes, 2)
    return figure


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


def _limits(timeline: list[dict[str, Any]], limits: dict[str, Any]) -> Figure:
    """Accepted submissions summed over time: a ramp for a bucket, stairs for a window, under the reading's line."""
    figure, axes = plt.subplots(figsize=(6, 3))
    t = [p["t"] for p in timeline]
    width = t[1] - t[0] if len(t) > 1 else 1.0
    total, accepted = 0.0, []
    for point in timeline:
        total += point["ok_per_s"] * width
        accepted.append(total)
    axes.step(t, accepted, where="post", color=_COLOURS["ok"], label="accepted")
    if limits.get("conclusive"):
        burst, rate = limits["burst"], limits["sustained_per_s"]
        axes.plot([0, t[-1]], [burst, burst + rate * t[-1]], color=_COLOURS["offered"], linestyle="--",
                  label=f"burst {burst} + {rate:g}/s")  # fmt: skip
    axes.set(xlabel="seconds", ylabel="accepted submissions")
    axes.set_ylim(bottom=0)
    _legend(axes, 2)
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
