"""A :class:`LoadPlan` checked once, before anything starts: every option's range, the files it names read (so a
bad line is a usage error, not a failure minutes in), its thresholds against the scenario's summary."""

from __future__ import annotations

import math
from dataclasses import dataclass

from slowcheck import api
from slowcheck.errors import ConfigError
from slowcheck.live import parse_address
from slowcheck.load import arrivals, batch, jobs, mix, offered, report, thresholds
from slowcheck.load.options import LoadPlan
from slowcheck.prices import load_table

__all__ = ["Checked", "check"]


@dataclass(frozen=True, slots=True)
class Checked:
    """A plan that passed :func:`check`: only such a plan is run."""

    plan: LoadPlan
    span: float
    """Seconds from the first planned arrival to the last (0: all at once); locust's run time is capped by it."""


def check(plan: LoadPlan) -> Checked:
    """The plan, or a one-line ``ConfigError`` naming the flag at fault."""
    if plan.metrics_port is not None:
        parse_address(plan.metrics_port)
    if plan.scenario == "batch":
        _check_batch(plan)
        return Checked(plan, 0.0)
    span = plan.duration
    if plan.scenario == "rate-limit":
        offered.parse_pace(plan.rate)
        if not plan.duration > 0:
            raise ConfigError(f"--duration: expected seconds > 0, got {plan.duration:g}")
        if plan.processes != 1:
            raise ConfigError("--processes: the rate-limit probe reads one limit with one clock; use 1")
    elif plan.scenario == "jobs":
        span = _check_jobs(plan)
    else:
        offered.parse_stages(plan.rate, plan.duration)
    if plan.processes < 1:
        raise ConfigError(f"--processes: expected 1 or more, got {plan.processes}")
    api.tier_rpm(plan.rate_limit, flag="--rate-limit")
    if plan.gateway_rps is not None and not 0 < plan.gateway_rps < math.inf:
        raise ConfigError(f"--gateway-rps: expected requests a second > 0, got {plan.gateway_rps:g}")
    if not plan.poll_interval > 0:
        raise ConfigError(f"--poll-interval: expected seconds > 0, got {plan.poll_interval:g}")
    if plan.max_inflight < 1:
        raise ConfigError(f"--max-inflight: expected 1 or more, got {plan.max_inflight}")
    if plan.validate_every < 0:
        raise ConfigError(f"--validate-every: expected 0 or more, got {plan.validate_every}")
    if plan.drain < 0:
        raise ConfigError(f"--drain: expected seconds >= 0, got {plan.drain:g}")
    strategies = offered.parse_strategies(plan.strategies)
    report.thresholds(list(plan.threshold), plan.scenario, strategies if plan.scenario == "poll" else [],
                      max_spend=plan.max_spend)  # fmt: skip
    return Checked(plan, span)


def _check_jobs(plan: LoadPlan) -> float:
    """The jobs options checked (files read once here, so a bad line is a usage error); the plan's span."""
    planned = arrivals.parse(plan.rate, plan.duration, process=plan.arrival, burstiness=plan.burstiness,
                             jobs=plan.jobs, trace=plan.trace, seed=plan.seed)  # fmt: skip
    mix.parse_mix(plan.mix)
    mix.parse_length(plan.prompt_tokens, "--prompt-tokens")
    mix.parse_length(plan.output_tokens, "--output-tokens")
    if plan.input is not None:
        mix.read_bodies(plan.input)
    if not 0 <= plan.canaries <= 1:
        raise ConfigError(f"--canaries: expected a share between 0 and 1, got {plan.canaries:g}")
    for slo in plan.slo:
        jobs.parse_slo(slo)
    for name, value in (("slice", plan.slice), ("warmup", plan.warmup), ("cooldown", plan.cooldown)):
        if not (value >= 0 and value < math.inf) or name == "slice" and value <= 0:
            raise ConfigError(f"--{name}: expected seconds {'> 0' if name == 'slice' else '>= 0'}, got {value:g}")
    if plan.max_spend is not None and not 0 <= plan.max_spend < math.inf:
        raise ConfigError(f"--max-spend: expected USD >= 0, got {plan.max_spend:g}")
    load_table(plan.prices)  # a bad price file is a usage error now, not after the run
    if plan.mock_capacity is not None and not plan.mock_capacity > 0:
        raise ConfigError(f"--mock-capacity: expected tokens per second > 0, got {plan.mock_capacity:g}")
    if planned.trace:
        return planned.trace[-1]
    return plan.duration if planned.stages else 0.0


def _check_batch(plan: LoadPlan) -> None:
    if plan.input is None and plan.lines < 1:
        raise ConfigError(f"--lines: expected 1 or more, got {plan.lines}")
    if plan.timeout <= 0 or plan.poll_interval <= 0:
        raise ConfigError("--timeout and --poll-interval must be positive")
    for expr in plan.threshold:  # checked before anything is uploaded
        thresholds.parse(expr, batch.skeleton())
