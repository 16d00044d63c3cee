"""Running the catalogue against a target: each rule once, in catalogue order, timed."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable

from slowcheck.contract import (  # noqa: F401 - importing registers the rules
    access,
    ack,
    fuzz,
    groups,
    lifecycle,
    limits,
    stateful,
    validation,
    webhooks,
)
from slowcheck.contract.rules import RULES, NotRun, Outcome, Result, Rule, Violation
from slowcheck.contract.target import Target
from slowcheck.errors import SlowcheckError

__all__ = ["run", "select"]


def select(lenient: Iterable[str] = ()) -> list[Rule]:
    """All rules; unknown ids in ``lenient`` are a usage error."""
    from slowcheck.errors import ConfigError

    unknown = sorted(set(lenient) - set(RULES))
    if unknown:
        raise ConfigError(f"--lenient: unknown rule id {unknown[0]!r} (see --list-rules)")
    return list(RULES.values())


def run(
    target: Target, rules: list[Rule], *, lenient: Iterable[str] = (), progress: Callable[[Result], None] | None = None
) -> list[Result]:
    relaxed = set(lenient)
    results = []
    for item in rules:
        started = time.monotonic()
        try:
            item.check(target)
            result = Result(item, Outcome.HELD)
        except Violation as violation:
            outcome = Outcome.WARNED if item.source == "inferred" and item.id in relaxed else Outcome.VIOLATED
            result = Result(item, outcome, violation.message, violation.request, violation.response)
        except NotRun as reason:
            result = Result(item, Outcome.NOT_RUN, str(reason))
        except SlowcheckError:
            raise  # the target is unreachable or misconfigured: the whole run stops with one line
        except Exception as exc:
            result = Result(item, Outcome.VIOLATED, f"the answer could not be checked: {type(exc).__name__}: {exc}")
        result.seconds = time.monotonic() - started
        results.append(result)
        if progress is not None:
            progress(result)
    return results
