"""Every rule of the catalogue as one test, in catalogue order: `pytest contracts/ --base-url URL --api-key KEY`.

A violated rule fails with its message; a rule that should have run but could not (the budget, the time, the
target) fails too, since a green run must have checked what it set out to; a rule this configuration does not
ask for (no second key, no webhook id) is skipped; a deviation passes with the finding recorded as a property.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from slowcheck.contract.rules import Rule
from slowcheck.contract.runner import Suite, select
from slowcheck.findings import Outcome


@pytest.mark.parametrize("rule", select(), ids=lambda r: r.id)
def test_rule(rule: Rule, contract_suite: Suite, record_property: Callable[[str, object], None]) -> None:
    result = contract_suite.run_one(rule)
    if result.outcome is Outcome.VIOLATED:
        pytest.fail(f"{rule.id} violated: {result.message}", pytrace=False)
    if result.outcome is Outcome.NOT_RUN:
        pytest.fail(f"{rule.id} not run: {result.message}", pytrace=False)
    if result.outcome is Outcome.SKIPPED:
        pytest.skip(f"{rule.id}: {result.message}")
    if result.outcome is Outcome.DEVIATION:
        record_property("deviation", result.message)
