"""Live figures of a run while it goes: what was offered and accepted, 429s and transport errors, jobs in flight
by state, completions, and queue and end-to-end latency and tokens per second over a sliding window.

Two halves, so many processes can feed one view:

- a :class:`Feed` per process, which the code sending requests tells what happened; :meth:`Feed.drain`
  hands over its totals so far, the jobs seen terminal since the last drain and what is in flight now, as plain
  data that travels in a locust message (a lost one costs nothing: the next carries the totals);
- one :class:`Board` (locust's master, the only process, or the proxy) merging every process's drains; it gives
  the :meth:`Board.figures`, the console's :meth:`Board.line`, and the OpenMetrics text a Prometheus scrape
  reads (:func:`serve`, ``--metrics-port``).

Counters are totals since the start; latency quantiles and rates cover the last :data:`WINDOW_S` seconds, as a
dashboard wants them (a summary's ``_count`` and ``_sum`` stay totals, as OpenMetrics has them).
"""

from __future__ import annotations

import argparse
import json
import math
import threading
import time
from collections import Counter, deque
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

from slowcheck.errors import ConfigError
from slowcheck.timestamps import epoch_seconds

__all__ = [
    "FLAG_HELP",
    "FLAG_METAVAR",
    "LIVE_FILE",
    "UNREAD",
    "WINDOW_S",
    "Board",
    "Feed",
    "add_argument",
    "last_line",
    "parse_address",
    "serve",
    "write_live",
]

FLAG_HELP = "serve live OpenMetrics figures while the run goes, on 127.0.0.1:PORT or HOST:PORT"
"""``--metrics-port``'s help, on ``slowcheck load`` (a plan field) and ``slowcheck proxy`` alike."""
FLAG_METAVAR = "[HOST:]PORT"
UNREAD = "acknowledged"
"""The in-flight state of a generation acknowledged whose state no poll has read yet."""
LIVE_FILE = "live.json"
"""A load run's latest figures in its report folder, rewritten every few seconds (with the console's ``line``)."""
WINDOW_S = 60.0
"""The sliding window of the latency quantiles and the rates."""
_QUANTILES = (0.5, 0.95, 0.99)
_STATUS_TRANSPORT_ERROR = 0
_COUNTS = ("offered", "accepted", "dropped", "polls", "output_tokens")
_BY_REQUEST = ("rate_limited", "transport_errors", "errors")


class Feed:
    """One process's events. One thread writes (locust's greenlets share one; the proxy's event loop) while
    another reads (a drain, a scrape), with no lock on the hot path: the counts are totals since the start,
    which a reader copies and never resets, and the jobs seen terminal wait in a deque, which one thread may
    append to while another pops from it."""

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self._clock = clock
        self._offered = self._dropped = self._accepted = self._polls = 0
        self._rare: dict[str, int] = {}
        """429s, transport errors and other errors, by ``kind:request``."""
        self._finished: deque[list[Any]] = deque()
        self._in_flight: list[Callable[[], Mapping[str, int]]] = []

    def offered(self, count: int = 1, *, dropped: bool = False) -> None:
        """Arrivals came due (a batch: its lines): sent, or ``dropped`` when no sender was free for them."""
        self._offered += count
        if dropped:
            self._dropped += count

    def answered(self, request: str, status: int, *, accepted: int = 0) -> None:
        """A ``submit`` or ``poll`` was answered with ``status`` (0: no usable answer came); ``accepted``: the
        submissions it acknowledged (a single one's ack 1, a batch's creation its lines)."""
        if request == "poll":
            self._polls += 1
        self._accepted += accepted
        if 200 <= status < 300 or status == 404:  # a 404 is the documented "not visible yet"
            return
        kind = "rate_limited" if status == 429 else "errors"
        key = f"{'transport_errors' if status == _STATUS_TRANSPORT_ERROR else kind}:{request}"
        self._rare[key] = self._rare.get(key, 0) + 1

    def finished(
        self, state: str, *, queue_s: float | None, e2e_s: float | None, tokens: int | None, count: int = 1
    ) -> None:
        """Jobs seen terminal (``count`` of them: a batch's lines), with their latencies (None when the record
        lacks a time) and output tokens."""
        self._finished.append([self._clock(), state, queue_s, e2e_s, tokens or 0, count])

    def finished_record(self, record: Mapping[str, Any], created: float) -> None:
        """A generation's terminal record, and when it was created (epoch seconds: the ack's ``created``, else the
        send): queue and e2e on the server's clock where it gave one, the output tokens of its usage."""
        dispatched, done = epoch_seconds(record.get("dispatchedAt")), epoch_seconds(record.get("finishedAt"))
        response = record.get("response")
        usage = response.get("usage") if isinstance(response, dict) else None
        tokens = usage.get("completion_tokens") if isinstance(usage, dict) else None
        self.finished(
            str(record.get("state")),
            queue_s=max(0.0, dispatched - created) if dispatched is not None else None,
            e2e_s=max(0.0, done - created) if done is not None else None,
            tokens=tokens if isinstance(tokens, int) and not isinstance(tokens, bool) else None,
        )

    def watch(self, in_flight: Callable[[], Mapping[str, int]]) -> None:
        """A source of jobs in flight by state (a poller pool's book), summed at every drain."""
        self._in_flight.append(in_flight)

    def drain(self) -> dict[str, Any]:
        """The totals so far, the jobs seen terminal since the last drain, and what is in flight now: plain data
        (msgpack, JSON). One reader at a time (a board reads under its lock)."""
        totals = {"offered": self._offered, "dropped": self._dropped, "accepted": self._accepted,
                  "polls": self._polls} | dict(self._rare)  # fmt: skip
        finished = []
        while self._finished:  # only this reader pops: not empty until it does
            finished.append(self._finished.popleft())
        in_flight: Counter[str] = Counter()
        for source in list(self._in_flight):
            in_flight.update(source())
        return {"totals": totals, "finished": finished, "in_flight": dict(in_flight)}


class Board:
    """Every process's drains merged: totals, in flight (each source's latest), and the window's samples."""

    def __init__(self, *, window: float = WINDOW_S, clock: Callable[[], float] = time.time) -> None:
        self.window, self._clock = window, clock
        self.started = clock()
        self._lock = threading.Lock()
        self._totals: dict[str, Mapping[str, int]] = {}
        """Each source's latest totals."""
        self.output_tokens = 0
        self.completions: Counter[str] = Counter()
        self.sums: Counter[str] = Counter()
        """``queue``/``e2e``: the seconds and the number of jobs measured, since the start."""
        self._in_flight: dict[str, dict[str, int]] = {}
        self._recent: deque[list[Any]] = deque()
        self._pulls: list[Callable[[], dict[str, Any]]] = []

    def pull(self, feed: Feed) -> None:
        """A feed in this process, drained whenever the board is read."""
        self._pulls.append(feed.drain)

    def merge(self, drained: Mapping[str, Any], source: str = "local") -> None:
        with self._lock:
            self._merge(drained, source)

    def _merge(self, drained: Mapping[str, Any], source: str) -> None:
        self._totals[source] = dict(drained.get("totals") or {})
        for at, state, queue_s, e2e_s, tokens, count in drained.get("finished") or []:
            self.completions[state] += count
            self.output_tokens += tokens
            for name, value in (("queue", queue_s), ("e2e", e2e_s)):
                if value is not None:
                    self.sums[name] += value
                    self.sums[f"{name}_count"] += 1
            self._recent.append([at, state, queue_s, e2e_s, tokens, count])
        self._in_flight[source] = dict(drained.get("in_flight") or {})

    def figures(self) -> dict[str, Any]:
        """The live figures as ``live.json`` and the console have them."""
        now = self._clock()
        with self._lock:
            for index, drain in enumerate(self._pulls):
                self._merge(drain(), f"pulled-{index}")
            while self._recent and self._recent[0][0] < now - self.window:
                self._recent.popleft()
            recent = list(self._recent)
            in_flight: Counter[str] = Counter()
            for states in self._in_flight.values():
                in_flight.update(states)
            counts: Counter[str] = Counter()
            for totals in self._totals.values():
                counts.update(totals)
            completions, sums, tokens = Counter(self.completions), Counter(self.sums), self.output_tokens
        span = max(1.0, min(self.window, now - self.started))  # the first second's rate is not per second yet
        return {
            "elapsed_s": round(now - self.started, 3),
            "window_s": self.window,
            "submissions": {name: counts[name] for name in ("offered", "accepted", "dropped")},
            **{name: {r: counts[f"{name}:{r}"] for r in ("submit", "poll")} for name in _BY_REQUEST},
            "polls": counts["polls"],
            "in_flight": dict(sorted(in_flight.items())),
            "completions": dict(sorted(completions.items())),
            "output_tokens": tokens,
            "latency_s": {
                name: {
                    "count": int(sums[f"{name}_count"]),
                    "sum": round(sums[name], 6),
                    **{
                        str(q): _quantile(sorted(r[column] for r in recent if r[column] is not None), q)
                        for q in _QUANTILES
                    },
                }  # fmt: skip
                for name, column in (("queue", 2), ("e2e", 3))
            },
            "completions_per_s": round(sum(r[5] for r in recent) / span, 3),
            "output_tokens_per_s": round(sum(r[4] for r in recent) / span, 3),
        }

    def line(self, figures: Mapping[str, Any] | None = None) -> str:
        """The console's progress line."""
        f = figures if figures is not None else self.figures()
        flight = ", ".join(f"{state} {n}" for state, n in f["in_flight"].items() if n) or "none"
        done = ", ".join(f"{state} {n}" for state, n in f["completions"].items()) or "none"
        e2e, queue = f["latency_s"]["e2e"], f["latency_s"]["queue"]
        return (
            f"{f['elapsed_s']:.0f} s: {f['submissions']['offered']} offered, {f['submissions']['accepted']} "
            f"accepted; submit/poll: 429 {_pair(f['rate_limited'])}, errors {_pair(f['errors'])}, transport "
            f"{_pair(f['transport_errors'])}; in flight: {flight}; done: {done}; last {f['window_s']:g} s: queue p50 "
            f"{_s(queue['0.5'])}, "
            f"e2e p50 {_s(e2e['0.5'])} p95 {_s(e2e['0.95'])}, {f['output_tokens_per_s']:.1f} tokens/s"
        )


def _quantile(ordered: list[float], q: float) -> float | None:
    if not ordered:
        return None
    return round(ordered[min(len(ordered) - 1, max(0, math.ceil(q * len(ordered)) - 1))], 6)


def _pair(by_request: Mapping[str, int]) -> str:
    """A submit count and a poll count, apart: a 429 on a poll is not a refused submission."""
    return f"{by_request['submit']}/{by_request['poll']}"


def _s(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.2f} s"


# -- OpenMetrics ------------------------------------------------------------------------------------------


class _Exposition:
    """A prometheus_client collector reading a board at every scrape."""

    def __init__(self, board: Board) -> None:
        self.board = board

    def collect(self) -> Iterator[Any]:
        from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, SummaryMetricFamily
        from prometheus_client.samples import Sample

        f = self.board.figures()

        def counter(name: str, text: str, value: float) -> Any:
            return CounterMetricFamily(f"slowcheck_{name}", text, value=value)

        yield counter("submissions_offered", "arrivals that came due (sent or dropped)", f["submissions"]["offered"])
        yield counter("submissions_accepted", "submissions acknowledged with an id", f["submissions"]["accepted"])
        yield counter("submissions_dropped", "arrivals no sender was free for", f["submissions"]["dropped"])
        yield counter("polls", "polls of GET /v1/generation/{id} answered", f["polls"])
        for name, text in (("rate_limited", "429 answers"), ("transport_errors", "requests with no usable answer"),
                           ("errors", "other answers neither 2xx nor 404")):  # fmt: skip
            family = CounterMetricFamily(f"slowcheck_{name}", text, labels=["request"])
            for request, value in f[name].items():
                family.add_metric([request], value)
            yield family
        flight = GaugeMetricFamily("slowcheck_jobs_in_flight", "jobs acknowledged, not seen terminal", labels=["state"])
        for state, value in f["in_flight"].items():
            flight.add_metric([state], value)
        yield flight
        done = CounterMetricFamily("slowcheck_completions", "jobs seen terminal", labels=["state"])
        for state, value in f["completions"].items():
            done.add_metric([state], value)
        yield done
        yield counter("output_tokens", "completion tokens of the jobs seen terminal", f["output_tokens"])
        for name, text in (("queue", "created to dispatchedAt"), ("e2e", "created to finishedAt")):
            figures = f["latency_s"][name]
            summary = SummaryMetricFamily(
                f"slowcheck_{name}_seconds", f"{text}; quantiles over the last {f['window_s']:g} s",
                count_value=figures["count"], sum_value=figures["sum"],
            )  # fmt: skip
            for q in _QUANTILES:
                value = figures[str(q)]
                summary.samples.append(Sample(summary.name, {"quantile": str(q)}, math.nan if value is None else value))
            yield summary
        window = f"over the last {f['window_s']:g} s"
        yield GaugeMetricFamily("slowcheck_completions_per_second", f"jobs seen terminal {window}",
                                value=f["completions_per_s"])  # fmt: skip
        yield GaugeMetricFamily("slowcheck_output_tokens_per_second", f"output tokens {window}",
                                value=f["output_tokens_per_s"])  # fmt: skip


def write_live(folder: Path, board: Board, scenario: str) -> dict[str, Any]:
    """``live.json`` in ``folder``: the board's figures and their line, replaced whole (a reader polls it)."""
    figures = board.figures()
    document = figures | {"scenario": scenario, "line": board.line(figures)}
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / LIVE_FILE
    partial = path.with_suffix(".part")
    partial.write_text(json.dumps(document, indent=1) + "\n", encoding="utf-8")
    partial.replace(path)
    return document


def last_line(folder: Path) -> str | None:
    """The progress line in ``folder``'s ``live.json``, if a run wrote one yet."""
    try:
        line = json.loads((folder / LIVE_FILE).read_text(encoding="utf-8")).get("line")
    except (OSError, ValueError, AttributeError):
        return None
    return line if isinstance(line, str) else None


def add_argument(parser: argparse.ArgumentParser) -> None:
    """``--metrics-port`` on a command's parser (the load flags have it from the plan)."""
    parser.add_argument("--metrics-port", metavar=FLAG_METAVAR, help=FLAG_HELP)


def parse_address(text: str, *, flag: str = "--metrics-port") -> tuple[str, int]:
    """``PORT`` (on 127.0.0.1) or ``HOST:PORT``; a one-line ``ConfigError`` for anything else."""
    host, colon, port = str(text).rpartition(":")
    try:
        number = int(port)
    except ValueError:
        number = -1
    if not 0 <= number <= 65535 or (colon and not host):
        raise ConfigError(f"{flag}: expected PORT or HOST:PORT, got {text!r}")
    return host.strip("[]") or "127.0.0.1", number


def serve(board: Board, address: str) -> tuple[str, Callable[[], None]]:
    """OpenMetrics text of ``board`` at ``http://HOST:PORT/metrics`` (prometheus_client's server, on a thread);
    the URL, and how to stop it. A port in use is a one-line ``ConfigError``."""
    from prometheus_client import CollectorRegistry, start_http_server

    host, port = parse_address(address)
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Exposition(board))
    try:
        server, thread = start_http_server(port, addr=host, registry=registry)
    except OSError as exc:
        raise ConfigError(f"--metrics-port {address}: cannot listen there ({exc.strerror or exc})") from None
    bound = server.server_address[1]

    def stop() -> None:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)

    return f"http://{host}:{bound}/metrics", stop
