"""``slowcheck load batch``: how fast the Batch API takes a large file and works through it.

One batch, in this process (no locust: the load is one upload and one batch, not many users): the input file
is streamed from disk (the user's own with ``--input``, or ``--lines`` generated from the request schema),
then created and read until it ends. Measured: the upload (lines/s, MB/s), create to ``in_progress``, create
to ``completed`` (from the batch's own timestamps, and as seen), lines completed per second over time, and the
result files: every ``custom_id`` answered exactly once, or counted as an error.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx

from slowcheck import __version__, _json, api
from slowcheck.errors import ConfigError, SlowcheckError
from slowcheck.hints import hint_seconds
from slowcheck.live import Board, Feed, serve, write_live
from slowcheck.load import thresholds as threshold_rules
from slowcheck.network import Network, failure

__all__ = ["generated_file", "run", "skeleton"]

_LINE_S = 10.0
"""The live line's period while a batch runs."""

_TERMINAL = api.BATCH_TERMINAL
_STARTED = frozenset(api.BATCH_STATUSES[1:])
"""Every status after the first (``validating``): the batch has begun on its lines, or ended."""
_BODIES = 32
"""Distinct request bodies drawn from the schema; a generated file cycles through them (drawing each line
would spend minutes of hypothesis on a large file)."""


def _drawn_bodies(model: str) -> list[dict[str, Any]]:
    from hypothesis import HealthCheck, Phase, given, settings

    from slowcheck.strategies import as_clients_send, chat_requests

    found: list[dict[str, Any]] = []

    @given(body=chat_requests())
    @settings(max_examples=_BODIES, derandomize=True, database=None, deadline=None, phases=[Phase.generate],
              suppress_health_check=list(HealthCheck))  # fmt: skip
    def collect(body: dict[str, Any]) -> None:
        # Generated bodies, as clients write them, kept short: the load is the batch, not long generations.
        found.append(as_clients_send(body | {"model": model, "stream": False, "n": 1, "max_tokens": 16}))

    collect()
    return found[:_BODIES]


def generated_file(path: Path, lines: int, model: str) -> None:
    """``lines`` chat requests for ``/v1/chat/completions``, custom_ids ``line-1`` ... , written line by line."""
    bodies = itertools.cycle(_drawn_bodies(model))
    with path.open("wb") as out:
        for number in range(1, lines + 1):
            line = {
                "custom_id": f"line-{number}",
                "method": "POST",
                "url": api.BATCH_URL["chat"],
                "body": next(bodies),
            }
            out.write(_json.dumps(line) + b"\n")


def _census(path: Path) -> tuple[int, int, str]:
    """Requests, bytes and the endpoint of an input file (from its first line's url, else chat)."""
    count, endpoint = 0, api.BATCH_URL["chat"]
    try:
        with path.open("rb") as lines:
            for line in lines:
                if line.strip():
                    if count == 0:
                        first = _json.loads(line)
                        endpoint = first.get("url") if isinstance(first.get("url"), str) else endpoint
                    count += 1
        return count, path.stat().st_size, endpoint
    except (OSError, ValueError) as exc:
        raise ConfigError(f"--input {path}: cannot read it as JSON Lines: {exc}") from None


def skeleton() -> dict[str, Any]:
    """A summary with every key a batch run has, for --threshold to check its paths against."""
    return {"scenario": "batch", "target": "", "duration_s": None, "batch": _figures({}, [], 0, 0, None, None)}


def run(
    root: str,
    label: str,
    key: str,
    *,
    input_file: Path,
    poll_interval: float,
    timeout: float,
    thresholds: list[str],
    report_dir: Path,
    network: Network | None = None,
    metrics_port: str | None = None,
    progress: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Upload, create, read until the batch ends (or ``timeout`` s); the summary, written with its page. The
    Batch API is reached as ``network`` says (the environment's trust and proxies when None). With
    ``metrics_port``, the live figures are served while it runs: the lines offered and accepted, the batch's
    reads, its lines completed and failed, and those still in flight under the batch's status. Every few seconds
    they go to ``live.json`` in ``report_dir`` and their line to ``progress``."""
    checked = [threshold_rules.parse(expr, skeleton()) for expr in thresholds]
    lines, size, endpoint = _census(input_file)
    if lines == 0:
        raise ConfigError(f"--input {input_file}: no request in it")
    began = time.monotonic()
    with (
        _Live(metrics_port, report_dir, progress) as live,
        httpx.Client(base_url=root, timeout=600, **(network or Network()).httpx_options()) as client,
    ):
        client.headers["Authorization"] = f"Bearer {key}"  # beside --header's
        uploaded, refused, waited = _upload(client, input_file)
        upload_s = time.monotonic() - began - waited
        body = {"input_file_id": uploaded["id"], "endpoint": endpoint, "completion_window": "24h",
                "metadata": {"slowcheck": "load batch"}}  # fmt: skip
        created_at = time.monotonic()
        live.feed.offered(lines)
        batch = _call(client, "POST", api.BATCHES, json=body)
        live.feed.answered("submit", 200, accepted=lines)  # _call raised on anything but a batch
        live.read(batch)
        reads = [(0.0, batch)]
        while batch.get("status") not in _TERMINAL and time.monotonic() - created_at < timeout:
            answer = client.get(f"{api.BATCHES}/{batch['id']}")
            live.feed.answered("poll", answer.status_code)
            hint = hint_seconds(dict(answer.headers))
            batch = _checked_json(answer, "GET /v1/batches/{id}")
            live.read(batch)
            reads.append((time.monotonic() - created_at, batch))
            time.sleep(min(poll_interval, hint) if hint is not None else poll_interval)
        results = _answered(client, batch) if batch.get("status") in _TERMINAL else None
    upload = {"seconds": upload_s, "lines_per_s": lines / upload_s if upload_s else None,
              "mb_per_s": size / 1e6 / upload_s if upload_s else None}  # fmt: skip
    summary = {
        "scenario": "batch",
        "target": label,
        "duration_s": time.monotonic() - began,
        "slowcheck": __version__,
        "batch": _figures(batch, reads, lines, size, upload, results),
        "settings": {"input": str(input_file), "poll_interval_s": poll_interval, "timeout_s": timeout},
        "limits": _upload_limit(refused, waited),
    }
    summary["thresholds"] = threshold_rules.evaluate(checked, summary)
    report_dir.mkdir(parents=True, exist_ok=True)
    (report_dir / "summary.json").write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
    from slowcheck.load.page import render  # matplotlib loads only when a page is written

    (report_dir / "index.html").write_text(render(summary), encoding="utf-8")
    return summary


class _Live(contextlib.AbstractContextManager["_Live"]):
    """The batch's live figures: its lines as submissions and completions, served while it runs."""

    def __init__(self, address: str | None, folder: Path, progress: Callable[[str], None] | None) -> None:
        self.folder, self.progress = folder, progress
        self._shown = time.monotonic()
        self.feed, self.board = Feed(), Board()
        self.board.pull(self.feed)
        self.counts: dict[str, int] = {"completed": 0, "failed": 0}
        self.flying: dict[str, int] = {}
        self.feed.watch(lambda: self.flying)
        self._stop = serve(self.board, address)[1] if address is not None else None

    def __exit__(self, *_: object) -> None:
        write_live(self.folder, self.board, "batch")
        if self._stop is not None:
            self._stop()

    def read(self, batch: dict[str, Any]) -> None:
        """A read of the batch: the lines that ended since the last one, and those left under its status."""
        counts = batch.get("request_counts") or {}
        for name, state in (("completed", "Success"), ("failed", "Failed")):
            now = _count(counts, name)
            if now > self.counts[name]:
                self.feed.finished(state, queue_s=None, e2e_s=None, tokens=None, count=now - self.counts[name])
                self.counts[name] = now
        left = max(0, _count(counts, "total") - self.counts["completed"] - self.counts["failed"])
        self.flying = {str(batch.get("status")): left} if left else {}
        if time.monotonic() - self._shown >= _LINE_S:
            self._shown = time.monotonic()
            line = write_live(self.folder, self.board, "batch")["line"]
            if self.progress is not None:
                self.progress(line)


def _count(counts: dict[str, Any], name: str) -> int:
    value = counts.get(name)
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def _figures(
    batch: dict[str, Any],
    reads: list[tuple[float, dict[str, Any]]],
    lines: int,
    size: int,
    upload: dict[str, Any] | None,
    results: dict[str, Any] | None,
) -> dict[str, Any]:
    stamps = {k: batch.get(k) for k in ("created_at", "in_progress_at", "completed_at")}
    seen_running = next((t for t, b in reads if b.get("status") in _STARTED), None)
    seen_done = next((t for t, b in reads if b.get("status") in _TERMINAL), None)
    counts = batch.get("request_counts") or {}
    return {
        "id": batch.get("id"),
        "status": batch.get("status"),
        "lines": lines,
        "bytes": size,
        "upload": upload or {"seconds": None, "lines_per_s": None, "mb_per_s": None},
        "to_in_progress_s": _between(stamps["created_at"], stamps["in_progress_at"], seen_running),
        "to_completed_s": _between(stamps["created_at"], stamps["completed_at"], seen_done),
        "completed": counts.get("completed"),
        "failed": counts.get("failed"),
        "completed_per_s": _rate(reads),
        "answered": results or {"output_lines": None, "error_lines": None, "missing": None, "repeated": None},
        "errors": results["missing"] + results["repeated"] if results else None,
        "timeline": [
            {
                "t": round(t, 3),
                "completed": (b.get("request_counts") or {}).get("completed", 0),
                "status": b.get("status"),
            }
            for t, b in reads
        ],  # fmt: skip
    }


def _between(start: Any, end: Any, seen: float | None) -> float | None:
    """Seconds between two of the batch's own timestamps when they are 10 s or more apart (they are whole seconds),
    else as this client saw them."""
    if isinstance(start, int) and isinstance(end, int) and end - start >= 10:
        return float(end - start)
    return round(seen, 3) if seen is not None else None


def _rate(reads: list[tuple[float, dict[str, Any]]]) -> float | None:
    """Lines completed per second between the first read that shows progress and the last."""
    progress = [(t, (b.get("request_counts") or {}).get("completed", 0)) for t, b in reads]
    moving = [(t, n) for t, n in progress if n]
    if len(moving) < 2 or moving[-1][0] <= moving[0][0]:
        return None
    start = max((t for t, n in progress if n == 0), default=moving[0][0])
    return (moving[-1][1]) / (moving[-1][0] - start) if moving[-1][0] > start else None


def _answered(client: httpx.Client, batch: dict[str, Any]) -> dict[str, Any]:
    """The result files, streamed: how many lines each holds, and custom_ids missing or answered twice."""
    seen: Counter[str] = Counter()
    sizes = {}
    for part in ("output_file_id", "error_file_id"):
        count = 0
        if isinstance(batch.get(part), str):
            for line in _lines(client, batch[part]):
                seen[str(_json.loads(line).get("custom_id"))] += 1
                count += 1
        sizes[part.split("_")[0] + "_lines"] = count
    total = (batch.get("request_counts") or {}).get("total") or 0
    repeated = sum(n - 1 for n in seen.values() if n > 1)
    return sizes | {"missing": max(0, total - len(seen)), "repeated": repeated}


def _lines(client: httpx.Client, file_id: str) -> Iterator[bytes]:
    with client.stream("GET", f"{api.FILES}/{file_id}/content") as answer:
        if answer.status_code != 200:
            raise SlowcheckError(f"reading result file {file_id} answered {answer.status_code}")
        pending = b""
        for chunk in answer.iter_bytes():
            pending += chunk
            *complete, pending = pending.split(b"\n")
            yield from (line for line in complete if line.strip())
        if pending.strip():
            yield pending


_UPLOAD_TRIES = 3
_UPLOAD_PATIENCE = 65.0
"""Seconds a refused upload waits at most: the published limit is one upload a minute."""


def _upload(client: httpx.Client, input_file: Path) -> tuple[dict[str, Any], int, float]:
    """The file uploaded (a 429 waited out as it says, a minute at most, twice at most); the uploaded file, the
    429s met and the seconds waited for them."""
    refused, waited = 0, 0.0
    while True:
        with input_file.open("rb") as stream:  # httpx streams a file part: the file is never held whole
            try:
                answer = client.post(api.FILES, files={"file": (input_file.name, stream)}, data={"purpose": "batch"})
            except httpx.HTTPError as exc:
                raise SlowcheckError(f"POST /v1/files: {failure(exc)}") from None
        if answer.status_code != 429 or refused + 1 >= _UPLOAD_TRIES:
            return _checked_json(answer, "POST /v1/files"), refused, waited
        refused += 1
        hint = hint_seconds(dict(answer.headers))
        pause = min(_UPLOAD_PATIENCE, _UPLOAD_PATIENCE if hint is None else hint)
        time.sleep(pause)
        waited += pause


def _upload_limit(refused: int, waited: float) -> dict[str, Any]:
    """The ``limits`` key of the summary, as every load report has it: here only the upload limit can be met."""
    counts = {"generation": 0, "gateway": 0, "upload": refused}
    if not refused:
        return {"met": "none", "says": "no 429: the upload went through at once", "counts": counts, "first_s": {}}
    return {"met": "upload", "counts": counts, "first_s": {"upload": 0.0},
            "says": f"the upload limit ({refused} × 429, {waited:.0f} s waited before the upload went through; "
                    f"inference.net takes one upload a minute per key)"}  # fmt: skip


def _call(client: httpx.Client, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
    try:
        answer = client.request(method, path, **kwargs)
    except httpx.HTTPError as exc:
        raise SlowcheckError(f"{method} {path}: {failure(exc)}") from None
    return _checked_json(answer, f"{method} {path}")


def _checked_json(answer: httpx.Response, what: str) -> dict[str, Any]:
    try:
        document = answer.json()
    except ValueError:
        document = None
    if answer.status_code != 200 or not isinstance(document, dict) or not isinstance(document.get("id"), str):
        raise SlowcheckError(f"{what} answered {answer.status_code}: {answer.text[:200]}")
    return document
