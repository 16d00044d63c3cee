"""Report folders: where a run writes (``reports/<UTC timestamp>[-what]/``), and comparing two of them."""

from __future__ import annotations

import argparse
from datetime import datetime, timezone
from pathlib import Path

__all__ = ["add_report_dir", "new_report_dir"]


def new_report_dir(what: str = "") -> Path:
    """The default ``--report-dir`` of a run starting now; ``what`` names the command when it is not the main job."""
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    return Path("reports") / (f"{stamp}-{what}" if what else stamp)


def add_report_dir(parser: argparse.ArgumentParser, what: str = "") -> None:
    """``--report-dir``, with the default :func:`new_report_dir` gives (``what`` as the help shows it), and
    ``--github`` (``slowcheck.github``): every command that writes a report judges something."""
    default = f"reports/<timestamp>{'-' + what if what else ''}/"
    parser.add_argument("--report-dir", type=Path, metavar="DIR", help=f"where the report goes (default: {default})")
    parser.add_argument(
        "--github",
        action="store_true",
        help="GitHub Actions: append a summary to $GITHUB_STEP_SUMMARY and print an ::error line per violation, "
        "a ::warning per deviation (default: when GITHUB_ACTIONS=true)",
    )
