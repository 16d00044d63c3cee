"""Running the catalogue against a target: the plan, the preflight, the probes, then each rule once.

Catalogue order is the import order below, and it is the order everywhere (the CLI, the pytest plugin,
docs/rules.md): cheap immediate rules first, then fuzzing and groups, then the rules that wait for generations (whose
probes were submitted at the start, so they progress while the immediate rules run), the rate limit last.
"""

from __future__ import annotations

import contextlib
import time
import traceback
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx

from slowcheck.checks.report import counts, verdict, write_junit, write_results
from slowcheck.contract import (
    access,
    ack,
    batches,
    embeddings,
    fuzz,
    groups,
    lifecycle,
    limits,
    media,
    robust,
    stateful,
    validation,
    webhooks,
)
from slowcheck.contract.budget import SHARES, Plan, grant, make_plan
from slowcheck.contract.connect import target_for
from slowcheck.contract.preflight import Preflight, preflight, requests_needed
from slowcheck.contract.rules import RULES, Rule
from slowcheck.contract.target import Target
from slowcheck.errors import ConfigError, SlowcheckError
from slowcheck.findings import Deviation, NotRun, Outcome, Result, Skipped, Violation
from slowcheck.verdict import Verdict

if TYPE_CHECKING:
    from slowcheck.contract.plan import ContractPlan

__all__ = ["ORDER", "Judgement", "Listener", "Suite", "open_suite", "run_suite", "select"]

ORDER = tuple(
    m.__name__
    for m in (
        ack,
        access,
        validation,
        robust,
        fuzz,
        groups,
        lifecycle,
        stateful,
        webhooks,
        embeddings,
        batches,
        limits,
        media,
    )  # fmt: skip
)
"""The catalogue's modules in the order their rules run; within a module, the order they are written in."""


def select(lenient: Iterable[str] = ()) -> list[Rule]:
    """All rules, in catalogue order; unknown ids in ``lenient`` are a usage error."""
    unknown = sorted(set(lenient) - set(RULES))
    if unknown:
        raise ConfigError(f"--lenient: unknown rule id {unknown[0]!r} (see --list-rules)")
    return sorted(RULES.values(), key=lambda r: ORDER.index(r.check.__module__))


@dataclass(slots=True)
class Judgement:
    """A finished run: each rule's result in catalogue order, the verdict, and what the run spent."""

    results: list[Result]
    plan: Plan
    """The budget plan the run kept (the requests it needed in full, for the verdict's advice)."""
    duration: float
    """Seconds from the preflight to the last rule."""
    conditions: dict[str, Any]
    """What the run met on the way: noise retried, 429s honoured, the pace kept (``Target.conditions``)."""
    spent: str
    """The requests sent and those conditions, in one line (``Target.spent``)."""
    label: str
    secrets: list[str] = field(default_factory=list)
    """The keys and header values a written report is redacted of."""

    @property
    def verdict(self) -> Verdict:
        return verdict(self.results, self.plan)

    def counts(self) -> dict[str, int]:
        return counts(self.results)

    def write(self, folder: Path) -> None:
        """``results.json`` and ``junit.xml`` in ``folder`` (made if missing)."""
        folder.mkdir(parents=True, exist_ok=True)
        write_results(folder / "results.json", self.results, target=self.label, duration=self.duration,
                      plan=self.plan, conditions=self.conditions)  # fmt: skip
        write_junit(folder / "junit.xml", self.results, duration=self.duration)


class Listener:
    """What a caller hears of a run as it goes (a command prints it); here each event is ignored."""

    def planned(self, suite: Suite) -> None:
        """The target is open and the budget planned; nothing has been sent."""

    def prepared(self, found: Preflight) -> None:
        """The preflight passed and the probes that take time are submitted."""

    def judged(self, result: Result) -> None:
        """One rule's result, in catalogue order."""


class Suite:
    """One run of ``rules`` against ``target``: ``plan`` is known before any request, ``prepare`` sends the
    preflight and submits the shared probes, ``run_one`` judges a rule. The run's state is the target's
    session (``Target.session``), which the plan's grants go to."""

    def __init__(
        self,
        target: Target,
        rules: list[Rule],
        *,
        lenient: Iterable[str] = (),
        strict: bool = False,
        label: str | None = None,
        secrets: Iterable[str] = (),
    ) -> None:
        self.target, self.rules = target, rules
        self.lenient, self.strict = set(lenient), strict
        self.label = label or target.root
        """The target's name in reports."""
        self.secrets = list(secrets)
        """What a written report is redacted of (the keys, the values of --header)."""
        self.plan = self._plan()
        self.preflight: Preflight | None = None
        self.started: float | None = None
        """When the preflight began (monotonic), the start of the run's duration."""

    def _plan(self) -> Plan:
        plan = make_plan(
            self.target, self.rules, preflight=requests_needed(self.target), skip=lambda r: r.skip_reason(self.target)
        )
        grant(self.target, plan)
        return plan

    def prepare(self) -> Preflight:
        """The preflight (a ConfigError stops the run), then the probes that take time, submitted first."""
        self.started = time.monotonic()
        self.preflight = preflight(self.target)
        if self.target.session.second_key_refused:
            self.plan = self._plan()  # the isolation rule is skipped now: its requests go elsewhere
        for name in self.plan.shares:
            start = SHARES[name].prepare
            if start is not None:
                try:
                    start(self.target)
                except (Violation, NotRun, Skipped):
                    pass  # remembered by the share (Target.once): the rules that use it report it
        return self.preflight

    def run_one(self, item: Rule) -> Result:
        started = time.monotonic()
        result = self._judge(item)
        result.seconds = time.monotonic() - started
        return result

    def run(self, progress: Callable[[Result], None] | None = None) -> list[Result]:
        results = []
        for item in self.rules:
            results.append(self.run_one(item))
            if progress is not None:
                progress(results[-1])
        return results

    def judge(self, progress: Callable[[Result], None] | None = None) -> Judgement:
        """Every rule judged (:meth:`run`), with the verdict and what the run spent; prepared first if not yet."""
        if self.preflight is None:
            self.prepare()
        results = self.run(progress)
        duration = time.monotonic() - (self.started or time.monotonic())
        return Judgement(results, self.plan, duration, self.target.conditions(), self.target.spent(), self.label,
                         self.secrets)  # fmt: skip

    def _judge(self, item: Rule) -> Result:
        if item.id in self.plan.skipped:
            return Result(item, Outcome.SKIPPED, self.plan.skipped[item.id])
        if item.id in self.plan.refused:
            return Result(
                item,
                Outcome.NOT_RUN,
                f"the budget plan left no room: it needs {self.plan.refused[item.id]} more requests than "
                f"--max-requests {self.plan.budget} covers",
            )
        try:
            item.check(self.target)
            return Result(item, Outcome.HELD)
        except Deviation as found:
            return self._graded(item, Outcome.DEVIATION, found)
        except Violation as found:
            lenient = item.source == "inferred" and item.id in self.lenient
            return self._graded(item, Outcome.DEVIATION if lenient else Outcome.VIOLATED, found)
        except Skipped as reason:
            return Result(item, Outcome.SKIPPED, str(reason))
        except NotRun as reason:
            return Result(item, Outcome.NOT_RUN, str(reason))
        except SlowcheckError:
            raise  # the target is unreachable or misconfigured: the whole run stops with one line
        except Exception as exc:
            where = traceback.extract_tb(exc.__traceback__)[-1]
            crash = f"{type(exc).__name__} at {Path(where.filename).name}:{where.lineno}"
            message = f"the answer could not be checked: {type(exc).__name__}: {exc}"
            return Result(item, Outcome.VIOLATED, message, crash=crash)

    def _graded(self, item: Rule, outcome: Outcome, found: Violation) -> Result:
        message = found.message
        if outcome is Outcome.DEVIATION and self.strict:
            outcome, message = Outcome.VIOLATED, f"(a deviation; --strict) {message}"
        findings = [found.finding(), *(more.finding() for more in found.also)]
        if outcome is Outcome.DEVIATION:  # --lenient: the rule's violations read as deviations too
            findings = [f | {"outcome": "deviation"} for f in findings]
        if found.also:
            message += f" (and {len(found.also)} more)"
        return Result(item, outcome, message, found.request, found.response, findings=findings)


@contextlib.contextmanager
def open_suite(plan: ContractPlan, *, transport: httpx.BaseTransport | None = None) -> Iterator[Suite]:
    """The plan's target opened (the embedded mock started when it names no URL) and its suite planned: nothing is
    sent until ``prepare``. ``transport`` answers instead of the network (``slowcheck.inprocess``: an app in this
    process, at the plan's base URL). The target closes (and the embedded mock stops) when the block ends."""
    with target_for(
        plan.base_url,
        plan.api_key,
        second_api_key=plan.second_api_key,
        batch_base_url=plan.batch_base_url,
        embedding_model=plan.embedding_model,
        model=plan.model,
        completion_timeout=plan.completion_timeout,
        max_requests=plan.max_requests,
        rate_limit=plan.rate_limit,
        webhook_id=plan.webhook_id,
        receiver_port=plan.receiver_port,
        network=plan.network,
        session=plan.session(),
        transport=transport,
    ) as (target, label, secrets):
        yield Suite(target, list(plan.rules), lenient=plan.lenient, strict=plan.strict, label=label, secrets=secrets)


def run_suite(
    plan: ContractPlan, *, listener: Listener | None = None, transport: httpx.BaseTransport | None = None
) -> Judgement:
    """One whole run of the plan: opened, preflighted, every rule judged, closed. A misconfiguration found before
    the rules (a refused key, an unknown model, an unreachable target) is a ``SlowcheckError``."""
    listener = listener or Listener()
    with open_suite(plan, transport=transport) as suite:
        listener.planned(suite)
        listener.prepared(suite.prepare())
        return suite.judge(progress=listener.judged)
