"""Live figures: feeds drained into one board, the sliding window, and the OpenMetrics text a scrape parses."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
from prometheus_client.openmetrics.parser import text_string_to_metric_families as openmetrics
from prometheus_client.parser import text_string_to_metric_families as prometheus

from slowcheck.errors import ConfigError
from slowcheck.live import UNREAD, Board, Feed, last_line, parse_address, serve
from slowcheck.load.batch import _Live
from slowcheck.load.command import progress
from slowcheck.load.options import LoadPlan
from slowcheck.load.policies import POLICIES
from slowcheck.load.pollbook import PollBook
from slowcheck.load.samples import StrategySamples
from slowcheck.mock.records import iso


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _worker(offered: int, accepted: int, limited: int, finished: list[tuple[str, float, float, int]]) -> Feed:
    feed = Feed()
    for index in range(offered):
        feed.offered(dropped=index >= accepted + limited)
    for _ in range(accepted):
        feed.answered("submit", 202, accepted=1)
    for _ in range(limited):
        feed.answered("submit", 429)
    for state, queue, e2e, tokens in finished:
        feed.finished(state, queue_s=queue, e2e_s=e2e, tokens=tokens)
    return feed


def test_two_processes_drains_add_up_and_in_flight_is_each_ones_latest() -> None:
    board = Board()
    one = _worker(10, 8, 1, [("Success", 1.0, 2.0, 10), ("Success", 3.0, 4.0, 20)])
    one.watch(lambda: {"Queued": 3, "In Progress": 1})
    two = _worker(5, 5, 0, [("Failed", 0.5, 1.0, 0)])
    two.watch(lambda: {"Queued": 2})
    board.merge(one.drain(), source="a")
    board.merge(two.drain(), source="b")
    board.merge(one.drain(), source="a")  # nothing new, and its in-flight replaced, not added
    figures = board.figures()
    assert figures["submissions"] == {"offered": 15, "accepted": 13, "dropped": 1}
    assert figures["rate_limited"] == {"submit": 1, "poll": 0}
    assert figures["in_flight"] == {"In Progress": 1, "Queued": 5}
    assert figures["completions"] == {"Failed": 1, "Success": 2}
    assert figures["output_tokens"] == 30
    assert figures["latency_s"]["e2e"]["count"] == 3
    assert figures["latency_s"]["e2e"]["sum"] == pytest.approx(7.0)
    assert figures["latency_s"]["queue"]["0.5"] == 1.0
    assert figures["latency_s"]["e2e"]["0.99"] == 4.0
    assert "15 offered, 13 accepted; submit/poll: 429 1/0, errors 0/0, transport 0/0" in board.line(figures)


def test_quantiles_and_rates_cover_the_window_and_totals_stay() -> None:
    clock = Clock()
    board = Board(window=60.0, clock=clock)
    feed = Feed(clock)
    board.pull(feed)
    feed.finished("Success", queue_s=9.0, e2e_s=90.0, tokens=100)
    board.figures()  # drained at this time
    clock.now += 61  # that job is out of the window now
    feed.finished("Success", queue_s=1.0, e2e_s=10.0, tokens=30)
    feed.finished("Success", queue_s=1.0, e2e_s=12.0, tokens=30)
    figures = board.figures()
    assert figures["latency_s"]["e2e"]["0.5"] == 10.0
    assert figures["latency_s"]["e2e"]["0.99"] == 12.0
    assert figures["latency_s"]["e2e"]["count"] == 3, "a summary's count is a total"
    assert figures["output_tokens"] == 160
    assert figures["output_tokens_per_s"] == pytest.approx(60 / 60)
    assert "e2e p50 10.00 s" in board.line(figures)


def test_an_empty_window_has_no_quantiles() -> None:
    board = Board()
    board.pull(Feed())
    assert board.figures()["latency_s"]["queue"]["0.5"] is None
    assert "queue p50 n/a" in board.line()


def test_a_poll_book_counts_in_flight_by_the_last_state_read_and_tells_completions() -> None:
    feed = Feed()
    book = PollBook(POLICIES["fixed"](1.0), StrategySamples(), feed=feed)
    book.add("a", 100.0, 100.0, created=100.0)
    book.add("b", 100.0, 100.0)
    assert book.in_flight() == {UNREAD: 2}
    book.answered(book.outstanding["a"], 200, {"content-type": "application/json"}, {"state": "Queued"}, 101.0)
    assert book.in_flight() == {UNREAD: 1, "Queued": 1}
    record = {"state": "Success", "dispatchedAt": iso(102.0), "finishedAt": iso(104.0),
              "response": {"usage": {"completion_tokens": 7}}}  # fmt: skip
    book.answered(book.outstanding["a"], 200, {"content-type": "application/json"}, record, 105.0)
    assert book.in_flight() == {UNREAD: 1}
    drained = feed.drain()
    [(_, state, queue, e2e, tokens, count)] = drained["finished"]
    assert count == 1
    assert (state, queue, e2e, tokens) == ("Success", 2.0, 4.0, 7)


@pytest.mark.parametrize("text", ["", "x", "70000", "-1", ":9646", "host:"])
def test_a_bad_address_is_a_one_line_error(text: str) -> None:
    with pytest.raises(ConfigError, match="--metrics-port: expected PORT or HOST:PORT"):
        parse_address(text)


def test_an_address_is_a_port_on_loopback_or_a_host_and_port() -> None:
    assert parse_address("9646") == ("127.0.0.1", 9646)
    assert parse_address("0.0.0.0:9646") == ("0.0.0.0", 9646)
    assert parse_address("[::1]:9646") == ("::1", 9646)


def _families(text: str, parse: Any) -> dict[str, Any]:
    return {family.name: family for family in parse(text)}


def test_a_scrape_parses_as_openmetrics_and_as_prometheus_text() -> None:
    board = Board()
    feed = _worker(4, 3, 1, [("Success", 0.25, 1.5, 12)])
    feed.watch(lambda: {"Queued": 2})
    feed.answered("poll", 0)
    board.pull(feed)
    url, stop = serve(board, "127.0.0.1:0")
    try:
        text = httpx.get(url, headers={"Accept": "application/openmetrics-text; version=1.0.0"}).text
        plain = httpx.get(url).text
    finally:
        stop()
    assert text.endswith("# EOF\n")
    families = _families(text, openmetrics)
    values = {(s.name, tuple(sorted(s.labels.items()))): s.value for f in families.values() for s in f.samples}
    assert values[("slowcheck_submissions_offered_total", ())] == 4
    assert values[("slowcheck_submissions_accepted_total", ())] == 3
    assert values[("slowcheck_rate_limited_total", (("request", "submit"),))] == 1
    assert values[("slowcheck_transport_errors_total", (("request", "poll"),))] == 1
    assert values[("slowcheck_jobs_in_flight", (("state", "Queued"),))] == 2
    assert values[("slowcheck_completions_total", (("state", "Success"),))] == 1
    assert values[("slowcheck_e2e_seconds", (("quantile", "0.5"),))] == 1.5
    assert values[("slowcheck_queue_seconds_count", ())] == 1
    assert families["slowcheck_e2e_seconds"].type == "summary"
    assert set(_families(plain, prometheus)) == set(families), "the Prometheus text format says the same"


def test_a_port_in_use_is_a_one_line_error() -> None:
    board = Board()
    url, stop = serve(board, "0")
    try:
        with pytest.raises(ConfigError, match="cannot listen there"):
            serve(board, url.split("/")[2])
    finally:
        stop()


def test_the_progress_line_comes_from_live_json(tmp_path: Any) -> None:
    assert last_line(tmp_path) is None
    (tmp_path / "live.json").write_text('{"line": "5 s: 3 offered"}')
    assert last_line(tmp_path) == "5 s: 3 offered"
    (tmp_path / "live.json").write_text("{torn")
    assert last_line(tmp_path) is None


def test_slowcheck_load_shows_the_live_line_beside_the_time(tmp_path: Any, capsys: pytest.CaptureFixture[str]) -> None:
    plan = LoadPlan.for_scenario("jobs")
    with progress(plan, tmp_path) as tick:
        tick(1.0)  # nothing written yet: the time alone
        (tmp_path / "live.json").write_text('{"line": "5 s: 3 offered, 3 accepted"}')
        tick(5.0)  # within 10 s of the last line: not printed again
        tick(12.0)
    lines = capsys.readouterr().out.splitlines()
    assert lines == ["  jobs: 1 s of about 30 s", "  jobs: 12 s of about 30 s | 5 s: 3 offered, 3 accepted"]


def test_a_batchs_lines_are_its_live_submissions_and_completions(tmp_path: Any) -> None:
    with _Live(None, tmp_path, None) as live:
        live.feed.offered(100)
        live.feed.answered("submit", 200, accepted=100)
        live.read({"status": "validating", "request_counts": {"total": 100, "completed": 0, "failed": 0}})
        live.read({"status": "in_progress", "request_counts": {"total": 100, "completed": 40, "failed": 2}})
        middle = live.board.figures()
        live.read({"status": "completed", "request_counts": {"total": 100, "completed": 97, "failed": 3}})
        end = live.board.figures()
    assert middle["submissions"]["accepted"] == 100
    assert middle["completions"] == {"Failed": 2, "Success": 40}
    assert middle["in_flight"] == {"in_progress": 58}
    assert end["completions"] == {"Failed": 3, "Success": 97}
    assert end["in_flight"] == {}
    assert json.loads((tmp_path / "live.json").read_text())["completions"] == {"Failed": 3, "Success": 97}
