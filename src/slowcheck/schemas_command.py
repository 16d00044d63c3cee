"""``slowcheck schemas``: list the JSON Schemas, show one (bundled for other tools), validate payloads."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from slowcheck.errors import ConfigError
from slowcheck.schemas import KINDS, schema_set

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
        "against one schema. Exit 0 when every payload is valid, 1 when one is not, 2 when a file cannot be read.",
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
    payloads = [item for name in args.files for item in _read_payloads(name)]
    invalid = 0
    for label, payload in payloads:
        errors = schemas.errors(args.kind, payload)
        if errors:
            invalid += 1
            print(f"{label}: invalid {args.kind}")
            for error in errors:
                print(f"  {error}")
        else:
            print(f"{label}: valid {args.kind}")
    if len(payloads) > 1:
        print(f"{len(payloads) - invalid} valid, {invalid} invalid")
    return 1 if invalid else 0


def _read_payloads(name: str) -> list[tuple[str, object]]:
    label = "<stdin>" if name == "-" else name
    try:
        text = sys.stdin.read() if name == "-" else Path(name).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read {label}: {getattr(exc, 'strerror', None) or exc}") from None
    if name.endswith(".jsonl"):
        lines = [(f"{label}:{n}", line) for n, line in enumerate(text.splitlines(), 1) if line.strip()]
    else:
        lines = [(label, text)]
    payloads = []
    for where, chunk in lines:
        try:
            payloads.append((where, json.loads(chunk)))
        except json.JSONDecodeError as exc:
            raise ConfigError(f"{where} is not JSON: {exc.msg} at line {exc.lineno} column {exc.colno}") from None
    return payloads
