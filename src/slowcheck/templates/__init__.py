"""The HTML reports' templates (jinja2, autoescaped); pages are self-contained and open from disk."""

from __future__ import annotations

import functools
import json
from typing import Any

import jinja2

from slowcheck.prices import describe

__all__ = ["environment"]


@functools.cache
def environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("slowcheck", "templates"),
        autoescape=jinja2.select_autoescape(["html", "j2"]),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["figure"] = _figure
    env.filters["spend"] = describe  # a run's spend in the console's words
    env.globals["example"] = _example
    return env


def _example(value: Any) -> str:
    """A failing request or response, readable and bounded."""
    text = json.dumps(value, indent=2, ensure_ascii=False, default=str)
    return text if len(text) < 4000 else text[:4000] + "\n…"


def _figure(value: Any, unit: str = "") -> str:
    """A number as a person reads it: ``-`` for nothing measured, thousands separated, trailing zeros gone."""
    if value is None:
        return "–"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        text = f"{value:,.3f}".rstrip("0").rstrip(".") if abs(value) < 1000 else f"{value:,.0f}"
    else:
        text = f"{value:,}" if isinstance(value, int) else str(value)
    return f"{text}{unit}"
