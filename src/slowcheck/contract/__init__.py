"""The contract suite: named rules, each a small check of the API against its documented contract."""

from __future__ import annotations

from slowcheck.contract.rules import RULES, Rule
from slowcheck.findings import Outcome, Result, Violation

__all__ = ["RULES", "Outcome", "Result", "Rule", "Violation"]
