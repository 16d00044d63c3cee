"""The lifecycle over generated bodies: a hypothesis state machine that submits bodies drawn from the
request schemas, polls them in any order, and checks every record it sees with the lifecycle rules.

A failure is shrunk by hypothesis to the shortest sequence of submissions and polls that shows it.
"""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, Phase, settings
from hypothesis.stateful import Bundle, RuleBasedStateMachine, rule as step, run_state_machine_as_test

from slowcheck import api
from slowcheck.contract import lifecycle
from slowcheck.contract.budget import share
from slowcheck.contract.polling import sweeps_within
from slowcheck.contract.probes import Probe, await_all, submit_all
from slowcheck.contract.rules import Deviation, NotRun, Violation, rule
from slowcheck.contract.target import Target
from slowcheck.strategies import as_clients_send, bodies

_STEPS = 4
"""Submissions and polls per example; each submission is then awaited (a sweep of polls per backoff step)."""


def _per_example(target: Target) -> int:
    return _STEPS * (1 + sweeps_within(target.completion_timeout))


def _grant(target: Target, requests: int) -> None:
    target.stateful_examples = max(1, min(target.stateful_examples, requests // _per_example(target)))
    target.reserves["generated"] = _STEPS * sweeps_within(target.completion_timeout)


share(
    "generated",
    "generated lifecycle examples",
    floor=_per_example,
    full=lambda target: _per_example(target) * target.stateful_examples,
    grant=_grant,
    priority=1,
    step=_per_example,
)

# The lifecycle rules that judge observations, run again on each generated example.
_CHECKS = (
    lifecycle.states_forward, lifecycle.record_schema, lifecycle.request_echo, lifecycle.dispatched_at,
    lifecycle.response_id, lifecycle.choices_n, lifecycle.usage_sum, lifecycle.token_limit, lifecycle.finish_reason,
    lifecycle.timestamps,
)  # fmt: skip


class _View:
    """The target as the lifecycle rules see it, with this example's probes in place of the fixed ones."""

    def __init__(self, target: Target, probes: list[Probe]) -> None:
        self._target = target
        self.cache = {"probes": probes}

    def __getattr__(self, name: str) -> Any:
        return getattr(self._target, name)


def _machine(target: Target, deviations: list[Deviation], unfinished: list[NotRun]) -> type[RuleBasedStateMachine]:
    def submittable(kind: str) -> Any:
        # The probe model (a random name would only test the catalogue); never streaming (refused by design).
        return bodies(kind).map(lambda body: as_clients_send(body | {"model": target.model, "stream": False}))

    class Lifecycle(RuleBasedStateMachine):
        generations = Bundle("generations")

        def __init__(self) -> None:
            super().__init__()
            self.probes: dict[str, Probe] = {}
            self.failed = False

        def _submit(self, kind: api.Kind, body: dict[str, Any]) -> str:
            (probe,) = submit_all(target, [(kind, body)], "a schema-valid body")
            self.probes[probe.id] = probe
            return probe.id

        @step(target=generations, body=submittable("chat-completion-request"))
        def submit_chat(self, body: dict[str, Any]) -> str:
            return self._submit("chat", body)

        @step(target=generations, body=submittable("completion-request"))
        def submit_text(self, body: dict[str, Any]) -> str:
            return self._submit("text", body)

        @step(generation=generations)
        def poll(self, generation: str) -> None:
            exchange = target.generation(generation)
            if exchange.status == 200 and isinstance(exchange.json, dict):
                self.probes[generation].records.append(exchange.json)
            self._judge()

        def teardown(self) -> None:
            if self.failed:
                return  # hypothesis tears down after a failure too; the failure is already reported
            watched = list(self.probes.values())
            await_all(target, watched, pool="generated")
            if any(p.final is None for p in watched):
                # Not a failing example: hypothesis would shrink it, waiting the timeout again each time.
                unfinished.append(
                    NotRun(
                        f"a generated request was not terminal {target.completion_timeout:g} s after submission "
                        "(--completion-timeout)"
                    )
                )
                return
            self._judge()

        def _judge(self) -> None:
            view = _View(target, list(self.probes.values()))
            for check in _CHECKS:
                try:
                    check(view)
                except NotRun:
                    pass
                except Deviation as found:
                    deviations.append(found)
                except Violation:
                    self.failed = True
                    raise

    return Lifecycle


def _timeout_zero(target: Target) -> str | None:
    return (
        "--completion-timeout 0: generated generations would not be awaited" if target.completion_timeout <= 0 else None
    )


@rule(
    "LIFE-GENERATED",
    "lifecycle",
    "Bodies generated from the request schemas keep every lifecycle rule, in any order of submits and polls.",
    source="documented",
    uses=("generated",),
    deviation="what the lifecycle rules it repeats count as deviations",
    skip=_timeout_zero,
)
def generated(target: Target) -> None:
    deviations: list[Deviation] = []
    unfinished: list[NotRun] = []
    run_state_machine_as_test(
        _machine(target, deviations, unfinished),
        settings=settings(
            max_examples=target.stateful_examples,
            stateful_step_count=_STEPS,
            deadline=None,
            database=None,
            derandomize=True,
            # Shrinking sends requests nobody planned for: only where requests are not counted.
            phases=[Phase.generate, Phase.shrink] if target.max_requests is None else [Phase.generate],
            report_multiple_bugs=False,  # one readable violation, not a group of them
            suppress_health_check=list(HealthCheck),
        ),
    )
    if unfinished:
        raise unfinished[0]
    if deviations:
        raise deviations[0]
