"""The main job's load phases: plans composed from its own flags, checked before the contract phase starts."""

from __future__ import annotations

import argparse

import pytest

from slowcheck.errors import ConfigError
from slowcheck.load.options import LoadPlan
from slowcheck.run.command import _load_plans, add_arguments


def _args(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    return parser.parse_args(list(argv))


def test_three_phases_share_the_load_seconds() -> None:
    phases = _load_plans(_args("--model", "m"), 30.0)
    assert list(phases) == ["submit", "poll", "jobs"]
    plans = {name: checked.plan for name, checked in phases.items()}
    assert {plan.duration for plan in plans.values()} == {10.0}
    assert {plan.model for plan in plans.values()} == {"m"}
    assert plans["submit"].threshold == ("submit.errors==0",), "a failed submission under light load fails the run"
    assert plans["poll"].drain == plans["jobs"].drain == 30.0
    assert (plans["jobs"].rate, plans["jobs"].mix) == ("10", "chat=3,text=1,embedding=1")
    defaults = LoadPlan.for_scenario("poll")
    assert (plans["poll"].rate, plans["poll"].strategies) == (defaults.rate, defaults.strategies)


def test_the_users_thresholds_replace_the_default_one() -> None:
    phases = _load_plans(_args("--threshold", "submit.latency_ms.p95<250"), 30.0)
    assert phases["submit"].plan.threshold == ("submit.latency_ms.p95<250",)


def test_a_bad_threshold_fails_even_when_no_load_runs() -> None:
    with pytest.raises(ConfigError, match="summary.json has no 'submit.p95'"):
        _load_plans(_args("--threshold", "submit.p95<3"), 0.0)
