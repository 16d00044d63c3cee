"""``slowcheck report``: work with written report folders (``compare OLD NEW``)."""

from __future__ import annotations

import argparse
from pathlib import Path

from slowcheck.errors import ConfigError
from slowcheck.report.compare import compare, format_changes

__all__ = ["DESCRIPTION", "HELP", "add_arguments", "main"]

HELP = "work with written reports"
DESCRIPTION = "Work with report folders that runs wrote."
DEFAULT_TOLERANCE = 10.0


def add_arguments(parser: argparse.ArgumentParser) -> None:
    actions = parser.add_subparsers(title="actions", metavar="ACTION")
    compared = actions.add_parser(
        "compare",
        help="what got worse from OLD to NEW (exit 1 if anything did)",
        description="Compare two report folders: figures of summary.json that moved the wrong way by more than "
        "the tolerance, and rules of results.json that held before and are violated now.",
    )
    compared.add_argument("old", type=Path, metavar="OLD_DIR")
    compared.add_argument("new", type=Path, metavar="NEW_DIR")
    compared.add_argument("--tolerance", type=float, default=DEFAULT_TOLERANCE, metavar="PCT",
                          help="relative change ignored, in percent (default: %(default)g)")  # fmt: skip
    compared.set_defaults(handler=_compare)


def main(args: argparse.Namespace) -> int:
    """``slowcheck report`` without an action."""
    raise ConfigError("report: name an action: compare (see slowcheck report --help)")


def _compare(args: argparse.Namespace) -> int:
    changes = compare(args.old, args.new, tolerance=args.tolerance)
    for line in format_changes(changes):
        print(line)
    return 1 if any(c.worse for c in changes) else 0
