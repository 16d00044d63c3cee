"""The lifecycle over generated bodies: a hypothesis state machine that submits bodies drawn from the
request schemas, polls them in any order, and checks every record it sees with the lifecycle rules.

A failure is shrunk by hypothesis to the shortest sequence of submissions and polls that shows it.
"""

from __future__ import annotations

import time
from typing import Any

from hypothesis import HealthCheck, Phase, settings
from hypothesis.stateful import Bundle, RuleBasedStateMachine, rule as step, run_state_machine_as_test

from slowcheck.contract import lifecycle
from slowcheck.contract.lifecycle import Probe
from slowcheck.contract.rules import NotRun, Violation, rule
from slowcheck.contract.target import Target
from slowcheck.strategies import bodies

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


def _machine(target: Target) -> type[RuleBasedStateMachine]:
    def submittable(kind: str) -> Any:
        # The probe model (a random name would only test the catalogue); never streaming (refused by design).
        return bodies(kind).map(lambda body: body | {"model": target.model, "stream": False})

    class Lifecycle(RuleBasedStateMachine):
        generations = Bundle("generations")

        def __init__(self) -> None:
            super().__init__()
            self.probes: dict[str, Probe] = {}
            self.failed = False

        def _submit(self, kind: str, body: dict[str, Any]) -> str:
            sent = time.time() * 1000
            exchange = target.submit(body, kind=kind)
            if exchange.status != 200 or not isinstance(exchange.json, dict) or "id" not in exchange.json:
                raise Violation(f"a schema-valid body was answered {exchange.status}", **exchange.summary())
            probe = Probe(kind, body, sent, exchange.json)
            self.probes[probe.ack["id"]] = probe
            return probe.ack["id"]  # type: ignore[no-any-return]

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
            lifecycle._poll(target, list(self.probes.values()))
            unfinished = [p for p in self.probes.values() if p.final is None]
            if unfinished:
                self.failed = True
                raise Violation(
                    f"a generated request did not finish within {target.completion_timeout:g} s",
                    request=unfinished[0].body,
                )
            self._judge()

        def _judge(self) -> None:
            view = _View(target, list(self.probes.values()))
            for check in _CHECKS:
                try:
                    check(view)
                except NotRun:
                    pass
                except Violation:
                    self.failed = True
                    raise

    return Lifecycle


@rule(
    "LIFE-GENERATED",
    "lifecycle",
    "Bodies generated from the request schemas keep every lifecycle rule, in any order of submits and polls.",
    source="documented",
)
def generated(target: Target) -> None:
    if target.completion_timeout <= 0:
        raise NotRun("--completion-timeout 0: generated generations would not be awaited")
    run_state_machine_as_test(
        _machine(target),
        settings=settings(
            max_examples=target.stateful_examples,
            stateful_step_count=6,
            deadline=None,
            database=None,
            derandomize=True,
            phases=[Phase.generate, Phase.shrink],
            report_multiple_bugs=False,  # one readable violation, not a group of them
            suppress_health_check=list(HealthCheck),
        ),
    )
