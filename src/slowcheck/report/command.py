"""``slowcheck report``: work with written report folders (``compare OLD NEW``, ``compare --old ... --new ...``)."""

from __future__ import annotations

import argparse
from pathlib import Path

from slowcheck.errors import ConfigError
from slowcheck.report.compare import Tolerance, compare_sides

__all__ = ["DESCRIPTION", "HELP", "add_arguments", "main"]

HELP = "work with written reports"
DESCRIPTION = "Work with report folders that runs wrote."
DEFAULT_TOLERANCE = 10.0


def add_arguments(parser: argparse.ArgumentParser) -> None:
    actions = parser.add_subparsers(title="actions", metavar="ACTION")
    compared = actions.add_parser(
        "compare",
        help="what got worse from OLD to NEW (exit 1 if anything did)",
        description="Compare report folders: figures of summary.json that moved the wrong way, and rules of "
        "results.json that held before and are violated now. Each side is one folder (OLD_DIR NEW_DIR), or "
        "several runs: a --repeat folder (its run-*/ folders) or several folders after --old and --new. With "
        "several runs a figure is compared by its median, and a change counts only beyond the old side's spread "
        "(max - min of its runs) and the tolerance; one run against one run knows no spread, and the tolerance "
        "alone judges. Exit 1 if anything got worse, 0 if not, 2 for bad input.",
    )
    compared.add_argument("old", type=Path, nargs="?", metavar="OLD_DIR", help="the earlier run (or --repeat folder)")
    compared.add_argument("new", type=Path, nargs="?", metavar="NEW_DIR", help="the later run (or --repeat folder)")
    compared.add_argument("--old", dest="old_runs", type=Path, nargs="+", default=[], metavar="DIR",
                          help="instead of OLD_DIR: the earlier side's runs, one folder each")  # fmt: skip
    compared.add_argument("--new", dest="new_runs", type=Path, nargs="+", default=[], metavar="DIR",
                          help="instead of NEW_DIR: the later side's runs, one folder each")  # fmt: skip
    compared.add_argument(
        "--tolerance", action="append", default=[], metavar="[FIGURE=]PCT",
        help=f"relative change ignored, in percent of OLD (default: {DEFAULT_TOLERANCE:g}); FIGURE=PCT sets one "
        "figure's, e.g. jobs.latency_s.e2e.p99=25, and wins over the global one (repeatable)",
    )  # fmt: skip
    compared.set_defaults(handler=_compare)


def main(args: argparse.Namespace) -> int:
    """``slowcheck report`` without an action."""
    raise ConfigError("report: name an action: compare (see slowcheck report --help)")


def _compare(args: argparse.Namespace) -> int:
    positional = [p for p in (args.old, args.new) if p is not None]
    if positional and (args.old_runs or args.new_runs):
        raise ConfigError("report compare: give OLD_DIR NEW_DIR or --old DIR... --new DIR..., not both")
    if positional:
        if len(positional) != 2:
            raise ConfigError("report compare: give two folders, OLD_DIR NEW_DIR (or --old DIR... --new DIR...)")
        old, new = [positional[0]], [positional[1]]
    else:
        if not args.old_runs or not args.new_runs:
            raise ConfigError("report compare: give OLD_DIR NEW_DIR, or both --old DIR... and --new DIR...")
        old, new = args.old_runs, args.new_runs
    comparison = compare_sides(old, new, Tolerance.parse(args.tolerance, DEFAULT_TOLERANCE))
    for line in comparison.lines():
        print(line)
    return 1 if comparison.worse else 0
