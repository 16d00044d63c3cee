"""``slowcheck report compare OLD NEW``: what got worse between two runs.

It reads each folder's ``summary.json`` (a load run) and ``results.json`` (a contract run), whichever both
have. A figure is worse when it moved the wrong way by more than the tolerance (relative to OLD); a rule is
worse when it held before and is violated now. Exit 1 when anything got worse, so CI can gate on it.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from slowcheck.errors import ConfigError

__all__ = ["Change", "compare", "format_changes"]

# Figures whose growth is bad; every other compared figure is better when higher.
_LOWER_IS_BETTER = ("latency", "detection_lag", "errors", "rate_limited", "dropped", "unfinished", "polls_per",
                    "wasted", "invalid")  # fmt: skip
_COMPARED = ("submit", "rate_limit", "poll", "ack_validation")
_SKIPPED = ("count", "completions", "polls", "webhooks", "checked", "rate_limited_seen", "ok", "statuses", "window_s",
            "watched_s", "from_idle", "retry_after_s", "declared_limit", "cycles")  # fmt: skip


@dataclass(frozen=True, slots=True)
class Change:
    name: str
    old: Any
    new: Any
    worse: bool
    note: str


def compare(old_dir: Path, new_dir: Path, *, tolerance: float = 10.0) -> list[Change]:
    changes: list[Change] = []
    found = False
    for name, differ in (("summary.json", _summary_changes), ("results.json", _rule_changes)):
        old, new = _read(old_dir, name), _read(new_dir, name)
        if old is not None and new is not None:
            found = True
            changes += differ(old, new, tolerance)
    if not found:
        raise ConfigError(f"{old_dir} and {new_dir} share no summary.json or results.json to compare")
    return changes


def format_changes(changes: list[Change]) -> list[str]:
    if not changes:
        return ["no figure moved beyond the tolerance"]
    width = max(len(c.name) for c in changes)
    ordered = sorted(changes, key=lambda c: (not c.worse, c.name))
    return [f"{'WORSE ' if c.worse else 'better'} {c.name:<{width}}  {c.old} -> {c.new}  {c.note}" for c in ordered]


def _read(folder: Path, name: str) -> dict[str, Any] | None:
    if not folder.is_dir():
        raise ConfigError(f"{folder} is not a report folder")
    path = folder / name
    if not path.exists():
        return None
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ConfigError(f"{path}: not readable JSON ({exc})") from None
    if not isinstance(document, dict):
        raise ConfigError(f"{path}: expected a JSON object")
    return document


def _summary_changes(old: dict[str, Any], new: dict[str, Any], tolerance: float) -> list[Change]:
    if "verdict" in old and "verdict" in new:  # a `slowcheck run` summary: its load phases and SDK rows
        return _run_changes(old, new, tolerance)
    changes = []
    old_figures, new_figures = _flatten(old), _flatten(new)
    for name in sorted(old_figures.keys() & new_figures.keys()):
        change = _figure_change(name, old_figures[name], new_figures[name], tolerance)
        if change is not None:
            changes.append(change)
    old_thresholds = {t["expr"]: t["passed"] for t in old.get("thresholds", [])}
    for threshold in new.get("thresholds", []):
        before = old_thresholds.get(threshold["expr"])
        if before is not None and before != threshold["passed"]:
            note = "held before" if before else "holds now"
            changes.append(Change(f"threshold {threshold['expr']}", before, threshold["passed"], before, note))
    return changes


def _figure_change(name: str, old: Any, new: Any, tolerance: float) -> Change | None:
    lower = any(part in name for part in _LOWER_IS_BETTER)
    if isinstance(old, bool) or isinstance(new, bool):
        if old is None or new is None or old == new:
            return None
        return Change(name, old, new, worse=bool(old) and not new, note="")
    if old is None or new is None:
        if old is not None and new is None:
            return Change(name, old, new, worse=True, note="no longer measured")
        return None
    if old == new:
        return None
    if old == 0:
        relative = math.inf
    else:
        relative = (new - old) / abs(old) * 100
    if abs(relative) <= tolerance:
        return None
    worse = (new > old) if lower else (new < old)
    note = "(new)" if math.isinf(relative) else f"({relative:+.0f} %)"
    return Change(name, old, new, worse, note)


def _flatten(summary: dict[str, Any]) -> dict[str, Any]:
    flat: dict[str, Any] = {}

    def walk(prefix: str, node: Any) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                if key not in _SKIPPED:
                    walk(f"{prefix}.{key}" if prefix else key, value)
        elif isinstance(node, (int, float, bool)) or node is None:
            flat[prefix] = node

    for part in _COMPARED:
        walk(part, summary.get(part, {}))
    return flat


def _rule_changes(old: dict[str, Any], new: dict[str, Any], tolerance: float) -> list[Change]:
    before = {r["id"]: r["outcome"] for r in old.get("rules", [])}
    changes = []
    for rule in new.get("rules", []):
        was, now = before.get(rule["id"]), rule["outcome"]
        if was is None or was == now:
            continue
        if now == "violated":
            changes.append(Change(f"rule {rule['id']}", was, now, True, rule.get("message") or ""))
        elif was == "violated" and now == "held":
            changes.append(Change(f"rule {rule['id']}", was, now, False, ""))
        elif was == "held":
            changes.append(Change(f"rule {rule['id']}", was, now, now != "held", "no longer checked"))
    return changes


def _run_changes(old: dict[str, Any], new: dict[str, Any], tolerance: float) -> list[Change]:
    changes = []
    for scenario in sorted((old.get("load") or {}).keys() & (new.get("load") or {}).keys()):
        for change in _summary_changes(old["load"][scenario], new["load"][scenario], tolerance):
            changes.append(
                Change(f"{scenario} phase: {change.name}", change.old, change.new, change.worse, change.note)
            )
    before = {(r["language"], r["version"]): set(r["failed_by_api"]) for r in (old.get("sdk") or {}).get("rows", [])}
    for row in (new.get("sdk") or {}).get("rows", []):
        was = before.get((row["language"], row["version"]))
        if was is None:
            continue
        for check in sorted(set(row["failed_by_api"]) - was):
            changes.append(Change(f"sdk {row['language']} {row['version']} {check}", "passed", "failed", True, ""))
        for check in sorted(was - set(row["failed_by_api"])):
            changes.append(Change(f"sdk {row['language']} {row['version']} {check}", "failed", "passed", False, ""))
    return changes
