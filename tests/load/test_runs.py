"""Real load runs (locust in its own process) against the mock, checked against the mock's own counts."""

from __future__ import annotations

import asyncio
import itertools
from pathlib import Path

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from slowcheck.background import serve_in_background
from tests.docs_server import MODELS, Habits, create_app
from tests.load.conftest import KEY, REPO, Run, master_and_workers, mock, slowcheck

pytestmark = pytest.mark.slow


def test_submit_counts_equal_what_the_mock_received(report_dir: Path) -> None:
    with mock() as target:
        run = slowcheck(
            report_dir, "load", "submit", "--base-url", target.url + "/v1", "--api-key", KEY,
            "--rate", "40", "--duration", "4", "--threshold", "submit.errors==0",
        )  # fmt: skip
        stats = target.stats()
    assert run.code == 0, run.err + run.out
    submit = run.summary["submit"]
    # 256 senders for 160 arrivals: none is busy when it takes one, so every arrival is sent, however late a
    # busy machine (six test workers on two cores) wakes them; what was sent is what the mock received.
    assert (submit["count"], submit["dropped"]) == (160, 0)
    assert submit["ok"] == stats["totals"]["submissions"] == submit["count"]
    assert submit["errors"] == submit["rate_limited"] == 0
    assert run.summary["ack_validation"]["checked"] >= 16
    assert run.summary["ack_validation"]["invalid"] == 0
    assert run.summary["thresholds"] == [{"expr": "submit.errors==0", "value": 0, "passed": True}]
    for name in ("summary.json", "index.html", "locust_stats.csv", "locust_stats_history.csv", "locust.log"):
        assert (report_dir / name).is_file(), name
    assert (report_dir / "index.html").read_text().count("<svg") >= 2
    assert "threshold submit.errors==0: holds" in run.out
    for path in report_dir.iterdir():
        assert KEY not in path.read_text(encoding="utf-8", errors="replace"), f"the key leaked into {path.name}"


def test_two_processes_share_the_rate_and_a_breached_threshold_exits_1(report_dir: Path) -> None:
    with mock() as target:
        run = slowcheck(
            report_dir, "load", "submit", "--base-url", target.url, "--api-key", KEY,
            "--rate", "30@2,60", "--duration", "4", "--processes", "2", "--threshold", "submit.latency_ms.max<0.001",
        )  # fmt: skip
        stats = target.stats()
    assert run.code == 1, run.err + run.out
    summary = run.summary
    assert summary["settings"]["users"] == summary["settings"]["users_reported"] == 2
    assert summary["submit"]["dropped"] == 0, "fewer arrivals than senders: none dropped"
    assert summary["submit"]["count"] == summary["submit"]["ok"] == stats["totals"]["submissions"] == 60 + 120
    assert summary["thresholds"][0]["passed"] is False
    assert "BREACHED" in run.out


def test_polls_per_completion_match_the_mock_for_every_strategy(report_dir: Path) -> None:
    with mock() as target:
        run = slowcheck(
            report_dir, "load", "poll", "--base-url", target.url, "--api-key", KEY,
            "--rate", "12", "--duration", "4", "--poll-interval", "0.3", "--drain", "30",
        )  # fmt: skip
        rows = run.generations() if run.code == 0 else []
        server_polls = {row["generation_id"]: target.polls(row["generation_id"]) for row in rows}
        stats = target.stats()
    assert run.code == 0, run.err + run.out
    poll = run.summary["poll"]
    assert set(poll) == {"fixed", "backoff", "hinted", "webhook"}
    assert sum(s["completions"] for s in poll.values()) == stats["totals"]["submissions"] == 48
    for name, strategy in poll.items():
        assert strategy["completions"] == 12, name
        assert strategy["unfinished"] == 0, name
        mine = [row["generation_id"] for row in rows if row["strategy"] == name]
        seen_by_mock = sum(server_polls[i] for i in mine) / len(mine)
        assert strategy["polls_per_completion"] == pytest.approx(seen_by_mock, rel=0.05, abs=1e-9), name
    assert poll["webhook"]["webhooks"] == 12
    assert poll["webhook"]["polls_per_completion"] < poll["fixed"]["polls_per_completion"]
    assert poll["hinted"]["detection_lag_s"]["p50"] < poll["fixed"]["detection_lag_s"]["p50"], "hints pay off"


def test_the_probe_reads_the_mocks_submit_limit(report_dir: Path) -> None:
    """The mock's limit is a bucket of 20 refilled at 5/s, with exact reset headers. (Refilled at 20/s, a stall
    of 0.1 s as the bucket runs dry read as a burst of 22 on a busy machine.)"""
    with mock(submit_rate=5.0, submit_burst=20) as target:
        run = slowcheck(
            report_dir, "load", "rate-limit", "--base-url", target.url, "--api-key", KEY, "--duration", "60",
            "--rate", "100",
        )  # fmt: skip
        stats = target.stats()
    assert run.code == 0, run.err + run.out
    summary = run.summary
    limits = summary["rate_limit"]
    assert limits["conclusive"] is True
    assert limits["sustained_per_s"] == pytest.approx(5, rel=0.10)
    assert limits["burst"] == pytest.approx(20, rel=0.10)
    assert limits["declared_limit"] == 20
    assert limits["retry_after_present"] is True
    assert limits["envelope_ok"] is True
    assert limits["retry_after_clears"] is True
    assert summary["submit"]["ok"] == stats["totals"]["submissions"]
    assert summary["submit"]["rate_limited"] == stats["totals"]["rate_limited_submissions"]
    assert f"burst {limits['burst']}" in run.out


def test_the_probe_reads_a_window_from_whole_second_retry_afters(report_dir: Path) -> None:
    """A real gateway's habit: a fixed window (20 every 2 s), Retry-After in whole seconds, no other header."""
    app = create_app(Habits(rate_limit=20, rate_window=2.0, rate_kind="fixed"))
    with serve_in_background(app) as url:
        run = slowcheck(report_dir, "load", "rate-limit", "--base-url", url + "/v1", "--api-key", "sk-docs-one",
                        "--model", MODELS[0], "--duration", "60")  # fmt: skip
    assert run.code == 0, run.err + run.out
    limits = run.summary["rate_limit"]
    assert limits["sustained_per_s"] == pytest.approx(10, rel=0.10)
    assert limits["burst"] == pytest.approx(20, rel=0.10)
    assert limits["window_s"] == pytest.approx(2, rel=0.10)


def test_a_probe_cut_short_of_two_windows_is_inconclusive(report_dir: Path) -> None:
    app = create_app(Habits(rate_limit=20, rate_window=60.0, rate_kind="fixed"))
    with serve_in_background(app) as url:
        run = slowcheck(report_dir, "load", "rate-limit", "--base-url", url + "/v1", "--api-key", "sk-docs-one",
                        "--model", MODELS[0], "--duration", "3")  # fmt: skip
    assert run.code == 3, run.err + run.out
    limits = run.summary["rate_limit"]
    assert limits["conclusive"] is False
    assert limits["sustained_per_s"] is None
    assert "INCONCLUSIVE" in run.out
    assert "--duration" in run.out
    assert "Inconclusive" in (report_dir / "index.html").read_text(encoding="utf-8")


def test_a_master_with_two_workers_as_locust_runs_them(tmp_path: Path) -> None:
    """The documented multi-machine commands, here on one machine."""
    with mock() as target:
        done = master_and_workers(
            "submit", target.url, ["--run-time", "60s", "--rate", "30", "--duration", "3", "--report-dir",
                                   str(tmp_path)], [REPO, REPO, REPO], timeout=120,
        )  # fmt: skip
        stats = target.stats()
    assert done.returncode == 0, done.stdout.decode(errors="replace")[-2000:]
    summary = Run(0, "", "", tmp_path).summary
    assert summary["settings"]["users_reported"] == 2
    assert summary["submit"]["dropped"] == 0, "fewer arrivals than senders: none dropped"
    assert summary["submit"]["ok"] == stats["totals"]["submissions"] == 90


def test_the_embedded_mock_is_the_default_target(report_dir: Path) -> None:
    run = slowcheck(report_dir, "load", "submit", "--rate", "20", "--duration", "2")
    assert run.code == 0, run.err + run.out
    assert run.summary["target"].startswith("the embedded mock (http://127.0.0.1:")
    assert run.summary["submit"]["ok"] == 40
    assert f"report: {report_dir / 'index.html'}" in run.out


def test_an_arrival_with_every_sender_busy_is_dropped_and_counted(report_dir: Path) -> None:
    """One sender, acks taking 0.3 s, arrivals every 0.05 s: most find it busy at their time. They are dropped,
    not sent late; the ones sent are what the target received."""
    received = itertools.count(1)
    taken: list[int] = []

    async def answer(request: Request) -> Response:
        await asyncio.sleep(0.3)  # the target's habit: a slow ack
        taken.append(next(received))
        return JSONResponse({"id": f"gen-{len(taken)}", "status": "queued"})

    app = Starlette(routes=[Route("/{path:path}", answer, methods=["POST"])])
    with serve_in_background(app) as url:
        run = slowcheck(
            report_dir, "load", "submit", "--base-url", url, "--api-key", KEY, "--rate", "20", "--duration", "3",
            "--max-inflight", "1",
        )  # fmt: skip
    submit = run.summary["submit"]
    assert submit["count"] + submit["dropped"] == 60, run.err + run.out
    assert 2 <= submit["count"] <= 12, "one sender busy 0.3 s per answer sends about one arrival in seven"
    assert submit["count"] == len(taken) - 1, "what was sent reached the target (with the preflight's submission)"


def test_a_target_answering_garbage_is_counted_not_trusted(report_dir: Path) -> None:
    """200 with JSON that is no ack, 200 with text for JSON, and 503s: errors with their reasons, nothing counted
    as accepted."""
    chats = itertools.count()

    async def answer(request: Request) -> Response:
        if request.url.path.endswith("/chat/completions"):
            return JSONResponse({"status": "queued"}) if next(chats) % 2 else PlainTextResponse("queued")
        if request.url.path.endswith("/completions"):
            return PlainTextResponse("busy", status_code=503)
        return PlainTextResponse("ok")

    app = Starlette(routes=[Route("/{path:path}", answer, methods=["GET", "POST"])])
    with serve_in_background(app) as url:
        run = slowcheck(
            report_dir, "load", "submit", "--base-url", url, "--api-key", KEY, "--rate", "20", "--duration", "2",
            "--threshold", "submit.errors==0",
        )  # fmt: skip
    assert run.code == 1, run.err + run.out
    submit = run.summary["submit"]
    assert (submit["count"], submit["ok"], submit["errors"]) == (40, 0, 40)
    reasons = submit["error_messages"]
    gateway = "HTTP 503 (transient: a gateway's answer)"
    assert set(reasons) == {"HTTP 200 without an ack id", "HTTP 200 labelled text/plain; charset=utf-8", gateway}
    assert reasons[gateway] == 8
    assert reasons["HTTP 200 without an ack id"] + reasons["HTTP 200 labelled text/plain; charset=utf-8"] == 32
    assert submit["latency_ms"]["p50"] is None, "no accepted submission, no ack latency"
    assert "threshold submit.errors==0: BREACHED (measured 40)" in run.out
    page = (report_dir / "index.html").read_text()
    assert "HTTP 200 without an ack id" in page
    assert "1 of 1 thresholds breached" in page


def test_a_run_where_nothing_was_accepted_is_inconclusive_without_thresholds(report_dir: Path) -> None:
    """No threshold to breach, and not one submission accepted: nothing was measured, so no PASS."""

    posts = itertools.count()

    async def answer(request: Request) -> Response:
        if request.method != "POST":
            return PlainTextResponse("ok")
        return JSONResponse({"status": "queued"}) if next(posts) == 0 else PlainTextResponse("busy", status_code=503)

    app = Starlette(routes=[Route("/{path:path}", answer, methods=["GET", "POST"])])
    with serve_in_background(app) as url:
        run = slowcheck(report_dir, "load", "submit", "--base-url", url, "--api-key", KEY, "--rate", "10",
                        "--duration", "1")  # fmt: skip
    assert run.code == 3, run.err + run.out
    assert run.summary["submit"]["ok"] == 0
    assert run.out.rstrip().splitlines()[-1].startswith("INCONCLUSIVE: no submission was accepted (10 sent; most")


def test_a_jobs_run_over_the_paid_tier_says_it_met_the_generation_limit(report_dir: Path) -> None:
    with mock(tier="paid") as target:
        run = slowcheck(report_dir, "load", "jobs", "--base-url", target.url, "--api-key", KEY, "--rate-limit", "paid",
                        "--rate", "25", "--duration", "16", "--drain", "20")  # fmt: skip
        stats = target.stats()
    assert run.code == 0, run.err + run.out
    assert run.out.index("generation limit is 250") < run.out.index("slowcheck load: jobs against")
    limits = run.summary["limits"]
    assert limits["met"] == "generation", limits
    assert limits["counts"]["generation"] == run.summary["submit"]["rate_limited"] > 0
    assert run.summary["submit"]["ok"] == stats["totals"]["submissions"]
    assert "limit met: the generation limit" in run.out


def test_a_plan_the_gateway_cannot_carry_is_told_before_it_starts_and_its_429s_named(report_dir: Path) -> None:
    with mock(gateway_rps=5) as target:
        run = slowcheck(report_dir, "load", "poll", "--base-url", target.url, "--api-key", KEY, "--gateway-rps", "5",
                        "--rate", "10", "--duration", "2", "--drain", "5", "--strategies", "fixed")  # fmt: skip
    told = run.out.index("the submissions alone meet it")
    assert told < run.out.index("slowcheck load: poll against"), run.out
    assert run.summary["limits"]["met"] == "gateway", run.summary["limits"]
    assert "you measured the gateway, not the API" in run.out


def test_polls_are_held_to_the_room_the_gateway_leaves(report_dir: Path) -> None:
    """Polling every 50 ms would send ~60 polls a second; the gateway takes 20 a second in all."""
    with mock(gateway_rps=20) as target:
        run = slowcheck(report_dir, "load", "poll", "--base-url", target.url, "--api-key", KEY, "--gateway-rps", "20",
                        "--rate", "4", "--duration", "4", "--drain", "10", "--strategies", "fixed",
                        "--poll-interval", "0.05")  # fmt: skip
    assert run.code == 0, run.err + run.out
    fixed = run.summary["poll"]["fixed"]
    assert fixed["completions"] == 16
    assert fixed["rate_limited"] == 0
    assert run.summary["limits"]["met"] == "none"
    assert fixed["polls"] <= 14 * run.summary["duration_s"] + 14, "14 polls a second and a second's burst at most"
