"""The main job's ``index.html``: the verdict first, then the rules, the load runs, the SDKs, the settings."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from slowcheck.load.outcome import judge
from slowcheck.templates import environment

__all__ = ["write_page"]

_ORDER = {"violated": 0, "not run": 1, "deviation": 2, "skipped": 3, "held": 4}


def write_page(path: Path, summary: dict[str, Any], *, results_path: Path) -> None:
    from slowcheck.load.plots import figures  # matplotlib takes a third of a second to import: only for a page

    rules = json.loads(results_path.read_text(encoding="utf-8"))["rules"]
    rules.sort(key=lambda r: _ORDER.get(r["outcome"], 9))
    loads = [
        {
            "name": name,
            "load": load,
            "figures": figures(load),
            "breached": [t for t in load["thresholds"] if not t["passed"]],
            "judged": judge(load),
        }
        for name, load in summary["load"].items()
    ]
    page = (
        environment().get_template("run.html.j2").render(summary=summary, rules=rules, loads=loads, sdk=summary["sdk"])
    )
    path.write_text(page, encoding="utf-8")
