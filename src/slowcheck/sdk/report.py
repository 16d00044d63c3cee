"""``sdk-matrix.json`` and its page: a run's rows with the checks they answer, the counts and the verdict."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from slowcheck.sdk.checks import CHECKS
from slowcheck.sdk.grading import counts, judge

__all__ = ["FILE", "document", "write"]

FILE = "sdk-matrix.json"


def document(rows: Sequence[Mapping[str, Any]], *, target: str, wall: float) -> dict[str, Any]:
    """The matrix as ``sdk-matrix.json`` holds it: ``rows`` as ``Row.to_json`` gives them."""
    judged = judge(rows)
    return {
        "target": target,
        "wall_s": round(wall, 2),
        "verdict": judged.status,
        "reasons": list(judged.reasons),
        "counts": counts(rows),
        "checks": [{"id": c.id, "title": c.title, "party": c.party} for c in CHECKS],
        "rows": list(rows),
    }


def write(folder: Path, matrix: Mapping[str, Any], *, page: bool = True) -> None:
    """``sdk-matrix.json``, and with ``page`` the matrix's own ``index.html`` (``slowcheck run`` has a page of its
    own, which includes the same section)."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / FILE).write_text(json.dumps(matrix, indent=2) + "\n", encoding="utf-8")
    if page:
        from slowcheck.templates import environment

        html = environment().get_template("sdk.html.j2").render(sdk=matrix)
        (folder / "index.html").write_text(html, encoding="utf-8")
