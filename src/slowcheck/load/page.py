"""``index.html`` of a load run: the verdict, the headline figures, the plots, then the detail tables."""

from __future__ import annotations

from typing import Any

from slowcheck.load.outcome import judge
from slowcheck.templates import environment

__all__ = ["render"]


def render(summary: dict[str, Any]) -> str:
    from slowcheck.load.plots import figures  # matplotlib takes a third of a second to import: only for a page

    breached = [t for t in summary["thresholds"] if not t["passed"]]
    template = "load_batch.html.j2" if summary["scenario"] == "batch" else "load.html.j2"
    judged = judge(summary)
    return (
        environment()
        .get_template(template)
        .render(summary=summary, load=summary, figures=figures(summary), breached=breached, judged=judged)
    )
