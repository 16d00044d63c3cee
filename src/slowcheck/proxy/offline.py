"""Judging a recording offline: the proxy's checks over the exchanges of ``slowcheck proxy --record``, in the
order they happened, with the same report a live proxy writes."""

from __future__ import annotations

from pathlib import Path

from slowcheck.baseline import Baseline
from slowcheck.proxy import report
from slowcheck.proxy.judge import Judge
from slowcheck.proxy.recording import read
from slowcheck.verdict import Verdict

__all__ = ["judge_recording"]


def judge_recording(
    path: Path, report_dir: Path, *, fail_on: report.FailOn, baseline: Baseline | None = None
) -> tuple[Judge, Verdict]:
    """The judge after every exchange of the recording, and the verdict (the report is in ``report_dir``), what
    ``baseline`` accepts or lists as pending not counted."""
    header, exchanges = read(path)
    judge = Judge()
    first = last = None
    for exchange in exchanges:
        judge.judge(exchange)
        first = exchange.started if first is None else first
        last = exchange.ended
    duration = (last - first) if first is not None and last is not None else 0.0
    target = f"the recording {path.name} of {header.get('upstream', 'an unnamed upstream')}"
    return judge, report.write(report_dir, judge, target=target, duration=duration, fail_on=fail_on,
                               baseline=baseline)  # fmt: skip
