"""``slowcheck report compare``: what got worse between runs, one run against one or several against several.

Each side is one report folder, a ``--repeat`` folder (its ``run-*/`` folders) or several folders. It reads each
run's ``summary.json`` (a load run, or a ``slowcheck run``) and ``results.json`` (a contract run), whichever both
sides have. A figure is compared by its median over the side's runs, and a change is called only when the medians
differ by more than the old side's spread (``max - min``, the noise the plan showed: ``report.noise``; the new
side's when the old is one run) and by more than the tolerance (a percentage of OLD's median; global or per
figure). A figure most of the new side's runs did not measure is worse. One run against one run knows no spread:
the tolerance alone judges, and the output says so. A rule is worse when it held before and is violated now (by
the outcome most of a side's runs had). Exit 1 when anything got worse, so CI can gate on it.
"""

from __future__ import annotations

import json
import math
import re
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from slowcheck.errors import ConfigError
from slowcheck.report.noise import Figure, rounded

__all__ = ["Change", "Comparison", "Tolerance", "compare", "compare_sides", "format_changes", "runs_of"]

# Figures whose growth is bad; every other compared figure is better when higher.
_LOWER_IS_BETTER = ("latency", "detection_lag", "errors", "rate_limited", "dropped", "unfinished", "polls_per",
                    "wasted", "invalid", "mean_s", "lag_ms", "mismatched", "unanswered", "problems",
                    "shares.failed", "shares.expired", "shares.open")  # fmt: skip
_COMPARED = ("submit", "rate_limit", "poll", "ack_validation", "jobs")
_SKIPPED = ("count", "completions", "polls", "webhooks", "checked", "rate_limited_seen", "ok", "statuses", "window_s",
            "watched_s", "from_idle", "retry_after_s", "declared_limit", "cycles")  # fmt: skip
# A jobs run's pure counts (they follow the plan's length, not the target's quality) and its settings.
_SKIPPED_PATHS = ("jobs.accepted", "jobs.completed", "jobs.failed", "jobs.expired", "jobs.open", "jobs.measured",
                  "jobs.throughput.output_tokens", "jobs.canaries.sent", "jobs.canaries.correct")  # fmt: skip
_RUN = re.compile(r"^run-(\d+)$")
_OUTCOMES = ("violated", "not run", "deviation", "skipped", "held")  # the worst first: a tie counts the worst


@dataclass(frozen=True, slots=True)
class Change:
    name: str
    old: Any
    new: Any
    worse: bool
    note: str
    old_range: tuple[Any, Any] | None = None
    """The side's min and max when it had several runs (``old`` and ``new`` are then medians)."""
    new_range: tuple[Any, Any] | None = None


@dataclass(frozen=True, slots=True)
class Tolerance:
    """``--tolerance``: a global percentage and per-figure ones (``jobs.latency_s.e2e.p99=25``) that win."""

    default: float = 10.0
    figures: Mapping[str, float] = field(default_factory=dict)

    @classmethod
    def parse(cls, given: Sequence[str], default: float = 10.0) -> Tolerance:
        per_figure: dict[str, float] = {}
        for text in given:
            name, _, value = text.rpartition("=")
            percent = _percent(text, value)
            if name:
                per_figure[name.strip()] = percent
            else:
                default = percent
        return cls(default, per_figure)

    def of(self, name: str) -> float:
        return self.figures.get(name, self.default)


@dataclass(slots=True)
class _Seen:
    """The figures compared (a per-figure tolerance must name one) and those some runs lacked."""

    compared: set[str] = field(default_factory=set)
    missing: set[str] = field(default_factory=set)


@dataclass(frozen=True, slots=True)
class Comparison:
    changes: list[Change]
    old_runs: int
    new_runs: int
    missing: list[str] = field(default_factory=list)
    """Figures some runs have and others lack: not compared, and said so."""

    @property
    def worse(self) -> bool:
        return any(c.worse for c in self.changes)

    def lines(self) -> list[str]:
        """The header (how many runs a side, what judges), then :func:`format_changes`."""
        if self.old_runs == self.new_runs == 1:
            head = "one run against one run: no spread known, only the tolerance judges"
        else:
            head = (f"{_runs(self.old_runs)} against {_runs(self.new_runs)}: medians compared; a change counts beyond "
                    "the old side's spread (max - min) and the tolerance")  # fmt: skip
        lines = [head]
        if self.missing:
            more = len(self.missing) - 5
            lines.append(f"not compared (missing from some runs): {', '.join(self.missing[:5])}"
                         + (f" and {more} more" if more > 0 else ""))  # fmt: skip
        if not self.changes:
            tail = "the tolerance" if self.old_runs == self.new_runs == 1 else "the spread and the tolerance"
            return [*lines, f"no figure moved beyond {tail}"]
        return [*lines, *format_changes(self.changes)]


def runs_of(paths: Sequence[Path]) -> list[Path]:
    """A side's run folders: a folder with ``summary.json`` or ``results.json`` is one run, a ``--repeat`` folder
    its ``run-*/`` folders in order; anything else is a one-line error."""
    runs: list[Path] = []
    for path in paths:
        if not path.is_dir():
            raise ConfigError(f"{path} is not a report folder")
        if (path / "summary.json").is_file() or (path / "results.json").is_file():
            runs.append(path)
            continue
        repeated = sorted(
            (int(m.group(1)), child) for child in path.iterdir() if (m := _RUN.match(child.name)) and child.is_dir()
        )
        if not repeated:
            raise ConfigError(f"{path} has no summary.json, results.json or run-*/summary.json to compare")
        runs += [child for _, child in repeated]
    return runs


def compare_sides(old: Sequence[Path], new: Sequence[Path], tolerance: Tolerance | None = None) -> Comparison:
    """Each side's runs (:func:`runs_of`) compared: figures by median beyond spread and tolerance, rules by the
    outcome most runs had."""
    tolerance = tolerance or Tolerance()
    for path in (*old, *new):  # a mistyped folder is named before an empty one
        if not path.is_dir():
            raise ConfigError(f"{path} is not a report folder")
    old_runs, new_runs = runs_of(old), runs_of(new)
    changes: list[Change] = []
    found = False
    seen = _Seen()
    for name, differ in (("summary.json", _summary_changes), ("results.json", _rule_changes)):
        before = [d for d in (_read(run, name) for run in old_runs) if d is not None]
        after = [d for d in (_read(run, name) for run in new_runs) if d is not None]
        if before and after:
            found = True
            try:
                changes += differ(before, after, tolerance, seen)
            except (KeyError, TypeError, AttributeError, ValueError) as exc:  # a hand-edited or foreign file
                raise ConfigError(f"a {name} of these runs is not one slowcheck wrote ({type(exc).__name__}: "
                                  f"{exc})") from None  # fmt: skip
    if not found:
        sides = ", ".join(str(p) for p in (*old, *new))
        raise ConfigError(f"{sides}: the sides share no summary.json or results.json to compare")
    unknown = sorted(set(tolerance.figures) - seen.compared)
    if unknown:
        raise ConfigError(
            f"--tolerance {unknown[0]}=...: no compared figure has that name (e.g. submit.latency_ms.p95)"
        )
    return Comparison(changes, len(old_runs), len(new_runs), sorted(seen.missing - seen.compared))


def compare(old_dir: Path, new_dir: Path, *, tolerance: float = 10.0) -> list[Change]:
    """One folder against one (each may be a ``--repeat`` folder), one global tolerance."""
    return compare_sides([old_dir], [new_dir], Tolerance(tolerance)).changes


def format_changes(changes: list[Change]) -> list[str]:
    if not changes:
        return ["no figure moved beyond the tolerance"]
    width = max(len(c.name) for c in changes)
    ordered = sorted(changes, key=lambda c: (not c.worse, c.name))
    return [
        f"{'WORSE ' if c.worse else 'better'} {c.name:<{width}}  {_side(c.old, c.old_range)} -> "
        f"{_side(c.new, c.new_range)}  {c.note}".rstrip()
        for c in ordered
    ]


def _runs(count: int) -> str:
    return "one run" if count == 1 else f"{count} runs"


def _side(value: Any, bounds: tuple[Any, Any] | None) -> str:
    if bounds is None or bounds[0] == bounds[1]:
        return str(value)
    return f"{value} ({bounds[0]}..{bounds[1]})"


def _percent(text: str, value: str) -> float:
    try:
        percent = float(value)
    except ValueError:
        percent = math.nan
    if not math.isfinite(percent) or percent < 0:
        raise ConfigError(f"--tolerance {text}: expected PCT or FIGURE=PCT, a percentage of 0 or more")
    return percent


def _read(folder: Path, name: str) -> dict[str, Any] | None:
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


def _summary_changes(
    old: list[dict[str, Any]], new: list[dict[str, Any]], tolerance: Tolerance, seen: _Seen
) -> list[Change]:
    if all("verdict" in s for s in (*old, *new)):  # `slowcheck run` summaries: their load phases and SDK rows
        return _run_changes(old, new, tolerance, seen)
    changes = []
    old_flat, new_flat = [_flatten(s) for s in old], [_flatten(s) for s in new]
    common = _shared([*old_flat, *new_flat])
    seen.compared |= common
    seen.missing |= set().union(*old_flat, *new_flat) - common  # a figure some runs lack is not compared: named
    for name in sorted(common):
        change = _figure_change(name, [f[name] for f in old_flat], [f[name] for f in new_flat], tolerance.of(name))
        if change is not None:
            changes.append(change)
    old_held, new_held = _thresholds(old), _thresholds(new)
    for expr in sorted(old_held.keys() & new_held.keys()):
        before, now = old_held[expr], new_held[expr]
        if before != now:
            changes.append(Change(f"threshold {expr}", before, now, before, "held before" if before else "holds now"))
    return changes


def _thresholds(summaries: list[dict[str, Any]]) -> dict[str, bool]:
    """Each threshold's result on a side: held when it held in most of the side's runs (a tie is a breach)."""
    votes: dict[str, list[bool]] = {}
    for summary in summaries:
        for threshold in summary.get("thresholds", []):
            votes.setdefault(threshold["expr"], []).append(bool(threshold["passed"]))
    return {expr: 2 * sum(held) > len(held) for expr, held in votes.items()}


def _figure_change(name: str, old: list[Any], new: list[Any], tolerance: float) -> Change | None:
    lower = any(part in name for part in _LOWER_IS_BETTER)
    if any(isinstance(v, bool) for v in (*old, *new)):
        held, holds = _majority(old), _majority(new)
        if held is None or holds is None or held == holds:
            return None
        return Change(name, held, holds, worse=held and not holds, note="")
    before, after = Figure(tuple(old)), Figure(tuple(new))
    was, now = before.median, after.median
    if len(old) == 1 and len(new) == 1:  # one against one: the figures as written, not re-rounded
        was, now = old[0], new[0]
    missing = sum(value is None for value in new)
    if was is not None and 2 * missing > len(new):  # most new runs measured nothing (nothing completed...)
        note = "no longer measured" if len(new) == 1 else f"not measured in {missing} of {len(new)} runs"
        return Change(name, was, now, worse=True, note=note)
    if was is None or now is None:
        return None
    # The noise is the old side's spread (the baseline's, the plan's own): a new side both worse and noisier
    # must not hide behind its own spread. With one old run, the new side's spread is all that is known.
    noise = (before.spread if len(before.measured) > 1 else after.spread) or 0.0
    if was == now or abs(now - was) <= noise:
        return None
    relative = math.inf if was == 0 else (now - was) / abs(was) * 100
    if abs(relative) <= tolerance:
        return None
    worse = (now > was) if lower else (now < was)
    note = "(new)" if math.isinf(relative) else f"({relative:+.0f} %)"
    if noise:
        note += f", beyond the spread {rounded(noise):g}"
    return Change(name, was, now, worse, note, _range(before), _range(after))


def _shared(mappings: list[Mapping[str, Any]]) -> set[str]:
    """The names every one of ``mappings`` has."""
    names = set(mappings[0]) if mappings else set()
    for mapping in mappings[1:]:
        names &= set(mapping)
    return names


def _range(figure: Figure) -> tuple[Any, Any] | None:
    return (figure.low, figure.high) if len(figure.measured) > 1 else None


def _majority(values: list[Any]) -> bool | None:
    known = [bool(v) for v in values if v is not None]
    return 2 * sum(known) > len(known) if known else None


def _flatten(summary: dict[str, Any]) -> dict[str, Any]:
    flat: dict[str, Any] = {}

    def walk(prefix: str, node: Any) -> None:
        if prefix in _SKIPPED_PATHS:
            return
        if isinstance(node, dict):
            for key, value in node.items():
                if key not in _SKIPPED:
                    walk(f"{prefix}.{key}" if prefix else key, value)
        elif isinstance(node, (int, float, bool)) or node is None:
            flat[prefix] = node

    for part in _COMPARED:
        walk(part, summary.get(part, {}))
    return flat


def _rule_changes(
    old: list[dict[str, Any]], new: list[dict[str, Any]], tolerance: Tolerance, seen: _Seen
) -> list[Change]:
    before, after = _outcomes(old), _outcomes(new)
    messages = {r["id"]: r.get("message") or "" for document in new for r in document.get("rules", [])}
    changes = []
    for rule, now in after.items():
        was = before.get(rule)
        if was is None or was == now:
            continue
        if now == "violated":
            changes.append(Change(f"rule {rule}", was, now, True, messages.get(rule, "")))
        elif was == "violated" and now == "held":
            changes.append(Change(f"rule {rule}", was, now, False, ""))
        elif was == "held":
            changes.append(Change(f"rule {rule}", was, now, now != "held", "no longer checked"))
    return changes


def _outcomes(documents: list[dict[str, Any]]) -> dict[str, str]:
    """Each rule's outcome on a side: the one most of its runs had, the worst of a tie."""
    seen: dict[str, Counter[str]] = {}
    for document in documents:
        for rule in document.get("rules", []):
            seen.setdefault(rule["id"], Counter())[rule["outcome"]] += 1
    rank = {outcome: index for index, outcome in enumerate(_OUTCOMES)}
    return {rule: min(counts, key=lambda o: (-counts[o], rank.get(o, len(rank)))) for rule, counts in seen.items()}


def _run_changes(
    old: list[dict[str, Any]], new: list[dict[str, Any]], tolerance: Tolerance, seen: _Seen
) -> list[Change]:
    changes = []
    phases = _shared([s.get("load") or {} for s in (*old, *new)])
    for scenario in sorted(phases):
        before, after = [s["load"][scenario] for s in old], [s["load"][scenario] for s in new]
        for change in _summary_changes(before, after, tolerance, seen):
            changes.append(replace(change, name=f"{scenario} phase: {change.name}"))
    was_failing, now_failing = _sdk_failures(old), _sdk_failures(new)
    for cell in sorted(now_failing.keys() & was_failing.keys()):
        language, version = cell
        for check in sorted(now_failing[cell] - was_failing[cell]):
            changes.append(Change(f"sdk {language} {version} {check}", "passed", "failed", True, ""))
        for check in sorted(was_failing[cell] - now_failing[cell]):
            changes.append(Change(f"sdk {language} {version} {check}", "failed", "passed", False, ""))
    return changes


def _sdk_failures(summaries: list[dict[str, Any]]) -> dict[tuple[str, str], set[str]]:
    """Per SDK row, the checks the API failed in most of the side's runs."""
    votes: dict[tuple[str, str], Counter[str]] = {}
    for summary in summaries:
        for row in (summary.get("sdk") or {}).get("rows", []):
            votes.setdefault((row["language"], row["version"]), Counter()).update(set(row["failed_by_api"]))
    half = len(summaries) / 2
    return {cell: {check for check, count in counts.items() if count > half} for cell, counts in votes.items()}
