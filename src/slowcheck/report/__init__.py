"""Report folders: where a run writes (``reports/<UTC timestamp>[-what]/``), and comparing two of them."""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

__all__ = ["new_report_dir"]


def new_report_dir(what: str = "") -> Path:
    """The default ``--report-dir`` of a run starting now; ``what`` names the command when it is not the main job."""
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    return Path("reports") / (f"{stamp}-{what}" if what else stamp)
