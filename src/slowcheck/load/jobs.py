"""The ``jobs`` scenario's arithmetic: judging a finished job's record, and the ``jobs`` figures of a journal.

Per job, from the records the API gives (server clock) and the harness's own times (client clock):

- accept: submission sent -> ack received;
- queue: ``created`` (the ack's) -> ``dispatchedAt``;
- run: ``dispatchedAt`` -> ``finishedAt``;
- e2e: ``created`` -> ``finishedAt``;
- notice: ``finishedAt`` -> the harness learning it (a poll or a webhook).

Headline figures count the jobs planned inside the measured window (after ``--warmup``, before the last
``--cooldown`` seconds of the plan). Throughput and goodput are per second of the time the measured jobs took
finishing: from the first one's ``finishedAt`` to the last one's (a job's own latency is not a second of service,
so a run's long tail does not dilute the rate).
"""

from __future__ import annotations

import math
import random
import re
from array import array
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from slowcheck.errors import ConfigError
from slowcheck.load import journal
from slowcheck.load.mix import Job, nonces_in
from slowcheck.load.summary import ranked
from slowcheck.timestamps import epoch_seconds

__all__ = ["METRICS", "QUANTILES", "Slo", "Window", "done_row", "judge", "parse_slo", "skeleton", "summarize"]

METRICS = ("accept", "queue", "run", "e2e", "notice")
QUANTILES = (("p50", 50.0), ("p90", 90.0), ("p95", 95.0), ("p99", 99.0), ("p999", 99.9))
_SLO = re.compile(r"^\s*(accept|queue|run|e2e|notice)_s\s*(<=|<)\s*([0-9.eE+-]+)\s*$")
_EXPIRED = re.compile(r"expire", re.IGNORECASE)
_EXAMPLES = 5
_TIMELINE_JOBS = 200
_CDF_POINTS = 100


@dataclass(frozen=True, slots=True)
class Slo:
    expr: str
    metric: str
    op: str
    bound: float

    def met(self, value: float) -> bool:
        return value <= self.bound if self.op == "<=" else value < self.bound


def parse_slo(text: str) -> Slo:
    """``--slo``: ``e2e_s<=600``, ``queue_s<120`` (any of accept, queue, run, e2e, notice)."""
    match = _SLO.match(str(text))
    try:
        bound = float(match.group(3)) if match else math.nan
    except ValueError:
        bound = math.nan
    if match is None or not (bound >= 0 and math.isfinite(bound)):
        raise ConfigError(f"--slo: expected METRIC_s<=SECONDS with METRIC one of {', '.join(METRICS)}, got {text!r}")
    return Slo(f"{match.group(1)}_s{match.group(2)}{match.group(3)}", match.group(1), match.group(2), bound)


@dataclass(frozen=True, slots=True)
class Window:
    """What the headline figures count: arrivals planned from ``start + warmup`` to ``end - cooldown``."""

    start: float
    end: float
    warmup: float = 0.0
    cooldown: float = 0.0

    def holds(self, planned: float) -> bool:
        return self.start + self.warmup <= planned <= self.end - self.cooldown


# -- one job ----------------------------------------------------------------------------------------------


def judge(job: Job, generation_id: str, record: dict[str, Any]) -> tuple[list[str], str | None]:
    """What in a terminal record does not belong to its job, and the canary's outcome (None: not a canary)."""
    problems: list[str] = []
    stored = record.get("request")
    stored = stored if isinstance(stored, dict) else {}
    if any(stored.get(k) != v for k, v in job.body.items() if k != "metadata"):
        problems.append("request")
    metadata = stored.get("metadata")
    if not isinstance(metadata, dict) or metadata.get("custom_id") != job.custom_id:
        problems.append("custom_id")
    if record.get("id") not in (None, generation_id):
        problems.append("record_id")
    response = record.get("response")
    if record.get("state") == "Success" and isinstance(response, dict):
        if "id" in response and response["id"] != generation_id:
            problems.append("response_id")
        found = nonces_in(_answer_text(response))
        if job.nonce is None:
            if found:
                problems.append("cross_wired")
            return problems, None
        if found and all(n == job.nonce for n in found):
            return problems, "correct"
        return problems, "mismatched" if found else "unanswered"
    return problems, None if job.nonce is None else "unanswered"


def _answer_text(response: dict[str, Any]) -> str:
    choices = response.get("choices")
    if not isinstance(choices, list) or not choices or not isinstance(choices[0], dict):
        return ""
    choice = choices[0]
    message = choice.get("message")
    text = message.get("content") if isinstance(message, dict) else choice.get("text")
    return text if isinstance(text, str) else ""


def done_row(job: Job, generation_id: str, record: dict[str, Any], seen: float, polls: int) -> list[Any]:
    """The journal's row of a job seen terminal."""
    problems, canary = judge(job, generation_id, record)
    state = str(record.get("state"))
    if state == "Failed" and _EXPIRED.search(str(record.get("stateMessage") or "")):
        state = "Expired"
    response = record.get("response")
    usage = response.get("usage") if isinstance(response, dict) else None
    tokens = usage.get("completion_tokens") if isinstance(usage, dict) else None
    prompt = usage.get("prompt_tokens") if isinstance(usage, dict) else None
    return [
        "done", job.index, generation_id, seen, state, epoch_seconds(record.get("dispatchedAt")),
        epoch_seconds(record.get("finishedAt")), tokens if isinstance(tokens, int) else None, polls, problems, canary,
        prompt if isinstance(prompt, int) else None, job.body.get("model"),
    ]  # fmt: skip


# -- the figures ------------------------------------------------------------------------------------------


def skeleton(slos: Sequence[Slo] = ()) -> dict[str, Any]:
    """The ``jobs`` key of a run that did nothing: every path a threshold may name."""
    return _figures(_JournalTally(), Window(0.0, 0.0), slos, slice_seconds=10.0)


def summarize(
    folder: Path, slos: Sequence[Slo] = (), *, warmup: float = 0.0, cooldown: float = 0.0, slice_seconds: float = 10.0
) -> dict[str, Any]:
    """The ``jobs`` and ``submit`` keys of ``summary.json``, read from the journal in ``folder``.

    Two passes over the journal: the first finds the plan's first and last arrival (the measured window), the
    second tallies. Nothing per job is kept but a few floats.
    """
    start, end = math.inf, -math.inf
    for row in journal.rows(folder):
        if row[0] in journal.ARRIVAL_ROWS:
            start, end = min(start, row[2]), max(end, row[2])
    window = Window(start, end, warmup, cooldown) if start <= end else Window(0.0, 0.0, warmup, cooldown)
    tally = _JournalTally()
    for row in journal.rows(folder):
        tally.add(row, window, slos)
    return {"jobs": _figures(tally, window, slos, slice_seconds=slice_seconds), "submit": _submit(tally)}


def _submit(tally: _JournalTally) -> dict[str, Any]:
    """The ``submit`` key as the other scenarios have it, from the journal's rows."""
    statuses = tally.statuses
    ok = sum(n for status, n in statuses.items() if 200 <= status < 300)
    limited = statuses.get(429, 0)
    count = sum(statuses.values())
    accept = sorted(tally.accept_all)
    span = tally.last_ack - tally.first_sent
    return {
        "count": count,
        "ok": ok,
        "rate_limited": limited,
        "errors": count - ok - limited,
        "dropped": tally.dropped,
        "unfinished": tally.unanswered,
        "throughput_per_s": _round(ok / span) if span > 0 and math.isfinite(span) else 0.0,
        "latency_ms": {
            "p50": _round(_ms(ranked(accept, 50))),
            "p95": _round(_ms(ranked(accept, 95))),
            "p99": _round(_ms(ranked(accept, 99))),
            "max": _round(_ms(accept[-1] if accept else None)),
        },
        "statuses": {str(k): v for k, v in sorted(statuses.items())},
        "error_messages": {},
    }


def _ms(seconds: float | None) -> float | None:
    return None if seconds is None else seconds * 1000


class _JournalTally:
    """Everything the figures need, in arrays of floats (8 bytes a job), not rows kept in memory."""

    def __init__(self) -> None:
        self.planned = array("d")
        self.created = array("d")
        self.latency: dict[str, array[float]] = {m: array("d") for m in METRICS}
        self.all_means: dict[str, list[float]] = {m: [0.0, 0.0] for m in ("queue", "run", "e2e")}
        self.lag_ms = array("d")
        self.accept_all = array("d")
        self.first_sent, self.last_ack = math.inf, -math.inf
        self.statuses: Counter[int] = Counter()
        self.accepted = self.measured_accepted = self.dropped = self.unanswered = 0
        self.states: Counter[str] = Counter()
        self.good = self.measured_success = self.tokens = 0
        self.first_finished, self.last_finished = math.inf, -math.inf
        self.slices: Counter[int] = Counter()
        self.slice_tokens: Counter[int] = Counter()
        self.canaries: Counter[str] = Counter()
        self.problems: Counter[str] = Counter()
        self.mismatched = 0
        self.examples: list[dict[str, Any]] = []
        self.timeline: list[list[float]] = []
        self._sampler = random.Random(0)
        self._eligible = 0
        self.done = 0

    def add(self, row: list[Any], window: Window, slos: Sequence[Slo]) -> None:
        kind = row[0]
        if kind == "sent":
            self._sent(row, window)
        elif kind == "done":
            self._done(row, window, slos)
        elif kind == "drop":
            self.dropped += 1
        elif kind == "unanswered":
            self.unanswered += 1

    def _sent(self, row: list[Any], window: Window) -> None:
        _, index, planned, sent, acked, status, generation_id, created, _kind, *rest = row
        canary = bool(rest[0]) if rest else False
        _put(self.planned, index, planned)
        _put(self.created, index, created if created is not None else sent)
        self.statuses[int(status)] += 1
        self.lag_ms.append(max(0.0, (sent - planned) * 1000))
        self.first_sent, self.last_ack = min(self.first_sent, sent), max(self.last_ack, acked)
        if generation_id is None:
            return
        self.accepted += 1
        self.accept_all.append(max(0.0, acked - sent))
        if canary:
            self.canaries["sent"] += 1
        if window.holds(planned):
            self.measured_accepted += 1
            self.latency["accept"].append(max(0.0, acked - sent))

    def _done(self, row: list[Any], window: Window, slos: Sequence[Slo]) -> None:
        _, index, generation_id, seen, state, dispatched, finished, tokens, _polls, problems, canary = row[:11]
        self.done += 1
        self.states[state] += 1
        if canary is not None:
            self.canaries[canary] += 1
        if problems or canary == "mismatched":
            self.mismatched += 1
            self.problems.update(problems or ["canary"])
            if len(self.examples) < _EXAMPLES:
                self.examples.append({"id": generation_id, "index": index, "problems": problems, "canary": canary})
        created = self.created[index] if index < len(self.created) else math.nan
        planned = self.planned[index] if index < len(self.planned) else math.nan
        times = _times(created, dispatched, finished, seen)
        for name in ("queue", "run", "e2e"):
            if name in times:
                self.all_means[name][0] += times[name]
                self.all_means[name][1] += 1
        if finished is not None and state == "Success":
            self.slices[int(finished // 1)] += 1  # whole seconds; sliced later
            self.slice_tokens[int(finished // 1)] += tokens or 0
        if not window.holds(planned):
            return
        for name, value in times.items():
            self.latency[name].append(value)
        if state != "Success" or finished is None:
            return
        self.measured_success += 1
        self.tokens += tokens or 0
        self.first_finished = min(self.first_finished, finished)
        self.last_finished = max(self.last_finished, finished)
        if all(s.met(times[s.metric]) for s in slos if s.metric in times) and all(s.metric in times for s in slos):
            self.good += 1
        # A reservoir: every measured job is equally likely to be drawn, whatever the run's length.
        self._eligible += 1
        sample = [index, created, dispatched if dispatched is not None else finished, finished, seen]
        if len(self.timeline) < _TIMELINE_JOBS:
            self.timeline.append(sample)
        else:
            slot = self._sampler.randrange(self._eligible)
            if slot < _TIMELINE_JOBS:
                self.timeline[slot] = sample


def _times(created: float, dispatched: float | None, finished: float | None, seen: float) -> dict[str, float]:
    times: dict[str, float] = {}
    if finished is not None and not math.isnan(created):
        times["e2e"] = max(0.0, finished - created)
        times["notice"] = max(0.0, seen - finished)
        if dispatched is not None:
            times["queue"] = max(0.0, dispatched - created)
            times["run"] = max(0.0, finished - dispatched)
    return times


def _put(values: array[Any], index: int, value: float) -> None:
    if index >= len(values):
        values.extend([math.nan] * (index + 1 - len(values)))
    values[index] = value


def _figures(tally: _JournalTally, window: Window, slos: Sequence[Slo], *, slice_seconds: float) -> dict[str, Any]:
    span = tally.last_finished - tally.first_finished
    per_s = span if span > 0 and math.isfinite(span) else None
    # n finishing times span n - 1 intervals.
    jobs_per_s = (tally.measured_success - 1) / per_s if per_s else None
    states = tally.states
    terminal = sum(states.values())
    e2e = sorted(tally.latency["e2e"])
    good_per_s = jobs_per_s * tally.good / tally.measured_success if jobs_per_s is not None and slos else None
    return {
        "accepted": tally.accepted,
        "completed": states.get("Success", 0),
        "failed": states.get("Failed", 0),
        "expired": states.get("Expired", 0),
        "open": max(0, tally.accepted - terminal),
        "shares": {
            name: _round(count / tally.accepted, 4) if tally.accepted else None
            for name, count in (
                ("completed", states.get("Success", 0)),
                ("failed", states.get("Failed", 0)),
                ("expired", states.get("Expired", 0)),
                ("open", max(0, tally.accepted - terminal)),
            )
        },
        "measured": {
            "accepted": tally.measured_accepted,
            "completed": tally.measured_success,
            "warmup_s": window.warmup,
            "cooldown_s": window.cooldown,
        },  # fmt: skip
        "latency_s": {m: _quantiles(sorted(tally.latency[m])) for m in METRICS},
        "mean_s": {m: _round(total / count) if count else None for m, (total, count) in tally.all_means.items()},
        "throughput": {
            "jobs_per_s": _round(jobs_per_s),
            "output_tokens": tally.tokens,
            "output_tokens_per_s": _round(jobs_per_s * tally.tokens / tally.measured_success) if jobs_per_s else None,
        },
        "goodput": {
            "slo": [s.expr for s in slos],
            "jobs_per_s": _round(good_per_s),
            "share": _round(tally.good / tally.measured_accepted, 4) if slos and tally.measured_accepted else None,
        },
        "canaries": {
            "sent": tally.canaries.get("sent", 0),
            "correct": tally.canaries.get("correct", 0),
            "mismatched": tally.canaries.get("mismatched", 0),
            "unanswered": tally.canaries.get("unanswered", 0),
        },
        "correctness": {
            "checked": tally.done,
            "mismatched": tally.mismatched,
            "problems": dict(tally.problems),
            "examples": tally.examples,
        },
        "dispatch": {
            "lag_ms": {k: v for k, v in _quantiles(sorted(tally.lag_ms)).items() if k in ("p50", "p99")},
            "dropped": tally.dropped,
        },
        "slices": _slices(tally, window, slice_seconds),
        "cdf": _cdf(e2e),
        "timeline": _timeline(tally, window),
    }


def _quantiles(ordered: Sequence[float]) -> dict[str, float | None]:
    return {name: _round(ranked(ordered, q)) for name, q in QUANTILES}


def _slices(tally: _JournalTally, window: Window, seconds: float) -> list[dict[str, Any]]:
    """Completions and output tokens per second in each ``--slice`` of the run, by ``finishedAt``."""
    if not tally.slices:
        return []
    start = window.start if window.start else min(tally.slices)
    width = max(1.0, seconds)
    counts: Counter[int] = Counter()
    tokens: Counter[int] = Counter()
    for second, count in tally.slices.items():
        slot = int((second - start) // width)
        counts[slot] += count
        tokens[slot] += tally.slice_tokens[second]
    first, last = min(counts), max(counts)
    return [
        {
            "t": _round(slot * width),
            "jobs_per_s": _round(counts[slot] / width),
            "output_tokens_per_s": _round(tokens[slot] / width),
        }  # fmt: skip
        for slot in range(first, last + 1)
    ]


def _cdf(ordered: Sequence[float]) -> list[list[float]]:
    """``[seconds, share]`` points of the e2e distribution."""
    if not ordered:
        return []
    steps = min(_CDF_POINTS, len(ordered))
    return [[_round(ranked(ordered, 100 * i / steps) or 0.0) or 0.0, round(i / steps, 4)] for i in range(steps + 1)]


def _timeline(tally: _JournalTally, window: Window) -> list[dict[str, float | None]]:
    """Sampled jobs' phases (queue, run, notice) from the window's start."""
    start = window.start
    return [
        {
            "job": index,
            "created": _round(created - start),
            "dispatched": _round(dispatched - start),
            "finished": _round(finished - start),
            "seen": _round(seen - start),
        }
        for index, created, dispatched, finished, seen in sorted(tally.timeline)
    ]


def _round(value: float | None, digits: int = 3) -> float | None:
    return None if value is None or not math.isfinite(value) else round(value, digits)
