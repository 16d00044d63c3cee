"""``summary.json``: the figures of a load run, computed from the merged samples.

The top-level keys are public (tools and ``--threshold`` read them): ``scenario``, ``target``, ``duration_s``,
``submit``, ``rate_limit``, ``limits``, ``poll``, ``thresholds``. The rest (``timeline``, ``settings``, …)
feeds the HTML page.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Sequence
from typing import Any

from slowcheck import __version__
from slowcheck.load import limits
from slowcheck.load.samples import Samples, StrategySamples

__all__ = ["build", "percentile", "ranked"]

_TIMELINE_POINTS = 300


def percentile(values: Sequence[float], q: float) -> float | None:
    """The q-th percentile (0..100) with linear interpolation between ranks; ``None`` for no values."""
    return ranked(sorted(values), q)


def ranked(ordered: Sequence[float], q: float) -> float | None:
    """:func:`percentile` of values already sorted (several percentiles of one large set sort it once)."""
    if not ordered:
        return None
    rank = (len(ordered) - 1) * q / 100
    low = math.floor(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def build(samples: Samples, *, scenario: str, target: str, settings: dict[str, Any]) -> dict[str, Any]:
    return {
        "scenario": scenario,
        "target": target,
        "duration_s": _round(samples.ended - samples.started if samples.ended else 0.0),
        "submit": _submit(samples),
        "rate_limit": _rate_limit(samples),
        "limits": limits.met(
            samples.refusals,
            samples.per_tick,
            limits.Budget(settings.get("rate_limit_per_minute"), settings.get("gateway_rps")),
        ),
        "poll": {name: _strategy(s) for name, s in sorted(samples.strategies.items())},
        "thresholds": [],
        "ack_validation": {
            "checked": samples.acks_checked,
            "invalid": samples.acks_invalid,
            "examples": samples.ack_problems,
        },
        "timeline": _timeline(samples),
        "settings": settings,
        "slowcheck": __version__,
    }


def _submit(samples: Samples) -> dict[str, Any]:
    rows = samples.submits
    statuses = Counter(int(status) for _, _, status in rows)
    ok = sum(n for status, n in statuses.items() if 200 <= status < 300)
    limited = statuses.get(429, 0)
    latencies = [ms for _, ms, status in rows if 200 <= status < 300]
    window = (max(t + ms / 1000 for t, ms, _ in rows) - samples.started) if rows else 0.0
    return {
        "count": len(rows),
        "ok": ok,
        "rate_limited": limited,
        "errors": len(rows) - ok - limited,
        "dropped": samples.dropped,
        "unfinished": samples.unfinished,
        "throughput_per_s": _round(ok / window) if window > 0 else 0.0,
        "latency_ms": _percentiles(latencies, (50, 95, 99), with_max=True),
        "statuses": {str(k): v for k, v in sorted(statuses.items())},
        "error_messages": dict(samples.errors.most_common(10)),
    }


def _rate_limit(samples: Samples) -> dict[str, Any]:
    """What the 429s said (any scenario), and the probe's reading of the limit (rate-limit only)."""
    limited = samples.limited
    seen = limited.get("count", 0)
    reading = samples.reading or {}
    return {
        "conclusive": reading.get("conclusive"),
        "reason": reading.get("reason"),
        "burst": reading.get("burst"),
        "sustained_per_s": reading.get("sustained_per_s"),
        "per_minute": reading.get("per_minute"),
        "window_s": reading.get("window_s"),
        "kind": reading.get("kind"),
        "evidence": reading.get("evidence", []),
        "from_idle": reading.get("from_idle"),
        "declared_limit": reading.get("declared_limit"),
        "retry_after_s": reading.get("retry_after_s"),
        "retry_after_present": (limited.get("retry_after", 0) == seen) if seen else None,
        "envelope_ok": (limited.get("envelope_ok", 0) == seen) if seen else None,
        "retry_after_clears": reading.get("retry_after_clears"),
        "rate_limited_seen": seen,
        "watched_s": reading.get("watched_s"),
        "cycles": reading.get("cycles", []),
    }


def _strategy(strategy: StrategySamples) -> dict[str, Any]:
    done = strategy.completions
    latency = [seen - submitted for _, submitted, seen, _, _, _ in done]
    lag = [max(0.0, seen - finished) for _, _, seen, finished, _, _ in done if finished is not None]
    return {
        "completions": len(done),
        "polls": strategy.polls,
        "polls_per_completion": _round(strategy.polls / len(done)) if done else None,
        "wasted_polls": strategy.wasted,
        "rate_limited": strategy.rate_limited,
        "errors": strategy.errors,
        "webhooks": strategy.webhooks,
        "unfinished": strategy.unfinished,
        "latency_s": _percentiles(latency, (50, 95)),
        "detection_lag_s": _percentiles(lag, (50, 95)),
        "states": dict(Counter(state for *_, state in done)),
        "not_run": strategy.not_run,
    }


def _timeline(samples: Samples) -> list[dict[str, Any]]:
    """Per bucket of intended arrival time: offered, ok, 429 and error counts, and ack latency."""
    rows = samples.submits
    if not rows:
        return []
    span = max(t for t, _, _ in rows) - samples.started
    width = max(1.0, math.ceil(span / _TIMELINE_POINTS))
    buckets: dict[int, list[list[float]]] = {}
    for row in rows:
        buckets.setdefault(int((row[0] - samples.started) // width), []).append(row)
    timeline = []
    for index in range(max(buckets) + 1):
        bucket = buckets.get(index, [])
        ok = [ms for _, ms, status in bucket if 200 <= status < 300]
        limited = sum(1 for *_, status in bucket if status == 429)
        timeline.append(
            {
                "t": index * width,
                "offered_per_s": _round(len(bucket) / width),
                "ok_per_s": _round(len(ok) / width),
                "rate_limited_per_s": _round(limited / width),
                "errors_per_s": _round((len(bucket) - len(ok) - limited) / width),
                "latency_ms": _percentiles(ok, (50, 95)),
            }
        )
    return timeline


def _percentiles(values: Sequence[float], qs: Iterable[int], *, with_max: bool = False) -> dict[str, float | None]:
    figures: dict[str, float | None] = {f"p{q}": _round(percentile(values, q)) for q in qs}
    if with_max:
        figures["max"] = _round(max(values)) if values else None
    return figures


def _round(value: float | None, digits: int = 3) -> float | None:
    return None if value is None else round(value, digits)
