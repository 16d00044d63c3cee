"""GitHub Actions, natively: what a judging command wrote, as the job's step summary and as annotations.

When ``GITHUB_ACTIONS=true`` (or with ``--github``), every command that judges (``contract``, ``run``, ``load``,
``sdk-matrix``, ``proxy``) ends with :func:`publish`: a markdown summary appended to ``$GITHUB_STEP_SUMMARY``
(when set) and one workflow command a finding on stdout (``::error`` a violation, ``::warning`` a deviation,
``::notice`` a finding the baseline accepts). Both are built from the report folder alone (``results.json``,
``summary.json``, ``sdk-matrix.json``), which is written and redacted before: no key reaches either.
"""

from __future__ import annotations

import argparse
import html
import json
import os
import re
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any, TextIO

from slowcheck.prices import describe
from slowcheck.verdict import Verdict

__all__ = [
    "enabled",
    "escape_data",
    "escape_property",
    "one_line",
    "publish",
    "summary",
    "workflow_command",
    "workflow_commands",
]

_LISTED = 50
"""Items a summary lists per section before it says how many more (a step summary holds at most 1 MiB)."""
_MESSAGE = 300
"""Characters of a finding's message a summary shows (the report has them whole)."""
_CURL = 4000
"""Characters of a ``curl`` command a summary shows; a longer one is named, not cut."""
_ANNOTATION = 2000
_ACCEPTED = ("accepted", "pending")
_OUTCOMES = ("held", "violated", "deviation", "skipped", "not run")


def enabled(args: argparse.Namespace) -> bool:
    """``--github``, or a GitHub Actions runner (which sets ``GITHUB_ACTIONS=true``)."""
    return bool(getattr(args, "github", False)) or os.environ.get("GITHUB_ACTIONS") == "true"


def one_line(text: object) -> str:
    """``text`` with its whitespace folded: a line a command prints that may quote a target's own text (a state,
    an id) can then never start with ``::`` and be read as a workflow command."""
    return " ".join(str(text).split())


def escape_data(text: str) -> str:
    """A workflow command's message, as GitHub's toolkit escapes it: ``%``, ``\\r`` and ``\\n``."""
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def escape_property(text: str) -> str:
    """A workflow command's property (``title=...``): the message's escapes, and ``:`` and ``,``."""
    return escape_data(text).replace(":", "%3A").replace(",", "%2C")


def workflow_command(kind: str, title: str, message: str) -> str:
    """``::error title=RULE-ID::message``, ``::warning ...`` or ``::notice ...``, escaped (and a message beyond
    :data:`_ANNOTATION` characters cut: the report has it whole)."""
    if len(message) > _ANNOTATION:
        message = message[: _ANNOTATION - 1] + "…"
    return f"::{kind} title={escape_property(title)}::{escape_data(message)}"


def publish(
    args: argparse.Namespace, folder: Path, command: str, verdict: Verdict, *, out: TextIO | None = None
) -> None:
    """The end of a judging command on GitHub Actions: the annotations printed, the summary appended to
    ``$GITHUB_STEP_SUMMARY`` if it is set. Nothing at all elsewhere (see :func:`enabled`)."""
    if not enabled(args):
        return
    stream = out or sys.stdout
    for line in workflow_commands(folder):
        print(line, file=stream)
    stream.flush()
    path = os.environ.get("GITHUB_STEP_SUMMARY")
    if not path:
        return
    try:
        with open(path, "a", encoding="utf-8") as step_summary:
            step_summary.write(summary(folder, command, verdict) + "\n")
    except OSError as exc:  # the run's verdict stands; the summary is a courtesy
        print(f"slowcheck {command}: the step summary could not be written ({exc})", file=sys.stderr)  # noqa: T201


def workflow_commands(folder: Path) -> list[str]:
    """One workflow command per finding in the report folder: violated (or an expired baseline entry) an error,
    a deviation a warning, an accepted or pending one a notice; breached load thresholds and failing SDK cells
    errors too."""
    lines = []
    for rule in _rules(folder):
        kind = _kind(rule)
        if kind:
            lines.append(workflow_command(kind, rule["id"], _annotation(rule)))
    for scenario, load in _loads(folder):
        for threshold in load.get("thresholds", []):
            if not threshold.get("passed"):
                lines.append(workflow_command("error", f"load {scenario} threshold", _breach(threshold)))
    for name, check, found in _cells(_read(folder, "sdk-matrix.json")):
        kind = {"violated": "error", "deviation": "warning"}.get(found.get("outcome", ""))
        if kind:
            lines.append(workflow_command(kind, check, f"{name}: {found.get('detail', '')}"))
    return lines


def summary(folder: Path, command: str, verdict: Verdict) -> str:
    """The step summary's markdown: the verdict, the counts, the violated rules a line each (with the first
    finding's curl), deviations folded, what was not run and why, load figures against their thresholds, the
    SDK cells that fail, and what a baseline accepted or saw fixed."""
    parts = [f"### slowcheck {command}: {verdict.status.upper()}"]
    parts += [f"- {_md(reason)}" for reason in verdict.reasons]
    results = _read(folder, "results.json")
    spent = _spend(_read(folder, "summary.json"), results)
    if results is not None:
        parts += list(_contract(results, spent))
    elif spent:
        parts += ["", spent]
    for scenario, load in _loads(folder):
        parts += list(_load(scenario, load))
    matrix = _read(folder, "sdk-matrix.json")
    if matrix is not None:
        parts += list(_sdk(matrix))
    return "\n".join(parts) + "\n"


def _spend(*documents: dict[str, Any] | None) -> str:
    """What the run cost, as its console line says it (``prices.describe``): ``slowcheck run``'s and a load
    run's ``summary.json`` first (the run's adds its parts), else the contract's ``results.json``."""
    for document in documents:
        found = (document or {}).get("spend")
        if isinstance(found, dict):
            try:
                return f"Spend: {_md(describe(found))}"
            except (KeyError, TypeError, ValueError):
                return ""
    return ""


def _contract(results: dict[str, Any], spent: str) -> Iterator[str]:
    rules = results.get("rules", [])
    counts = results.get("counts", {})
    target = f" against {_md(results['target'])}" if results.get("target") else ""
    yield ""
    yield _tally(counts) + target
    if spent:
        yield ""
        yield spent
    violated = [r for r in rules if _kind(r) == "error"]
    if violated:
        yield ""
        yield "**Violated**"
        yield ""
        for rule in _capped(violated):
            yield from _violated(rule)
        yield from _more(violated)
    accepted = [r for r in rules if _kind(r) == "notice"]
    if accepted:
        yield from _folded(f"{len(accepted)} accepted by the baseline", [_accepted(r) for r in accepted])
    deviations = [r for r in rules if _kind(r) == "warning"]
    if deviations:
        yield from _folded(_count(len(deviations), "deviation"), [f"**{r['id']}** {_md(r.get('message', ''))}"
                                                             for r in deviations])  # fmt: skip
    not_run = [r for r in rules if r.get("outcome") == "not run"]
    if not_run:
        yield ""
        yield "**Not run**"
        yield ""
        yield from (f"- **{r['id']}** {_md(r.get('message', ''))}" for r in _capped(not_run))
        yield from _more(not_run)
    fixed = (results.get("baseline") or {}).get("fixed") or []
    if fixed:
        yield ""
        yield "**Fixed** (in the baseline, no longer found): " + ", ".join(_md(_entry(f)) for f in fixed)


def _violated(rule: dict[str, Any]) -> Iterator[str]:
    entry = rule.get("baseline") or {}
    expired = f" (baseline entry expired {_md(str(entry.get('expires')))})" if entry.get("status") == "expired" else ""
    title = str(rule.get("title", "")).rstrip(".")
    yield f"- **{rule['id']}**{expired}: {_md(rule.get('message', ''))} (_{_md(title)}_)"
    yield from _reproduction(rule.get("findings") or [])


def _reproduction(findings: list[Any]) -> Iterator[str]:
    """The first finding's request as a ``curl`` command (``reproduce.py``'s, the key as ``$SLOWCHECK_API_KEY``),
    its correlation id, and how many more exchanges a generation's life took."""
    found = next((f for f in findings if isinstance(f, dict) and _curl_of(f)), None)
    if found is None:
        return
    curl = _curl_of(found)
    replay = _part(found, "reproduction")
    correlation = found.get("correlation_id") or replay.get("correlation_id")
    listed = replay.get("exchanges")
    exchanges: list[Any] = listed if isinstance(listed, list) else []
    notes = [f"correlation id `{_md(str(correlation))}`"] if correlation else []
    if replay.get("lifecycle") and len(exchanges) > 1:
        notes.append(f"the submission, then {len(exchanges) - 1} more exchanges in results.json")
    if len(curl) > _CURL:
        notes.append(f"its command is {len(curl):,} characters long: in results.json")
    if notes:
        yield ""
        yield f"  {'; '.join(notes)}"
    if len(curl) <= _CURL:
        fence = "`" * max(3, 1 + max((len(run) for run in re.findall(r"`+", curl)), default=0))
        yield ""
        yield f"  {fence}sh"
        yield from (f"  {line}" for line in curl.splitlines())
        yield f"  {fence}"


def _curl_of(finding: dict[str, Any]) -> str:
    replay = finding.get("reproduction")
    curl = finding.get("curl") or (replay.get("curl") if isinstance(replay, dict) else None)
    return curl if isinstance(curl, str) else ""


def _accepted(rule: dict[str, Any]) -> str:
    entry = rule.get("baseline") or {}
    reason = f": {_md(str(entry['reason']))}" if entry.get("reason") else ""
    expires = f" (until {_md(str(entry['expires']))})" if entry.get("expires") else ""
    found = f"{rule.get('outcome')}: {_md(rule.get('message', ''))}"
    return f"**{rule['id']}** {entry.get('status')}{reason}{expires}; {found}"


def _load(scenario: str, load: dict[str, Any]) -> Iterator[str]:
    yield ""
    yield f"**Load: {_md(scenario)}**"
    yield ""
    figures = [f"- {_md(line)}" for line in _figures(load)]
    if figures:
        yield from figures
        yield ""
    thresholds = load.get("thresholds") or []
    if not thresholds:
        yield "No thresholds set (`--threshold`)."
        return
    yield "| threshold | measured | |"
    yield "|---|---|---|"
    for threshold in thresholds:
        verdict = "holds" if threshold.get("passed") else "**BREACHED**"
        yield f"| {_code(str(threshold.get('expr')))} | {_md(str(threshold.get('value')))} | {verdict} |"


def _figures(load: dict[str, Any]) -> Iterator[str]:
    """The headline figures of each part a load run measured (as ``load.console`` tells them on a terminal)."""
    submit, jobs, limit, batch = (_part(load, name) for name in ("submit", "jobs", "rate_limit", "batch"))
    if "count" in submit:
        latency = _part(submit, "latency_ms")
        yield (f"submit: {submit.get('count')} sent, {submit.get('ok')} accepted, {submit.get('rate_limited')} 429, "
               f"{submit.get('errors')} errors; {submit.get('throughput_per_s')}/s; ack p50 {latency.get('p50')} ms, "
               f"p95 {latency.get('p95')} ms, p99 {latency.get('p99')} ms")  # fmt: skip
    if "says" in _part(load, "limits"):
        yield f"limit met: {load['limits']['says']}"
    if "accepted" in jobs:
        e2e = _part(_part(jobs, "latency_s"), "e2e")
        yield (f"jobs: {jobs.get('accepted')} accepted, {jobs.get('completed')} completed, {jobs.get('failed')} "
               f"failed, {jobs.get('expired')} expired, {jobs.get('open')} still open; e2e p50 {e2e.get('p50')} s, "
               f"p99 {e2e.get('p99')} s")  # fmt: skip
    if load.get("scenario") == "rate-limit" and limit:
        yield (f"rate limit: {limit.get('kind')}: burst {limit.get('burst')}, sustained {limit.get('sustained_per_s')}"
               f"/s, window {limit.get('window_s')} s" if limit.get("conclusive")
               else f"rate limit: inconclusive: {limit.get('reason')}")  # fmt: skip
    for name, strategy in _part(load, "poll").items():
        if isinstance(strategy, dict) and strategy.get("not_run"):
            yield f"poll {name}: not run ({strategy['not_run']})"
        elif isinstance(strategy, dict):
            yield (f"poll {name}: {strategy.get('completions')} completions, {strategy.get('polls_per_completion')} "
                   f"polls each, latency p50 {_part(strategy, 'latency_s').get('p50')} s")  # fmt: skip
    if "status" in batch:
        yield (f"batch: {batch.get('lines')} lines, {batch.get('status')}; to completed {batch.get('to_completed_s')} "
               f"s, {batch.get('completed_per_s')} lines completed/s")  # fmt: skip


def _part(document: dict[str, Any], name: str) -> dict[str, Any]:
    part = document.get(name)
    return part if isinstance(part, dict) else {}


def _sdk(matrix: dict[str, Any]) -> Iterator[str]:
    counts = matrix.get("counts", {})
    yield ""
    yield "**SDK matrix**: " + _tally(counts)
    failing = [(name, check, found) for name, check, found in _cells(matrix) if found.get("outcome") == "violated"]
    if failing:
        yield ""
        yield from (f"- **{check}** {_md(name)}: {_md(str(found.get('detail', '')))}" for name, check, found in
                    _capped(failing))  # fmt: skip
        yield from _more(failing)
    hazards = [(name, check, found) for name, check, found in _cells(matrix) if found.get("outcome") == "deviation"]
    if hazards:
        yield from _folded(f"{_count(len(hazards), 'SDK hazard')} (deviations: the SDK's own behaviour)",
                           [f"**{check}** {_md(name)}: {_md(str(found.get('detail', '')))}"
                            for name, check, found in hazards])  # fmt: skip
    not_run = [(name, check, found) for name, check, found in _cells(matrix) if found.get("outcome") == "not run"]
    if not_run:
        yield from _folded(f"{_count(len(not_run), 'cell')} not run", [f"**{check}** {_md(name)}: "
                           f"{_md(str(found.get('detail', '')))}" for name, check, found in not_run])  # fmt: skip


def _tally(counts: dict[str, int]) -> str:
    shown = (_count(counts.get(o, 0), o) if o == "deviation" else f"{counts.get(o, 0)} {o}" for o in _OUTCOMES)
    return " · ".join(shown)


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


def _folded(head: str, items: list[str]) -> Iterator[str]:
    yield ""
    yield f"<details><summary>{html.escape(head, quote=False)}</summary>"
    yield ""
    yield from (f"- {item}" for item in _capped(items))
    yield from _more(items)
    yield ""
    yield "</details>"


def _capped(items: list[Any]) -> list[Any]:
    """The first :data:`_LISTED` items; :func:`_more` says how many are left out."""
    return items[:_LISTED]


def _more(items: list[Any]) -> Iterator[str]:
    if len(items) > _LISTED:
        yield f"- and {len(items) - _LISTED} more (the report lists every one)"


def _kind(rule: dict[str, Any]) -> str | None:
    """The workflow command a rule's entry calls for, if any."""
    status = (rule.get("baseline") or {}).get("status")
    outcome = rule.get("outcome")
    if status in _ACCEPTED and outcome in ("violated", "deviation"):
        return "notice"
    if outcome == "violated" or status == "expired":
        return "error"
    return "warning" if outcome == "deviation" else None


def _annotation(rule: dict[str, Any]) -> str:
    entry = rule.get("baseline") or {}
    status = entry.get("status")
    if status in _ACCEPTED:
        reason = f" ({entry['reason']})" if entry.get("reason") else ""
        return f"{status} by the baseline{reason}: {rule.get('message', '')}"
    if status == "expired":
        return f"baseline entry expired {entry.get('expires')}: {rule.get('message', '')}"
    return str(rule.get("message", ""))


def _breach(threshold: dict[str, Any]) -> str:
    return f"{threshold.get('expr')} breached (measured {threshold.get('value')})"


def _rules(folder: Path) -> list[dict[str, Any]]:
    results = _read(folder, "results.json")
    rules = results.get("rules", []) if results else []
    return [r for r in rules if isinstance(r, dict) and "id" in r]


def _loads(folder: Path) -> list[tuple[str, dict[str, Any]]]:
    """A load run's ``summary.json``, or the load phases in ``slowcheck run``'s."""
    document = _read(folder, "summary.json")
    if document is None:
        return []
    if isinstance(document.get("scenario"), str):
        return [(document["scenario"], document)]
    phases = document.get("load")
    if not isinstance(phases, dict):
        return []
    return [(name, phase) for name, phase in phases.items() if isinstance(phase, dict)]


def _cells(matrix: dict[str, Any] | None) -> Iterator[tuple[str, str, dict[str, Any]]]:
    """Each cell of ``sdk-matrix.json`` as (the version, the check, the cell)."""
    for row in (matrix or {}).get("rows", []):
        name = f"{row.get('language')} {row.get('version') or row.get('requested')}"
        for check, found in (row.get("cells") or {}).items():
            if isinstance(found, dict):
                yield name, check, found


def _entry(fixed: Any) -> str:
    if isinstance(fixed, dict):
        fingerprint = f" {fixed['fingerprint']}" if fixed.get("fingerprint") else ""
        return f"{fixed.get('rule') or fixed.get('id')}{fingerprint}"
    return str(fixed)


def _md(text: str) -> str:
    """One line of plain text, safe inside markdown: whitespace folded, HTML escaped, cut to a readable length."""
    line = one_line(text)
    if len(line) > _MESSAGE:
        line = line[: _MESSAGE - 1] + "…"
    return html.escape(line, quote=False).replace("|", "\\|")


def _code(text: str) -> str:
    """A code span in a table cell: HTML entities would show as written there, so only ``|`` is escaped."""
    line = one_line(text)[:_MESSAGE]
    fence = "`" * (1 + max((len(run) for run in re.findall(r"`+", line)), default=0))
    pad = " " if line.startswith("`") or line.endswith("`") else ""
    return f"{fence}{pad}{line}{pad}{fence}".replace("|", "\\|")


def _read(folder: Path, name: str) -> dict[str, Any] | None:
    try:
        document = json.loads((folder / name).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return document if isinstance(document, dict) else None
