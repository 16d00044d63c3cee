"""summary.json from samples: counts, percentiles, the probe's verdicts, and merging across processes."""

from __future__ import annotations

import pytest

from slowcheck.load.samples import Samples, StrategySamples
from slowcheck.load.summary import build, percentile


def test_percentiles_interpolate_between_ranks() -> None:
    values = [float(v) for v in range(1, 101)]
    assert percentile(values, 50) == pytest.approx(50.5)
    assert percentile(values, 99) == pytest.approx(99.01)
    assert percentile([7.0], 95) == 7.0
    assert percentile([], 50) is None


def _samples() -> Samples:
    samples = Samples(started=1000.0, ended=1010.0)
    samples.submits = [[1000.0 + i / 10, 5.0 + i % 10, 200] for i in range(90)]
    samples.submits += [[1009.0 + i / 10, 1.0, 429] for i in range(8)] + [[1009.9, 30000.0, 0], [1009.95, 2.0, 500]]
    samples.limited.update(count=8, retry_after=8, envelope_ok=7)
    return samples


def test_submit_figures() -> None:
    submit = build(_samples(), scenario="submit", target="t", settings={})["submit"]
    assert (submit["count"], submit["ok"], submit["rate_limited"], submit["errors"]) == (100, 90, 8, 2)
    assert submit["latency_ms"]["max"] == 14.0, "latency percentiles cover accepted submissions only"
    assert submit["latency_ms"]["p50"] == pytest.approx(9.5)
    assert submit["statuses"] == {"0": 1, "200": 90, "429": 8, "500": 1}


def test_429_contract_figures_need_every_429_to_comply() -> None:
    limits = build(_samples(), scenario="submit", target="t", settings={})["rate_limit"]
    assert limits["retry_after_present"] is True
    assert limits["envelope_ok"] is False, "one 429 of eight lacked the envelope"
    assert limits["sustained_per_s"] is None, "no probe ran"
    assert limits["conclusive"] is None


def test_the_probes_reading_is_the_rate_limit_figure() -> None:
    samples = _samples()
    samples.reading = {"conclusive": True, "burst": 250, "sustained_per_s": 4.17, "per_minute": 250.2,
                       "window_s": 59.9, "kind": "fixed window", "retry_after_clears": True}  # fmt: skip
    limits = build(samples, scenario="rate-limit", target="t", settings={})["rate_limit"]
    assert (limits["burst"], limits["sustained_per_s"], limits["kind"]) == (250, 4.17, "fixed window")
    assert limits["rate_limited_seen"] == 8
    assert limits["retry_after_clears"] is True


def test_strategy_figures() -> None:
    strategy = StrategySamples(polls=9, wasted=6)
    strategy.completions = [
        ["a", 100.0, 103.0, 102.5, 4, "Success"],
        ["b", 100.0, 101.0, 100.9, 3, "Success"],
        ["c", 100.0, 102.0, None, 2, "Failed"],
    ]
    samples = Samples(started=100.0, ended=104.0, strategies={"fixed": strategy})
    fixed = build(samples, scenario="poll", target="t", settings={})["poll"]["fixed"]
    assert fixed["completions"] == 3
    assert fixed["polls_per_completion"] == 3.0
    assert fixed["latency_s"]["p50"] == 2.0
    assert fixed["detection_lag_s"]["p50"] == pytest.approx(0.3)
    assert fixed["states"] == {"Success": 2, "Failed": 1}


def test_samples_merge_and_survive_the_wire() -> None:
    first, second = _samples(), _samples()
    second.started = 999.0
    second.strategies = {"fixed": StrategySamples(polls=3, completions=[["x", 1.0, 2.0, 1.5, 3, "Success"]])}
    first.merge(Samples.from_dict(second.to_dict()))
    assert len(first.submits) == 200
    assert first.started == 999.0
    assert first.limited["count"] == 16
    assert first.strategies["fixed"].polls == 3
