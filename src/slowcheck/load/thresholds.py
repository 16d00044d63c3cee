"""Pass/fail criteria in the k6 spirit: ``--threshold "submit.latency_ms.p95<250"``.

A threshold is a dotted path into ``summary.json``, a comparison and a number (or ``true``/``false``).
Paths are checked before the run starts, so a typo is a usage error, not a breach found minutes later.
A figure the run could not measure (``null``) breaches its threshold: nothing measured proves nothing.
"""

from __future__ import annotations

import operator
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from slowcheck.errors import ConfigError

__all__ = ["Threshold", "evaluate", "parse"]

_OPERATORS: dict[str, Callable[[Any, Any], bool]] = {
    "<=": operator.le,
    ">=": operator.ge,
    "==": operator.eq,
    "!=": operator.ne,
    "<": operator.lt,
    ">": operator.gt,
}
_SYNTAX = re.compile(r"^\s*([A-Za-z0-9_.\-]+)\s*(<=|>=|==|!=|<|>)\s*([^\s]+)\s*$")


@dataclass(frozen=True, slots=True)
class Threshold:
    expr: str
    path: tuple[str, ...]
    op: str
    bound: float | bool

    def check(self, summary: dict[str, Any]) -> dict[str, Any]:
        value = lookup(summary, self.path)
        passed = value is not None and not isinstance(value, dict) and _OPERATORS[self.op](value, self.bound)
        return {"expr": self.expr, "value": value, "passed": bool(passed)}


def parse(expr: str, skeleton: dict[str, Any]) -> Threshold:
    """One ``--threshold``; ``skeleton`` is a summary of the planned run, to check the path against."""
    match = _SYNTAX.match(expr)
    if match is None:
        raise ConfigError(f"--threshold: expected PATH<OP>NUMBER like 'submit.latency_ms.p95<250', got {expr!r}")
    path_text, op, bound_text = match.groups()
    path = tuple(path_text.split("."))
    try:
        leaf = lookup(skeleton, path, strict=True)
    except KeyError as missing:
        raise ConfigError(f"--threshold {expr!r}: summary.json has no {missing.args[0]!r}") from None
    if isinstance(leaf, (dict, list)):
        raise ConfigError(f"--threshold {expr!r}: {path_text} is not a single figure; pick one of its keys")
    bound: float | bool
    if bound_text in ("true", "false"):
        bound = bound_text == "true"
    else:
        try:
            bound = float(bound_text)
        except ValueError:
            raise ConfigError(f"--threshold {expr!r}: {bound_text!r} is not a number") from None
    return Threshold(expr.strip(), path, op, bound)


def evaluate(thresholds: list[Threshold], summary: dict[str, Any]) -> list[dict[str, Any]]:
    return [t.check(summary) for t in thresholds]


def lookup(document: Any, path: tuple[str, ...], *, strict: bool = False) -> Any:
    node = document
    for depth, key in enumerate(path):
        if not isinstance(node, dict) or key not in node:
            if strict:
                raise KeyError(".".join(path[: depth + 1]))
            return None
        node = node[key]
    return node
