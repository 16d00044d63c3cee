"""One registry of checks: each id, title and source stated once, read by the contract's rules and the proxy (the
layers they sit in are tests/test_layers.py's)."""

from __future__ import annotations

import pytest

import slowcheck.contract.runner  # noqa: F401  (registers the whole catalogue)
from slowcheck.checks import CHECKS, check, criterion
from slowcheck.contract.rules import RULES
from slowcheck.proxy.catalogue import CATALOGUE


def test_a_check_registers_once_and_is_found_by_its_function() -> None:
    for found in CHECKS.values():
        assert criterion(found.function) is found
    with pytest.raises(ValueError, match="registered twice"):
        check("LIFE-TIMESTAMPS", "again", source="documented")(lambda read: None)


def test_the_contract_rules_and_the_proxy_state_a_shared_check_as_the_registry_does() -> None:
    for check_id, found in CHECKS.items():
        rule = RULES[check_id]
        assert (rule.title, rule.source, rule.deviation) == (found.title, found.source, found.deviation), check_id
    shared = {i: c for i, c in CATALOGUE.items() if i in CHECKS}
    assert shared, "the proxy runs the shared checks"
    for check_id, proxied in shared.items():
        assert (proxied.title, proxied.source, proxied.side) == (CHECKS[check_id].title, CHECKS[check_id].source,
                                                                 "api"), check_id  # fmt: skip


def test_the_timestamps_check_is_inferred_with_one_tolerance_everywhere() -> None:
    timestamps = CHECKS["LIFE-TIMESTAMPS"]
    assert (timestamps.source, timestamps.tolerance) == ("inferred", 5.0)
    assert RULES["LIFE-TIMESTAMPS"].source == CATALOGUE["LIFE-TIMESTAMPS"].source == "inferred"
