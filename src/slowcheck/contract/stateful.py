"""The lifecycle over generated bodies: a hypothesis state machine that submits bodies drawn from the
request schemas as clients write them, polls them in any order, and checks every record it sees with the
lifecycle rules' checks (``slowcheck.checks.records``).

Findings are collected, not raised inside hypothesis: against a real API a replayed example is a new request
(billed) and may answer differently, and a flaky replay is no verdict. A refused body is a strict corner (a
deviation); a 5xx on it, on every try, is a violation. With ``--completion-timeout 0`` the bodies are submitted
and written to the ledger, and ``--resume`` judges them later, as it does the lifecycle probes.
"""

from __future__ import annotations

import functools
import time
from typing import Any

from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.stateful import Bundle, RuleBasedStateMachine, rule as step, run_state_machine_as_test

from slowcheck import api
from slowcheck.checks.records import ON_EVERY_READ
from slowcheck.contract import lifecycle
from slowcheck.contract.budget import share
from slowcheck.contract.polling import sweeps_within
from slowcheck.contract.probes import Probe, acked, await_all
from slowcheck.contract.rules import rule
from slowcheck.contract.target import Exchange, Target
from slowcheck.findings import Deviation, NotRun, Skipped, Violation, raise_all
from slowcheck.strategies import client_bodies
from slowcheck.types import JSONObject

_STEPS = 4
"""Submissions and polls per example; each submission is then awaited (a sweep of polls per backoff step)."""


def _per_example(target: Target) -> int:
    return _STEPS * (1 + sweeps_within(target.completion_timeout))


def _grant(target: Target, requests: int) -> None:
    target.stateful_examples = max(1, min(target.stateful_examples, requests // _per_example(target)))
    target.session.reserves["generated"] = _STEPS * sweeps_within(target.completion_timeout)


share(
    "generated",
    "generated lifecycle examples",
    floor=_per_example,
    full=lambda target: _per_example(target) * target.stateful_examples,
    grant=_grant,
    priority=1,
    step=_per_example,
)

_KINDS: dict[api.Kind, str] = {"chat": "chat-completion-request", "text": "completion-request"}


def _submittable(target: Target, kind: api.Kind) -> Any:
    # The probe model (a random name would only test the catalogue); never streaming (refused by design).
    return client_bodies(_KINDS[kind]).map(lambda body: body | {"model": target.model, "stream": False})


def _submit(target: Target, kind: api.Kind, body: dict[str, Any], findings: list[Violation]) -> Probe | None:
    """One generated body submitted: its probe, or None with the refusal graded into ``findings``."""
    sent = time.time() * 1000
    exchange = target.submit(body, kind=kind)
    ack = acked(exchange)
    if ack is not None:
        return Probe(kind, exchange.body, sent, ack, exchanges=[exchange])  # the body as sent: its correlation id
    findings.append(_refused(target, exchange))
    return None


def _refused(target: Target, exchange: Exchange) -> Violation:
    if 400 <= exchange.status < 500 and not target.schemas.errors("error", exchange.json):
        return Deviation(
            f"a schema-valid body, as clients write it, was refused ({exchange.status}): a spec corner the "
            "backend does not take",
            **exchange.summary(),
        )
    again = " on every try" if exchange.status >= 500 else ""
    return Violation(f"a schema-valid body was not acknowledged with an id ({exchange.status}{again})",
                     **exchange.summary())  # fmt: skip


def _judge(probes: list[Probe], findings: list[Violation]) -> None:
    """The record checks every read must pass (``checks.records.ON_EVERY_READ``), the lifecycle rules' own."""
    for check in ON_EVERY_READ:
        findings.extend(lifecycle.judge_reads(check, probes))


def _machine(target: Target, findings: list[Violation], unfinished: list[NotRun]) -> type[RuleBasedStateMachine]:
    class Lifecycle(RuleBasedStateMachine):
        generations = Bundle("generations")

        def __init__(self) -> None:
            super().__init__()
            self.probes: dict[str, Probe] = {}

        def _submit(self, kind: api.Kind, body: dict[str, Any]) -> str | None:
            if unfinished:
                return None  # the budget or the target ran out: no more requests for this rule
            try:
                probe = _submit(target, kind, body, findings)
            except NotRun as reason:  # the budget, or noise that never cleared: this example stops here
                unfinished.append(reason)
                return None
            if probe is not None:
                self.probes[probe.id] = probe
            return probe.id if probe is not None else None

        @step(target=generations, body=_submittable(target, "chat"))
        def submit_chat(self, body: dict[str, Any]) -> str | None:
            return self._submit("chat", body)

        @step(target=generations, body=_submittable(target, "text"))
        def submit_text(self, body: dict[str, Any]) -> str | None:
            return self._submit("text", body)

        @step(generation=generations)
        def poll(self, generation: str | None) -> None:
            if generation is None or unfinished:
                return
            try:
                exchange = target.generation(generation)
            except NotRun as reason:
                unfinished.append(reason)
                return
            if exchange.status == 200 and isinstance(exchange.json, dict):
                self.probes[generation].records.append(exchange.json)

        def teardown(self) -> None:
            watched = list(self.probes.values())
            try:
                await_all(target, watched, pool="generated")
            except NotRun as reason:
                unfinished.append(reason)
            if any(p.final is None for p in watched):
                unfinished.append(
                    NotRun(
                        f"a generated request was not terminal {target.completion_timeout:g} s after submission "
                        "(--completion-timeout)"
                    )
                )
            _judge(watched, findings)

    return Lifecycle


def _skipped(target: Target) -> str | None:
    if target.completion_timeout <= 0 and target.session.ledger is None and target.session.resume is None:
        return "--completion-timeout 0 without a ledger: generated generations would not be awaited"
    return None


@rule(
    "LIFE-GENERATED",
    "lifecycle",
    "Bodies generated from the request schemas, as clients write them, are acknowledged and keep every "
    "lifecycle rule, in any order of submits and polls.",
    source="documented",
    uses=("generated",),
    deviation="a generated body refused with a 4xx envelope (a spec corner the backend does not take), and what "
    "the lifecycle rules it repeats count as deviations",
    skip=_skipped,
)
def generated(target: Target) -> None:
    findings: list[Violation] = []
    unfinished: list[NotRun] = []
    if target.session.resume is not None:
        _resumed(target, findings, unfinished)
    elif target.completion_timeout <= 0:
        _submitted_for_later(target, findings)
    else:
        run_state_machine_as_test(
            _machine(target, findings, unfinished),
            settings=settings(
                max_examples=target.stateful_examples,
                stateful_step_count=_STEPS,
                deadline=None,
                database=None,
                derandomize=True,
                phases=[Phase.generate],  # never replayed or shrunk: each example is billed requests
                suppress_health_check=list(HealthCheck),
            ),
        )
    if any(not isinstance(f, Deviation) for f in findings):
        raise_all(findings)  # the violation first, every deviation after it
    if unfinished:
        raise unfinished[0]
    raise_all(findings)


@functools.cache
def _drawn(kind: api.Kind, model: str, count: int) -> tuple[JSONObject, ...]:
    """The first ``count`` client bodies of ``kind``, derandomized: the same in every run."""
    found: list[JSONObject] = []

    @given(body=client_bodies(_KINDS[kind]))
    @settings(max_examples=count, deadline=None, database=None, derandomize=True, phases=[Phase.generate],
              suppress_health_check=list(HealthCheck))  # fmt: skip
    def collect(body: JSONObject) -> None:
        found.append(body | {"model": model, "stream": False})

    collect()
    return tuple(found[:count])


def _submitted_for_later(target: Target, findings: list[Violation]) -> None:
    """The first phase of a two-phase run: submit generated bodies, keep them in the ledger, judge on --resume."""
    half = _STEPS // 2
    kept = target.session.generated
    try:
        for kind in ("chat", "text"):
            for body in _drawn(kind, target.model, half):
                probe = _submit(target, kind, dict(body), findings)
                if probe is not None:
                    kept.append(probe)
    finally:  # what was submitted is in the ledger, whatever stopped the rest
        if target.session.ledger is not None:
            lifecycle.write_ledger(target.session.ledger, target)
    raise_all(findings)
    raise Skipped(
        f"--completion-timeout 0: {len(kept)} generated bodies submitted, not awaited; their ids are in "
        f"{target.session.ledger}: check them later with --resume"
    )


def _resumed(target: Target, findings: list[Violation], unfinished: list[NotRun]) -> None:
    watched = [Probe(**lifecycle.probe_fields(e)) for e in target.session.resume or [] if e.get("generated")]
    if not watched:
        raise Skipped(
            "the ledger holds no generated bodies (none was acknowledged in the first phase, or an older slowcheck "
            "wrote it): nothing to judge"
        )
    await_all(target, watched, pool="generated", since_ms=time.time() * 1000)
    if any(p.final is None for p in watched):
        unfinished.append(NotRun(f"a generated request was not terminal within --completion-timeout "
                                 f"{target.completion_timeout:g} s of --resume"))  # fmt: skip
    _judge(watched, findings)
