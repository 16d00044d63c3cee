"""``slowcheck schemas``: list the JSON Schemas, show one (bundled for other tools), validate payloads."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from slowcheck import _json
from slowcheck.errors import ConfigError
from slowcheck.schemas import KINDS, SchemaSet, schema_set

__all__ = ["DESCRIPTION", "HELP", "add_arguments", "main"]

HELP = "list, show and validate against the JSON Schemas"
DESCRIPTION = "The JSON Schemas every part of slowcheck checks with: list them, print one, validate payloads."


def add_arguments(parser: argparse.ArgumentParser) -> None:
    actions = parser.add_subparsers(title="actions", metavar="ACTION")

    listing = actions.add_parser("list", help="the schema kinds and their titles")
    listing.set_defaults(handler=_list)

    validate = actions.add_parser(
        "validate",
        help="validate JSON payloads against one schema",
        description="Validate JSON files (or JSON Lines files, *.jsonl, line by line; '-' reads standard input) "
        "against one schema. A JSON Lines file is read a line at a time: its invalid lines are listed with their "
        "numbers (the first 50 in full), a line that is not JSON counts as invalid, and for batch-request-line "
        "(within a file) and batch-output-line (across the files given) a repeated custom_id is an error. "
        "Exit 0 when every payload is valid, 1 when one is not, 2 when a file cannot be read.",
    )
    validate.add_argument("kind", metavar="KIND", help="one of: " + ", ".join(KINDS))
    validate.add_argument("files", metavar="FILE", nargs="+", help="a JSON file, a .jsonl file, or '-'")
    validate.set_defaults(handler=_validate)

    show = actions.add_parser("show", help="print a schema; --bundle inlines every $ref")
    show.add_argument("kind", metavar="KIND", help="one of: " + ", ".join(KINDS))
    show.add_argument("--bundle", action="store_true", help="one self-contained document (for other tools)")
    show.set_defaults(handler=_show)

    where = actions.add_parser("path", help="the folder the schemas are read from")
    where.set_defaults(handler=_path)


def main(args: argparse.Namespace) -> int:
    """``slowcheck schemas`` without an action."""
    raise ConfigError("schemas: name an action: list, show, validate or path (see slowcheck schemas --help)")


def _list(_: argparse.Namespace) -> int:
    schemas = schema_set()
    width = max(map(len, KINDS))
    for kind in KINDS:
        print(f"{kind:<{width}}  {schemas.document(kind).get('title', '')}")
    return 0


def _show(args: argparse.Namespace) -> int:
    schemas = schema_set()
    document = schemas.bundle(args.kind) if args.bundle else schemas.document(args.kind)
    print(json.dumps(document, indent=2, ensure_ascii=False))
    return 0


def _path(_: argparse.Namespace) -> int:
    print(schema_set().directory)
    return 0


def _validate(args: argparse.Namespace) -> int:
    schemas = schema_set()
    schemas.document(args.kind)  # an unknown kind is a usage error before any file is read
    tally = _Tally(args.kind)
    for name in args.files:
        if name.endswith(".jsonl"):
            _validate_lines(name, schemas, tally)
        else:
            label, payload = _read_document(name)
            tally.judge(label, schemas.errors(args.kind, payload), listed=True)
    if tally.hidden:
        print(f"... and {tally.hidden} more invalid")
    if tally.total > 1:
        print(f"{tally.total - tally.invalid} valid, {tally.invalid} invalid")
    return 1 if tally.invalid else 0


# Kinds whose custom_id must be unique: within one input file, and across a batch's output and error files.
_UNIQUE_PER_FILE = {"batch-request-line"}
_UNIQUE_ACROSS_FILES = {"batch-output-line"}
_LISTED = 50
"""Invalid lines described in full; past this they are only counted (an input file can have a million)."""


class _Tally:
    def __init__(self, kind: str) -> None:
        self.kind = kind
        self.total = self.invalid = self.hidden = 0
        self.custom_ids: dict[str, str] = {}

    def judge(self, label: str, errors: list[Any], *, listed: bool = False) -> None:
        self.total += 1
        if not errors:
            if listed:
                print(f"{label}: valid {self.kind}")
            return
        self.invalid += 1
        if self.invalid > _LISTED:
            self.hidden += 1
            return
        print(f"{label}: invalid {self.kind}")
        for error in errors:
            print(f"  {error}")

    def unique(self, label: str, payload: object) -> list[str]:
        """A second line with a custom_id already seen is an error of its own (OpenAI fails the whole file)."""
        custom_id = payload.get("custom_id") if isinstance(payload, dict) else None
        if not isinstance(custom_id, str) or self.kind not in _UNIQUE_PER_FILE | _UNIQUE_ACROSS_FILES:
            return []
        first = self.custom_ids.setdefault(custom_id, label)
        return [] if first == label else [f"$.custom_id: {custom_id!r} is already used at {first}"]


def _validate_lines(name: str, schemas: SchemaSet, tally: _Tally) -> None:
    """A JSON Lines file, read a line at a time: invalid lines are listed with their numbers, valid ones counted."""
    if tally.kind in _UNIQUE_PER_FILE:
        tally.custom_ids = {}
    label = name
    try:
        with open(name, encoding="utf-8") as lines:
            for number, line in enumerate(lines, 1):
                if not line.strip():
                    continue
                where = f"{label}:{number}"
                try:
                    payload = _json.loads(line)
                except ValueError as exc:
                    tally.judge(where, [f"not JSON: {str(exc).splitlines()[0][:120]}"])
                    continue
                tally.judge(where, [*schemas.errors(tally.kind, payload), *tally.unique(where, payload)])
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read {label}: {getattr(exc, 'strerror', None) or exc}") from None


def _read_document(name: str) -> tuple[str, object]:
    label = "<stdin>" if name == "-" else name
    try:
        text = sys.stdin.read() if name == "-" else Path(name).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read {label}: {getattr(exc, 'strerror', None) or exc}") from None
    try:
        return label, json.loads(text)
    except json.JSONDecodeError as exc:
        raise ConfigError(f"{label} is not JSON: {exc.msg} at line {exc.lineno} column {exc.colno}") from None
