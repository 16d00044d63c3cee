"""The terminal's account of the matrix: a line as each version finishes, then the table (the command prints
them; ``slowcheck run`` indents them under its phase)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from slowcheck.sdk.grading import NOT_RUN
from slowcheck.sdk.matrix import Row

__all__ = ["finished", "mark", "table"]

_MARKS = {"passed": "ok", "n/a": "n/a", "deviation": "dev", NOT_RUN: NOT_RUN}


def finished(row: Row) -> str:
    """One version done: how long it took, whether its environment was installed, or why it did not run."""
    head = _head(row.language, row.version or row.requested)
    if row.error:
        return f"{head}: not run ({row.seconds:.1f} s)"
    return f"{head}: done in {row.seconds:.1f} s{' (installed)' if row.cold else ''}"


def mark(cell: Mapping[str, Any]) -> str:
    if cell["status"] == "failed":
        return "FAIL" if cell["outcome"] == "violated" else "hazard"
    return _MARKS.get(cell["status"], str(cell["status"]))


def table(document: Mapping[str, Any]) -> list[str]:
    """Checks down, versions across; then one line per cell that is not ok."""
    rows = document["rows"]
    heads = [_head(r["language"], r["version"] or r["requested"]) for r in rows]
    width = max(len(c["id"]) for c in document["checks"])
    columns = [max(len(h), 6) for h in heads]
    lines = ["  ".join([" " * width, *(h.ljust(w) for h, w in zip(heads, columns, strict=True))])]
    for check in document["checks"]:
        marks = [mark(r["cells"][check["id"]]).ljust(w) for r, w in zip(rows, columns, strict=True)]
        lines.append("  ".join([check["id"].ljust(width), *marks]).rstrip())
    for row, head in zip(rows, heads, strict=True):
        if row["error"]:
            lines.append(f"  {head}: not run: {row['error']}")
            continue
        for check in document["checks"]:
            cell = row["cells"][check["id"]]
            if cell["status"] in ("failed", NOT_RUN):
                lines.append(f"  {head} {check['id']}: {mark(cell)}: {cell['detail']}")
    return lines


def _head(language: str, version: str) -> str:
    return f"{'py' if language == 'python' else 'node'} {version}"
