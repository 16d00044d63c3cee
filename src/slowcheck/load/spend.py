"""What a jobs run cost, read from its journal (``summary.json``'s ``spend``), and the spend each locust process
keeps while it submits (``--max-spend``: an arrival whose worst case would pass the process's share of the limit
is not sent, and its journal row is ``["over", index, planned]``).

Each accepted submission's worst case is on its ``sent`` row (index 10), each terminal record's usage on its
``done`` row (completion tokens at 7, prompt tokens at 11, the model at 12): the spend is the usage read, priced
by the table (:mod:`slowcheck.prices`), and at most that with the worst case of the jobs still open."""

from __future__ import annotations

import math
from array import array
from pathlib import Path
from typing import Any

from slowcheck.load import journal
from slowcheck.prices import Spend, load_table

__all__ = ["SPEND_THRESHOLD", "figures", "meter", "skeleton"]

SPEND_THRESHOLD = "spend.stopped==0"
"""A jobs run with ``--max-spend`` breaches once the limit kept an arrival from being sent."""


def meter(prices: Path | None, max_spend: float | None, processes: int) -> Spend:
    """A process's spend: the table, and its even share of ``--max-spend``."""
    limit = None if max_spend is None else max_spend / max(1, processes)
    return Spend(load_table(prices), limit)


def skeleton() -> dict[str, Any]:
    """The ``spend`` key of a run that sent nothing: what a threshold may name."""
    return {
        "estimate_usd": 0.0,
        "at_most_usd": 0.0,
        "prompt_tokens": 0,
        "completion_tokens": 0,
        "submissions": 0,
        "unread": 0,
        "limit_usd": None,
        "stopped": 0,
        "prices": "",
    }


def figures(folder: Path, prices: Path | None, max_spend: float | None) -> dict[str, Any]:
    """The ``spend`` key, in one streamed pass over the journal (a float per job, no rows kept)."""
    table = load_table(prices)
    worst = array("d")
    """Per arrival index: the worst case of an accepted submission (NaN: none, or read since)."""
    found = skeleton() | {"limit_usd": max_spend, "prices": table.source}
    usage = 0.0
    for row in journal.rows(folder):
        kind = row[0]
        if kind == "sent" and row[6]:
            found["submissions"] += 1
            _put(worst, row[1], _usd(row, 10))
        elif kind == "done":
            if row[1] < len(worst):
                worst[row[1]] = math.nan
            completion = row[7] if isinstance(row[7], int) else 0
            prompt = row[11] if len(row) > 11 and isinstance(row[11], int) else 0
            found["prompt_tokens"] += prompt
            found["completion_tokens"] += completion
            usage += table.usd(row[12] if len(row) > 12 else None, prompt, completion)
        elif kind == "unanswered":  # perhaps taken and billed: its worst case stays in the bound
            _put(worst, row[1], _usd(row, 3))
        elif kind == "over":
            found["stopped"] += 1
    open_worst = [w for w in worst if not math.isnan(w)]
    found["unread"] = len(open_worst)
    found["estimate_usd"] = round(usage, 6)
    found["at_most_usd"] = round(usage + sum(open_worst), 6)
    return found


def _usd(row: list[Any], at: int) -> float:
    """A row's worst case in USD (0 where an older journal has none)."""
    return float(row[at]) if len(row) > at and row[at] is not None else 0.0


def _put(values: array[Any], index: int, value: float) -> None:
    if index >= len(values):
        values.extend([math.nan] * (index + 1 - len(values)))
    values[index] = value
