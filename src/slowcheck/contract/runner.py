"""Running the catalogue against a target: the plan, the preflight, the probes, then each rule once.

Catalogue order is the import order below, and it is the order everywhere (the CLI, the pytest plugin,
docs/rules.md): cheap immediate rules first, then fuzzing and groups, then the rules that wait for generations (whose
probes were submitted at the start, so they progress while the immediate rules run), the rate limit last.
"""

from __future__ import annotations

import time
import traceback
from collections.abc import Callable, Iterable
from pathlib import Path

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
from slowcheck.contract.budget import SHARES, Plan, make_plan
from slowcheck.contract.preflight import Preflight, preflight, requests_needed
from slowcheck.contract.rules import RULES, Deviation, NotRun, Outcome, Result, Rule, Skipped, Violation
from slowcheck.contract.target import Target
from slowcheck.errors import ConfigError, SlowcheckError

__all__ = ["ORDER", "Suite", "select"]

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


class Suite:
    """One run of ``rules`` against ``target``: ``plan`` is known before any request, ``prepare`` sends the
    preflight and submits the shared probes, ``run_one`` judges a rule."""

    def __init__(self, target: Target, rules: list[Rule], *, lenient: Iterable[str] = (), strict: bool = False):
        self.target, self.rules = target, rules
        self.lenient, self.strict = set(lenient), strict
        self.plan = self._plan()
        self.preflight: Preflight | None = None

    def _plan(self) -> Plan:
        return make_plan(
            self.target, self.rules, preflight=requests_needed(self.target), skip=lambda r: r.skip_reason(self.target)
        )

    def prepare(self) -> Preflight:
        """The preflight (a ConfigError stops the run), then the probes that take time, submitted first."""
        self.preflight = preflight(self.target)
        if self.target.second_key_refused:
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
