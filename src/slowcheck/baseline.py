"""A baseline of accepted findings (``--baseline FILE``): what a team has accepted, until when, and why.

The file (TOML, or JSON when its name ends in ``.json``: ``config_file``) holds ``accepted``: entries of
``rule``, ``fingerprint``, ``reason`` and ``expires`` (an ISO date, the last day it holds), and ``pending``: rule
ids a team has not promoted yet (their findings are reported, never failing). A finding's fingerprint is a short
hash of its rule id and its message with what changes from run to run normalised away (ids, timestamps, counts,
durations, bodies), so the same broken promise of the same target has the same fingerprint on every run.

:meth:`Baseline.judge` marks a result's findings (``fingerprint`` and ``baseline``) as it is judged; the verdict
(``checks.report.verdict``) then counts only the rules that are neither accepted nor pending.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import re
from collections.abc import Collection, Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Literal

from slowcheck import config_file
from slowcheck.errors import ConfigError
from slowcheck.findings import Outcome, Result

__all__ = [
    "NEW_DAYS",
    "NEW_REASON",
    "Baseline",
    "BaselineEntry",
    "add_arguments",
    "fingerprint",
    "from_args",
    "normalise",
    "shown",
    "status_of",
    "today",
    "waived",
]

Status = Literal["accepted", "expired", "pending"]
NEW_REASON = "TODO"
NEW_DAYS = 30
"""An entry ``--update-baseline`` adds expires this many days out, with the reason ``TODO``: a team gives both."""
_FIELDS = ("rule", "fingerprint", "reason", "expires")
_JUDGED = (Outcome.VIOLATED, Outcome.DEVIATION)

_TIME = re.compile(r"\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z|[+-]\d{2}:?\d{2})?)?")
_UUID = re.compile(r"\b[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}\b")
_ID = re.compile(r"(?<![\w-])(?=[\w-]*\d)(?=[\w-]*[A-Za-z])[\w-]{12,}")
"""A word of 12 characters or more mixing letters and digits: a generation's, a request's or a file's id."""
_NUMBER = re.compile(r"(?<![\w.])\d+(?:\.\d+)?(?![\w.])")
_STATUS = re.compile(r"[1-5]\d\d")
_INDEX = re.compile(r"(?<=[\w\]])\[(\d+)\]")
"""An index after a name (``messages[0]``): part of where the finding is, kept."""


def normalise(message: str) -> str:
    """The parts of a finding's message that stay the same from run to run: ids, timestamps, bodies (``{...}``,
    ``[...]`` after a space) and numbers become placeholders; three-digit numbers from 100 to 599 (HTTP statuses)
    stay."""
    text = _UUID.sub("<id>", _TIME.sub("<time>", message))
    text = _ID.sub("<id>", text)
    text = _INDEX.sub(r"[i\1]", _bodies(text))  # an index's digits behind a letter: no number
    text = _NUMBER.sub(lambda m: m.group() if _STATUS.fullmatch(m.group()) else "<n>", text)
    return re.sub(r"\[i(\d+)\]", r"[\1]", text)


def _bodies(text: str) -> str:
    """A JSON (or Python) value quoted in a message, from its opening bracket to the matching close or to the
    ellipsis where the message cut it, becomes ``<value>``; an index after a name (``messages[0]``) stays."""
    out, i = [], 0
    while i < len(text):
        char = text[i]
        if char in "{[" and (i == 0 or text[i - 1] in " :=(\t"):
            depth, j = 0, i
            while j < len(text):
                if text[j] in "{[":
                    depth += 1
                elif text[j] in "}]":
                    depth -= 1
                if depth == 0 or text[j] == "…":
                    break
                j += 1
            out.append("<value>")
            i = j + 1
            continue
        out.append(char)
        i += 1
    return "".join(out)


def fingerprint(rule: str, message: str) -> str:
    """12 hex digits of the rule id and the normalised message."""
    return hashlib.sha256(f"{rule}\n{normalise(message)}".encode()).hexdigest()[:12]


def today() -> date:
    return datetime.now(timezone.utc).date()


@dataclass(frozen=True, slots=True)
class BaselineEntry:
    rule: str
    fingerprint: str
    reason: str
    expires: date
    """The last day the entry holds; from the day after, its finding fails again."""

    def document(self) -> dict[str, str]:
        return {"rule": self.rule, "fingerprint": self.fingerprint, "reason": self.reason,
                "expires": self.expires.isoformat()}  # fmt: skip


@dataclass(slots=True)
class Baseline:
    """A baseline file read, and what a run made of it: which entries matched a finding."""

    path: Path
    entries: list[BaselineEntry] = field(default_factory=list)
    pending: frozenset[str] = frozenset()
    day: date = field(default_factory=today)
    """The day entries are judged against (expired when ``expires`` is before it)."""
    matched: set[tuple[str, str]] = field(default_factory=set)
    """(rule, fingerprint) of the entries a finding of this run matched."""
    judged: list[Result] = field(default_factory=list)

    @classmethod
    def load(cls, path: Path, known: Collection[str], *, missing_ok: bool = False, day: date | None = None) -> Baseline:
        """Read ``path``; any defect (syntax, a missing field, a bad date, an unknown rule id) is one line.
        ``missing_ok``: a file that does not exist yet is an empty baseline (``--update-baseline`` writes it)."""
        day = day or today()
        if missing_ok and not path.exists():
            return cls(path, day=day)
        document = config_file.read(path, "--baseline")
        if not isinstance(document, dict) or set(document) - {"accepted", "pending"}:
            raise ConfigError(f"--baseline {path}: expected a table of 'accepted' and 'pending'")
        listed, pending = document.get("accepted", []), document.get("pending", [])
        names = pending if isinstance(pending, list) else [None]
        if not isinstance(listed, list) or not all(isinstance(p, str) for p in names):
            raise ConfigError(f"--baseline {path}: 'accepted' is a list of entries, 'pending' a list of rule ids")
        entries = [_entry(path, n, item, known) for n, item in enumerate(listed, 1)]
        for rule in pending:
            if rule not in known:
                raise ConfigError(f"--baseline {path}: pending: unknown rule id {rule!r} (see --list-rules)")
        return cls(path, entries, frozenset(pending), day)

    def judge(self, result: Result) -> Status | None:
        """Mark ``result``'s findings with their fingerprint and, where an entry or the pending list covers them,
        their status; return the rule's status (``None``: the baseline does not cover it)."""
        self.judged.append(result)
        if result.outcome not in _JUDGED:
            return None
        if not result.findings:  # a check that crashed: its message is its one finding
            result.findings.append({"outcome": "violated", "message": result.message, "request": result.request,
                                    "response": result.response})  # fmt: skip
        by_key = {(e.rule, e.fingerprint): e for e in self.entries}
        rule = result.rule.id
        for finding in result.findings:
            finding["fingerprint"] = print_ = fingerprint(rule, str(finding.get("message", "")))
            entry = by_key.get((rule, print_))
            if entry is not None:  # an entry first: listing its rule as pending never revives an expired entry
                self.matched.add((rule, print_))
                state = "expired" if entry.expires < self.day else "accepted"
                finding["baseline"] = {"status": state, "reason": entry.reason, "expires": entry.expires.isoformat()}
            elif rule in self.pending:
                finding["baseline"] = {"status": "pending", "reason": "a pending rule: reported, never failing",
                                       "expires": None}  # fmt: skip
        found = status_of(result)
        return None if found is None else found["status"]

    def judge_all(self, results: Iterable[Result]) -> None:
        for result in results:
            self.judge(result)

    def fixed(self) -> list[BaselineEntry]:
        """The entries of rules this run judged that no finding matched: fixed (a team removes them). An entry of
        a rule that was skipped or could not run is neither accepted nor fixed."""
        ran = self._ran()
        return [e for e in self.entries if (e.rule, e.fingerprint) not in self.matched and e.rule in ran]

    def _ran(self) -> set[str]:
        return {r.rule.id for r in self.judged if r.outcome in (Outcome.HELD, *_JUDGED)}

    def document(self) -> dict[str, Any]:
        """``results.json``'s top-level ``baseline``: the file, the rules accepted, expired and pending, and the
        entries no finding matched."""
        tally = {"accepted": 0, "expired": 0, "pending": 0}
        for result in self.judged:
            found = status_of(result)
            if found is not None:
                tally[found["status"]] += 1
        fixed = [{"rule": e.rule, "fingerprint": e.fingerprint, "reason": e.reason} for e in self.fixed()]
        return {"file": str(self.path), **tally, "fixed": fixed}

    def record(self, results_json: Path) -> None:
        """Add :meth:`document` to a written ``results.json``."""
        document = json.loads(results_json.read_text(encoding="utf-8"))
        document["baseline"] = self.document()
        results_json.write_text(json.dumps(document, indent=2, ensure_ascii=False, default=str) + "\n",
                                encoding="utf-8")  # fmt: skip

    def lines(self) -> list[str]:
        """What the terminal says of the baseline after a run."""
        told = self.document()
        lines = [f"baseline {self.path}: {told['accepted']} accepted, {told['expired']} expired, "
                 f"{told['pending']} pending, {len(told['fixed'])} fixed"]  # fmt: skip
        lines += [f"  fixed: {e.rule} {e.fingerprint} ({e.reason}): no longer found; remove it" for e in self.fixed()]
        return lines

    def finish(self, results: Iterable[Result], *, update: bool, deviations: bool = False) -> list[str]:
        """The terminal's lines after a run: what the baseline made of it and, with ``update``, what was written
        (``deviations``: the run fails on deviations, so they are written too)."""
        lines = self.lines()
        if update:
            kept, added = self.update(results, deviations=deviations)
            expires = (self.day + timedelta(days=NEW_DAYS)).isoformat()
            told = f" (reason {NEW_REASON!r}, expires {expires}: give each its reason)" if added else ""
            lines.append(f"baseline {self.path} written: {kept} entries kept, {added} new{told}")
        return lines

    def update(self, results: Iterable[Result], *, deviations: bool = False) -> tuple[int, int]:
        """Write the findings that fail ``results`` as the baseline: an entry that still matches keeps its reason
        and expiry, a new one gets ``TODO`` and :data:`NEW_DAYS` days, an entry of a rule that did not run stays,
        the pending list stays. Returns the entries (kept, added)."""
        results = list(results)
        previous = {(e.rule, e.fingerprint): e for e in self.entries}
        ran = {r.rule.id for r in results if r.outcome in (Outcome.HELD, *_JUDGED)}
        kept = {key: e for key, e in previous.items() if e.rule not in ran}
        added = 0
        for result in results:
            failing = (Outcome.VIOLATED, Outcome.DEVIATION) if deviations else (Outcome.VIOLATED,)
            if result.outcome not in failing or result.rule.id in self.pending:
                continue
            for finding in _failing(result):
                key = (result.rule.id, fingerprint(result.rule.id, str(finding.get("message", ""))))
                if key in kept:
                    continue
                entry = previous.get(key)
                if entry is None:
                    added += 1
                    entry = BaselineEntry(*key, NEW_REASON, self.day + timedelta(days=NEW_DAYS))
                kept[key] = entry
        self.entries = list(kept.values())
        self._write()
        return len(kept) - added, added

    def _write(self) -> None:
        entries = [e.document() for e in self.entries]
        if self.path.suffix.lower() != ".json":  # as config_file reads it: JSON by its suffix, else TOML
            text = f"pending = {json.dumps(sorted(self.pending))}\n"
            for entry in entries:
                text += "\n[[accepted]]\n" + "".join(f"{k} = {json.dumps(v)}\n" for k, v in entry.items())
        else:
            text = json.dumps({"accepted": entries, "pending": sorted(self.pending)}, indent=2) + "\n"
        self.path.write_text(text, encoding="utf-8")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--baseline", type=Path, metavar="FILE",
                        help="accepted findings, TOML (JSON when named .json; each: rule, fingerprint, reason, "
                        "expires; and pending rule ids): an accepted finding is reported and does not fail the "
                        "run, an expired one fails again, one no longer found is reported fixed")  # fmt: skip
    parser.add_argument("--update-baseline", action="store_true",
                        help=f"write this run's failing findings to --baseline FILE: entries still found keep "
                        f"their reason and expiry, new ones get reason {NEW_REASON!r} and {NEW_DAYS} days")  # fmt: skip


def from_args(args: argparse.Namespace, known: Collection[str]) -> Baseline | None:
    """The baseline the flags name, read and checked before anything is sent (``None`` without ``--baseline``)."""
    if args.update_baseline and args.baseline is None:
        raise ConfigError("--update-baseline: name the file with --baseline FILE")
    if args.baseline is None:
        return None
    return Baseline.load(args.baseline, known, missing_ok=args.update_baseline)


def shown(result: Result) -> tuple[Status | None, str]:
    """How the terminal shows a judged rule the baseline covers: its mark (``accepted``, ``pending``; ``None``
    keeps the outcome's own) and the line under it."""
    found = status_of(result)
    if found is None:
        return None, result.message
    if found["status"] == "expired":
        return None, f"baseline entry expired {found['expires']} ({found['reason']}): {result.message}"
    status: Status = found["status"]
    return status, f"{status} (baseline: {found['reason']}): {result.message}"


def status_of(result: Result) -> dict[str, Any] | None:
    """A rule's ``baseline`` in ``results.json``: pending when its rule is; accepted when every finding that fails
    it is; expired when one of them matched an expired entry; else ``None``."""
    if result.outcome not in _JUDGED:
        return None
    marks = [f.get("baseline") for f in _failing(result)]
    if not marks:
        return None
    if all(m is not None and m["status"] == "pending" for m in marks):
        return dict(marks[0])  # type: ignore[arg-type]
    if all(m is not None and m["status"] == "accepted" for m in marks):
        return dict(marks[0])  # type: ignore[arg-type]
    expired = [m for m in marks if m is not None and m["status"] == "expired"]
    return dict(expired[0]) if expired else None


def waived(result: Result) -> bool:
    """Whether the baseline keeps ``result`` from counting against the run (accepted or pending)."""
    found = status_of(result)
    return found is not None and found["status"] in ("accepted", "pending")


def _failing(result: Result) -> list[dict[str, Any]]:
    """The findings that make the rule's outcome: its violations when it has any, else every finding."""
    violated = [f for f in result.findings if f.get("outcome") == "violated"]
    return violated or list(result.findings)


def _entry(path: Path, number: int, item: Any, known: Collection[str]) -> BaselineEntry:
    where = f"--baseline {path}: accepted entry {number}"
    if not isinstance(item, dict):
        raise ConfigError(f"{where}: expected a table of {', '.join(_FIELDS)}")
    missing = [name for name in _FIELDS if name not in item]
    if missing:
        raise ConfigError(f"{where}: missing {', '.join(repr(m) for m in missing)}")
    unknown = sorted(set(item) - set(_FIELDS))
    if unknown:
        raise ConfigError(f"{where}: unknown field {unknown[0]!r}")
    if item["rule"] not in known:
        raise ConfigError(f"{where}: unknown rule id {item['rule']!r} (see --list-rules)")
    if not all(isinstance(item[name], str) for name in ("rule", "fingerprint", "reason")):
        raise ConfigError(f"{where}: rule, fingerprint and reason are strings")
    expires = item["expires"]
    if isinstance(expires, date) and not isinstance(expires, datetime):  # TOML's own date
        day = expires
    else:
        try:
            day = date.fromisoformat(str(expires))
        except ValueError:
            raise ConfigError(f"{where}: expires: expected an ISO date like 2027-01-31, got {expires!r}") from None
    return BaselineEntry(item["rule"], item["fingerprint"], item["reason"], day)
