"""k6-style thresholds over summary.json."""

from __future__ import annotations

import pytest

from slowcheck.errors import ConfigError
from slowcheck.load.report import skeleton, thresholds


def summary() -> dict[str, object]:
    document = skeleton("poll", ["fixed"])
    document["submit"]["latency_ms"]["p95"] = 120.0  # type: ignore[index]
    document["submit"]["errors"] = 2  # type: ignore[index]
    return document


@pytest.mark.parametrize(
    ("expr", "passed"),
    [
        ("submit.latency_ms.p95<250", True),
        ("submit.latency_ms.p95 < 100", False),
        ("submit.errors==0", False),
        ("submit.errors<=2", True),
        ("submit.errors!=2", False),
        ("poll.fixed.polls_per_completion<3", False),  # not measured: null breaches
    ],
)
def test_thresholds_are_evaluated(expr: str, passed: bool) -> None:
    [threshold] = thresholds([expr], "poll", ["fixed"])
    assert threshold.check(summary())["passed"] is passed


def test_a_boolean_threshold() -> None:
    [threshold] = thresholds(["rate_limit.retry_after_present==true"], "rate-limit", [])
    document = skeleton("rate-limit", [])
    document["rate_limit"]["retry_after_present"] = True
    assert threshold.check(document) == {"expr": "rate_limit.retry_after_present==true", "value": True, "passed": True}


@pytest.mark.parametrize(
    ("expr", "says"),
    [
        ("submit.latency.p95<250", "no 'submit.latency'"),
        ("poll.webhook.polls<3", "no 'poll.webhook'"),
        ("submit.latency_ms<250", "not a single figure"),
        ("submit.errors=0", "expected PATH<OP>NUMBER"),
        ("submit.errors<few", "not a number"),
    ],
)
def test_typos_are_usage_errors_before_the_run(expr: str, says: str) -> None:
    with pytest.raises(ConfigError, match=says):
        thresholds([expr], "poll", ["fixed"])
