"""Noise is not a verdict: the target's retries of transient failures, its pacing under a rate limit, and the
rules' grading of what comes back (no server: httpx's MockTransport answers)."""

from __future__ import annotations

import itertools
import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from slowcheck.contract.target import Target, TargetUnreachable
from slowcheck.findings import Deviation, NotRun, Outcome, Violation, raise_all, worst_of
from slowcheck.pacing import Pacer
from slowcheck.transient import Noise, RetryPolicy, is_transient_answer

ENVELOPE = {"error": {"message": "boom", "type": "server_error", "param": None, "code": None}}
HTML = "<html><body><h1>503 Service Temporarily Unavailable</h1></body></html>"
QUICK = RetryPolicy(tries=4, first=0.0, cap=0.0)


def answers(*scripted: Callable[[httpx.Request], httpx.Response]) -> tuple[httpx.MockTransport, list[str]]:
    """A transport that answers each request with the next scripted answer (the last one repeats)."""
    seen: list[str] = []
    script: Iterator[Callable[[httpx.Request], httpx.Response]] = itertools.chain(
        scripted, itertools.repeat(scripted[-1])
    )

    def handle(request: httpx.Request) -> httpx.Response:
        seen.append(f"{request.method} {request.url.path}")
        return next(script)(request)

    return httpx.MockTransport(handle), seen


def ok(request: httpx.Request) -> httpx.Response:
    return httpx.Response(200, json={"id": "abc", "object": "chat.completion", "created": 1, "choices": []})


def gateway(status: int = 503, retry_after: str | None = None) -> Callable[[httpx.Request], httpx.Response]:
    headers = {"content-type": "text/html"} | ({"retry-after": retry_after} if retry_after else {})
    return lambda request: httpx.Response(status, text=HTML, headers=headers)


def api_error(request: httpx.Request) -> httpx.Response:
    return httpx.Response(500, json=ENVELOPE)


def reset(request: httpx.Request) -> httpx.Response:
    raise httpx.ReadError("connection reset by peer", request=request)


def target(transport: httpx.MockTransport, **options: Any) -> Target:
    made = Target("http://api.test/v1", "sk-test", transport=transport, retry=QUICK, **options)
    made.reached = True  # as after the preflight: from now on a reset is noise
    return made


@pytest.mark.parametrize(
    ("status", "body", "transient"),
    [
        (502, ENVELOPE, True),
        (503, None, True),
        (504, "<html/>", True),
        (500, None, True),
        (500, "<html/>", True),
        (500, ENVELOPE, False),
        (501, ENVELOPE, False),
        (404, None, False),
        (429, None, False),
        (200, None, False),
    ],
)
def test_what_counts_as_noise(status: int, body: Any, transient: bool) -> None:
    assert is_transient_answer(status, body) is transient


def test_a_gateways_503_is_retried_counted_and_never_reaches_the_rule_or_the_media_ledger() -> None:
    transport, seen = answers(gateway(), gateway(502), ok)
    checked = target(transport, max_requests=10)
    exchange = checked.submit(checked.chat())
    assert exchange.status == 200
    assert len(seen) == 3
    assert checked.sent == 1, "the gateway's refusals are not the API's work: the budget counts one request"
    assert checked.noise.summary()["by_answer"] == {"502": 1, "503": 1}
    assert (checked.noise.retried, checked.noise.cleared) == (1, 1)
    assert checked.mislabelled == [], "the balancer's HTML is not the API's answer"
    assert checked.noise.line() == "2 transient failure(s) (1 × 503, 1 × 502): all retried through"


def test_noise_that_never_clears_makes_the_rule_not_run() -> None:
    transport, seen = answers(gateway())
    checked = target(transport)
    with pytest.raises(NotRun, match=r"transient failure \(503\) on all 4 tries"):
        checked.submit(checked.chat())
    assert len(seen) == 4
    assert checked.noise.line() == "4 transient failure(s) (4 × 503): 1 request(s) never got through"


def test_the_apis_own_5xx_is_retried_then_returned_to_be_judged() -> None:
    transport, seen = answers(api_error)
    checked = target(transport)
    exchange = checked.submit(checked.chat())
    assert exchange.status == 500
    assert len(seen) == 4
    assert checked.sent == 4, "the API did the work each time"


def test_a_rule_that_judges_the_failure_gets_it_when_it_repeats() -> None:
    transport, _ = answers(gateway())
    checked = target(transport)
    assert checked.request("POST", "/slow/chat/completions", content=b"[]", judges_failure=True).status == 503
    transport, _ = answers(reset)
    checked = target(transport)
    with pytest.raises(TargetUnreachable):
        checked.request("POST", "/slow/chat/completions", content=b"[]", judges_failure=True)


def test_a_reset_after_the_target_answered_is_noise_but_before_it_the_target_is_unreachable() -> None:
    transport, seen = answers(reset, ok)
    checked = target(transport)
    assert checked.generation("abc").status == 200
    assert checked.noise.summary()["by_answer"] == {"ReadError": 1}
    transport, seen = answers(reset, ok)
    fresh = Target("http://api.test/v1", "sk-test", transport=transport, retry=QUICK)
    with pytest.raises(TargetUnreachable, match="cannot reach"):
        fresh.generation("abc")
    assert len(seen) == 1, "a target that never answered is a configuration problem: no retries"


def test_retry_after_on_a_503_is_honoured() -> None:
    waits = [RetryPolicy().wait(0, {"retry-after": "3"}) for _ in range(20)]
    assert all(3.0 <= w <= 3.3 for w in waits)
    backoff = [RetryPolicy(first=0.5).wait(attempt) for attempt in range(4)]
    assert 0.375 <= backoff[0] <= 0.625
    assert 3.0 <= backoff[3] <= 5.0


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def sleep(self, seconds: float) -> None:
        self.now += seconds


def test_a_given_rate_limit_spaces_requests() -> None:
    clock = Clock()
    pacer = Pacer(120, clock=lambda: clock.now, sleep=clock.sleep)
    starts = []
    for _ in range(5):
        pacer.wait()
        starts.append(clock.now)
    assert [b - a for a, b in itertools.pairwise(starts)] == pytest.approx([0.5] * 4)
    assert pacer.seconds_for(240) == pytest.approx(120.0)


def test_the_first_429_of_a_minute_window_teaches_the_pace() -> None:
    clock = Clock()
    pacer = Pacer(clock=lambda: clock.now, sleep=clock.sleep)
    assert pacer.wait() == clock.now, "not paced yet: at once"
    assert pacer.rate is None
    for _ in range(30):  # 30 accepted within 6 s, then the window is full
        pacer.accepted()
        clock.now += 0.2
    pacer.limited(retry_after=54.0)
    assert pacer.learned
    assert pacer.per_minute == pytest.approx(27.0), "30 a minute, used at 90 %"
    before = clock.now
    pacer.wait()
    assert clock.now - before == pytest.approx(54.0), "and the first request waits out the Retry-After"


def test_requests_refused_together_teach_the_pace_once() -> None:
    clock = Clock()
    pacer = Pacer(clock=lambda: clock.now, sleep=clock.sleep)
    for _ in range(30):
        pacer.accepted()
        clock.now += 0.2
    sent = [pacer.wait() for _ in range(8)]  # eight concurrent submissions, all refused
    for went in sent:
        pacer.limited(retry_after=50.0, sent_at=went)
    assert pacer.per_minute == pytest.approx(27.0), "one lesson, not eight cuts of a quarter"
    went = pacer.wait()
    pacer.limited(retry_after=50.0, sent_at=went)
    assert pacer.per_minute is not None
    assert pacer.per_minute < 27.0, "a request sent at the new pace and refused still slows it"


def test_a_per_second_limit_is_learned_as_such_and_a_second_429_slows_further() -> None:
    clock = Clock()
    pacer = Pacer(clock=lambda: clock.now, sleep=clock.sleep)
    for _ in range(40):  # 2 a second for 20 s
        pacer.accepted()
        clock.now += 0.5
    pacer.limited(retry_after=1.0)
    assert pacer.rate == pytest.approx(1.8)
    pacer.limited(retry_after=1.0)
    assert pacer.rate is not None
    assert pacer.rate < 1.8


def test_every_finding_is_kept_worst_first() -> None:
    def lax() -> None:
        raise Deviation("five stop strings: accepted")

    def also_lax() -> None:
        raise Deviation("max_tokens as a string: accepted")

    def broken() -> None:
        raise Violation("a 5xx on a malformed body")

    with pytest.raises(Violation) as caught:
        worst_of([lax, broken, also_lax])
    assert caught.value.message == "a 5xx on a malformed body"
    assert [f.message for f in caught.value.also] == ["five stop strings: accepted", "max_tokens as a string: accepted"]
    with pytest.raises(Deviation) as only_lax:
        raise_all([Deviation("a"), Deviation("b")])
    assert [f.message for f in only_lax.value.also] == ["b"]
    raise_all([])  # nothing found: nothing raised


def test_the_noise_ledger_says_nothing_when_there_was_none() -> None:
    assert Noise().line() is None
    assert Noise().summary()["count"] == 0


def test_every_finding_reaches_results_json_and_junit(tmp_path: Path) -> None:
    import xml.etree.ElementTree as ET

    from slowcheck.checks.report import write_junit, write_results
    from slowcheck.contract.rules import RULES
    from slowcheck.contract.runner import Suite

    first = Deviation("five stop strings: accepted", request={"stop": list("abcde")}, response={"status": 200})
    first.also = [Deviation("max_tokens as a string: accepted", request={"max_tokens": "8"}, response=None)]
    suite = Suite.__new__(Suite)  # grading needs no target
    suite.strict = False
    graded = suite._graded(RULES["REQ-INVALID-4XX"], Outcome.DEVIATION, first)
    assert graded.message == "five stop strings: accepted (and 1 more)"
    assert [f["message"] for f in graded.findings] == [
        "five stop strings: accepted",
        "max_tokens as a string: accepted",
    ]
    write_results(tmp_path / "results.json", [graded], target="t", duration=1.0, conditions={"requests": 3})
    document = json.loads((tmp_path / "results.json").read_text())
    assert document["conditions"] == {"requests": 3}
    assert [f["request"] for f in document["rules"][0]["findings"]] == [{"stop": list("abcde")}, {"max_tokens": "8"}]
    write_junit(tmp_path / "junit.xml", [graded], duration=1.0)
    out = ET.parse(tmp_path / "junit.xml").getroot().find("testcase/system-out")
    assert out is not None
    assert out.text == "deviation: five stop strings: accepted\ndeviation: max_tokens as a string: accepted\n"


def test_a_long_retry_after_on_a_503_still_leaves_a_try() -> None:
    transport, seen = answers(gateway(retry_after="3600"), ok)
    checked = target(transport)
    checked.retry = RetryPolicy(tries=4, patience=0.05)
    assert checked.submit(checked.chat()).status == 200
    assert len(seen) == 2


def test_a_429_without_a_retry_is_no_answer_the_pacer_learns_from() -> None:
    refused = lambda request: httpx.Response(429, json=ENVELOPE, headers={"retry-after": "1"})  # noqa: E731
    transport, _ = answers(refused)
    checked = target(transport)
    assert checked.submit(checked.chat(), retry_429=False).status == 429
    assert checked.pacer.rate is None
    assert checked.rate_limited == [], "the caller judges it; nothing was waited out"


def test_a_request_the_budget_ends_after_noise_is_listed_as_not_through() -> None:
    transport, _ = answers(api_error)
    checked = target(transport, max_requests=2)
    with pytest.raises(NotRun, match="budget"):
        checked.submit(checked.chat())
    assert checked.noise.line() == "2 transient failure(s) (2 × 500): 1 request(s) never got through"


def test_the_batch_hosts_limit_does_not_pace_the_api() -> None:
    limited = lambda request: httpx.Response(429, json=ENVELOPE, headers={"retry-after": "0"})  # noqa: E731
    transport, _ = answers(limited, ok)
    checked = target(transport)
    checked.request("POST", "http://batch.test/v1/files", content=b"x")
    assert checked.pacer_for("http://batch.test/v1/files").learned
    assert not checked.pacer.learned, "the API's own pace is untouched"


@pytest.mark.slow
def test_a_target_that_only_answers_503_stops_the_run_with_one_line_and_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from starlette.applications import Starlette
    from starlette.responses import HTMLResponse
    from starlette.routing import Route

    from slowcheck.background import serve_in_background
    from slowcheck.cli import main

    async def down(request: Any) -> HTMLResponse:
        return HTMLResponse(HTML, status_code=503)

    app = Starlette(routes=[Route("/{path:path}", down, methods=["GET", "POST"])])
    with serve_in_background(app) as url:
        code = main(["contract", "--base-url", url + "/v1", "--api-key", "sk-x", "--report-dir", str(tmp_path)])
    err = capsys.readouterr().err
    assert code == 2
    assert err.count("\n") == 1, err
    assert "cannot be checked now: GET /v1/models met a transient failure (503) on all 4 tries" in err
    assert not (tmp_path / "results.json").exists()
