"""Every rule of the catalogue as one test: `pytest contracts/ --base-url URL --api-key KEY`.

A violated rule fails with the rule's message; a rule that cannot run here (no second key, a
completion timeout of 0, no rate limit met) is reported as skipped, never as passed.
"""

from __future__ import annotations

import pytest

from slowcheck.contract.rules import NotRun, Rule
from slowcheck.contract.runner import select
from slowcheck.contract.target import Target


@pytest.mark.parametrize("rule", select(), ids=lambda r: r.id)
def test_rule(rule: Rule, contract_target: Target) -> None:
    try:
        rule.check(contract_target)
    except NotRun as reason:
        pytest.skip(f"{rule.id} not run: {reason}")
