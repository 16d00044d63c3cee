"""The terminal's account of a load run: a line per part the scenario measured, then the thresholds (the command
prints them; ``slowcheck run`` indents them under its phase)."""

from __future__ import annotations

from typing import Any

from slowcheck.load import outcome
from slowcheck.prices import describe as describe_spend

__all__ = ["describe"]


def describe(summary: dict[str, Any]) -> list[str]:
    """The terminal summary: one line per part the scenario measured, then the thresholds."""
    if summary["scenario"] == "batch":
        return _describe_batch(summary)
    submit = summary["submit"]
    latency = submit["latency_ms"]
    lines = [
        f"  submit: {submit['count']} sent, {submit['ok']} accepted, {submit['rate_limited']} 429, "
        f"{submit['errors']} errors; {submit['throughput_per_s']}/s; ack p50 {latency['p50']} ms, "
        f"p95 {latency['p95']} ms, p99 {latency['p99']} ms"
    ]
    if submit["unfinished"]:  # stopped early: sent, perhaps taken and billed, never answered
        lines.append(f"  unanswered when the run stopped: {submit['unfinished']} (sent; the API may have taken them)")
    if summary["scenario"] == "jobs":
        lines += _describe_jobs(summary["jobs"])
    if summary.get("spend"):
        lines.append(f"  {describe_spend(summary['spend'])}")
    if "limits" in summary:
        lines.append(f"  limit met: {summary['limits']['says']}")
    if summary["scenario"] == "rate-limit":
        lines += _describe_limit(summary["rate_limit"])
    for name, strategy in summary["poll"].items():
        if strategy["not_run"]:
            lines.append(f"  poll {name}: not run ({strategy['not_run']})")
            continue
        lines.append(
            f"  poll {name}: {strategy['completions']} completions, {strategy['polls_per_completion']} polls each, "
            f"latency p50 {strategy['latency_s']['p50']} s, detection lag p50 {strategy['detection_lag_s']['p50']} s"
        )
    for threshold in summary["thresholds"]:
        verdict = "holds" if threshold["passed"] else "BREACHED"
        lines.append(f"  threshold {threshold['expr']}: {verdict} (measured {threshold['value']})")
    return lines


def _describe_limit(limits: dict[str, Any]) -> list[str]:
    if not limits["conclusive"]:
        return [f"  rate limit: inconclusive: {limits['reason'] or outcome.NO_READING}"]
    rate = f"{limits['sustained_per_s']}/s"
    if 50 <= limits["window_s"] <= 70:
        rate += f" ({limits['per_minute']:.0f} a minute)"
    declared = f"; the API says {limits['declared_limit']}" if limits["declared_limit"] is not None else ""
    return [
        f"  rate limit: {limits['kind']}: burst {limits['burst']}, sustained {rate}, window {limits['window_s']} s"
        f"{declared} (watched {limits['watched_s']} s)",
        f"  429s: Retry-After on every one {limits['retry_after_present']}, envelope {limits['envelope_ok']}, "
        f"waiting as it says clears it {limits['retry_after_clears']}",
    ]


def _describe_jobs(figures: dict[str, Any]) -> list[str]:
    latency = figures["latency_s"]
    through, good, canaries = figures["throughput"], figures["goodput"], figures["canaries"]
    correct = figures["correctness"]
    lines = [
        f"  jobs: {figures['accepted']} accepted, {figures['completed']} completed, {figures['failed']} failed, "
        f"{figures['expired']} expired, {figures['open']} still open",
        "  latency p50/p99 (s): " + ", ".join(
            f"{name} {_seconds_pair(latency[name])}" for name in ("accept", "queue", "run", "e2e", "notice")
        ),
        f"  throughput: {_figure_2(through['jobs_per_s'])} jobs/s, {_figure_2(through['output_tokens_per_s'])} "
        "output tokens/s",
    ]  # fmt: skip
    if good["slo"]:
        share = "n/a" if good["share"] is None else f"{100 * good['share']:.1f} %"
        lines.append(f"  goodput ({', '.join(good['slo'])}): {_figure_2(good['jobs_per_s'])} jobs/s, {share} of jobs")
    lines.append(
        f"  answers: {correct['checked']} checked, {correct['mismatched']} not their job's; canaries "
        f"{canaries['correct']}/{canaries['sent']} correct, {canaries['mismatched']} mismatched"
    )
    lag = figures["dispatch"]["lag_ms"]
    lines.append(f"  dispatch: lag p50 {lag['p50']} ms, p99 {lag['p99']} ms, {figures['dispatch']['dropped']} dropped")
    return lines


def _seconds_pair(figures: dict[str, Any]) -> str:
    return f"{_figure_2(figures['p50'])}/{_figure_2(figures['p99'])}"


def _figure_2(value: float | None) -> str:
    return "n/a" if value is None else f"{value:,.2f}"


def _describe_batch(summary: dict[str, Any]) -> list[str]:
    b = summary["batch"]
    up = b["upload"]
    answered = b["answered"]
    lines = [
        f"  upload: {b['lines']:,} lines, {b['bytes'] / 1e6:.1f} MB in {up['seconds']:.2f} s "
        f"({up['lines_per_s']:,.0f} lines/s, {up['mb_per_s']:.1f} MB/s)",
        f"  batch {b['id']}: {b['status']}; create to in_progress {_seconds(b['to_in_progress_s'])}, to completed "
        f"{_seconds(b['to_completed_s'])}; {_figure(b['completed_per_s'])} lines completed/s",
        f"  results: {answered['output_lines']} output and {answered['error_lines']} error lines; "
        f"{answered['missing']} custom_ids missing, {answered['repeated']} answered twice",
        f"  limit met: {summary['limits']['says']}",
    ]
    for threshold in summary["thresholds"]:
        verdict = "holds" if threshold["passed"] else "BREACHED"
        lines.append(f"  threshold {threshold['expr']}: {threshold['value']} ({verdict})")
    return lines


def _seconds(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.2f} s"


def _figure(value: float | None) -> str:
    return "n/a" if value is None else f"{value:,.0f}"
