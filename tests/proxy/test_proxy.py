"""The proxy: the OpenAI SDK through it (clean, then against an API broken on purpose), live and offline."""

from __future__ import annotations

import contextlib
import json
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest
from prometheus_client.openmetrics.parser import text_string_to_metric_families
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from slowcheck.background import serve_in_background
from slowcheck.findings import Outcome
from slowcheck.mock import MockSettings, Span, create_app
from slowcheck.mock.server import mock_in_background
from slowcheck.proxy.judge import Judge
from slowcheck.proxy.recording import Relayed, read
from slowcheck.proxy.server import ProxySettings, running
from slowcheck.proxy.tally import Finding
from tests.conftest import fast_mock

pytestmark = pytest.mark.slow  # the mock, the docs server and the proxy on real sockets
KEY = "sk-FAKE-proxy-find-me-91c2aa"
MODEL = "inference-net/load-test"


def _settings(**overrides: Any) -> MockSettings:
    """Slower than ``fast_mock``'s lifecycle, so an application polling at the hints sees each state."""
    base: dict[str, Any] = {"port": 0, "api_keys": [KEY], "models": [MODEL],
                            "queue_time": Span(0.05, 0.1), "run_time": Span(0.05, 0.15)}  # fmt: skip
    return fast_mock(**(base | overrides))


def _wait(client: httpx.Client, generation_id: str) -> dict[str, Any]:
    """Poll as a careful application does: at the server's hint, until terminal, and not once more."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        answer = client.get(f"/generation/{generation_id}")
        record = answer.json()
        if answer.status_code == 200 and record["state"] in ("Success", "Failed"):
            return record  # type: ignore[no-any-return]
        hint = answer.headers.get("openai-poll-after-ms")
        time.sleep(int(hint) / 1000 + 0.01 if hint else 0.2)
    raise AssertionError(f"{generation_id} did not finish")


def _application(base: str, *, stream: bool = False) -> list[dict[str, Any]]:
    """What an application built on the SDK does: submit chat and text, poll each to its end; a batch too."""
    with (
        openai.OpenAI(base_url=f"{base}/v1/slow", api_key=KEY, max_retries=0) as sdk,
        httpx.Client(base_url=f"{base}/v1", headers={"Authorization": f"Bearer {KEY}"}, timeout=30) as plain,
        openai.OpenAI(base_url=f"{base}/v1", api_key=KEY, max_retries=0) as batch_sdk,
    ):
        return _work(sdk, plain, batch_sdk, stream=stream)


def _work(sdk: openai.OpenAI, plain: httpx.Client, batch_sdk: openai.OpenAI, *, stream: bool) -> list[dict[str, Any]]:
    ids = [
        sdk.chat.completions.create(
            model=MODEL, messages=[{"role": "user", "content": "hi"}], max_tokens=16, metadata={"custom_id": "a-1"}
        ).id,  # fmt: skip
        sdk.completions.create(model=MODEL, prompt="Once upon a time", max_tokens=8).id,
    ]
    if stream:
        with contextlib.suppress(openai.APIError):
            sdk.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": "hi"}], stream=True)
    records = [_wait(plain, generation_id) for generation_id in ids]
    line = {"custom_id": "b-1", "method": "POST", "url": "/v1/chat/completions",
            "body": {"model": MODEL, "messages": [{"role": "user", "content": "hi"}]}}  # fmt: skip
    uploaded = batch_sdk.files.create(file=("in.jsonl", json.dumps(line).encode() + b"\n"), purpose="batch")
    batch = batch_sdk.batches.create(
        input_file_id=uploaded.id, endpoint="/v1/chat/completions", completion_window="24h"
    )
    while batch.status not in ("completed", "failed", "expired", "cancelled"):
        time.sleep(0.1)
        batch = batch_sdk.batches.retrieve(batch.id)
    assert batch.status == "completed"
    assert batch.output_file_id
    batch_sdk.files.content(batch.output_file_id).read()
    return records


@contextlib.contextmanager
def _proxy(upstream: str, **options: Any) -> Iterator[tuple[Any, list[Finding]]]:
    found: list[Finding] = []
    with running(ProxySettings(upstream=upstream, port=0, **options), found.append) as proxy:
        yield proxy, found


def test_the_sdk_through_the_proxy_against_the_mock_gives_no_finding(tmp_path: Path) -> None:
    recording = tmp_path / "traffic.jsonl"
    with (
        mock_in_background(_settings(db=str(tmp_path / "m.sqlite3"))) as url,
        _proxy(url + "/v1", record=recording) as (proxy, found),
    ):
        records = _application(proxy.url)
        judge = proxy.judge
    assert [r["state"] for r in records] == ["Success", "Success"]
    assert found == []
    outcomes = {r.rule.id: r.outcome for r in judge.results()}
    for check in ("CLIENT-REQUEST-SCHEMA", "CLIENT-POLL-HINT", "ACK-SHAPE", "LIFE-RECORD-SCHEMA",
                  "LIFE-STATES-FORWARD", "LIFE-REQUEST-ECHO", "LIFE-RESPONSE-ID", "LIFE-CHOICES-N", "LIFE-USAGE-SUM",
                  "LIFE-TOKEN-LIMIT", "LIFE-FINISH-REASON", "LIFE-TIMESTAMPS", "LIFE-DISPATCHED-AT",
                  "API-BATCH"):  # fmt: skip
        assert outcomes[check] is Outcome.HELD, check
    client = next(iter(judge.figures()["clients"].values()))
    assert client["completions"] == 2
    assert client["polls_before_hint"] == client["polls_after_terminal"] == 0
    text = recording.read_text()
    assert KEY not in text, "the key reached the recording"
    assert '"authorization"' not in text


class _Broken:
    """The mock with two faults an API could have: acks' created in seconds, and a state that goes back once
    (the answer after a generation's first In Progress says Queued, whatever the truth)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.regressed: set[str] = set()
        self.running: set[str] = set()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path, method = scope["path"], scope["method"]
        held: list[Message] = []

        async def capture(message: Message) -> None:
            held.append(message)

        await self.app(scope, receive, capture)
        start, *chunks = held
        body = b"".join(m.get("body", b"") for m in chunks)
        if start["status"] == 200 and method == "POST" and path == "/v1/slow/chat/completions":
            ack = json.loads(body)
            ack["created"] //= 1000
            body = json.dumps(ack).encode()
        elif start["status"] == 200 and path.startswith("/v1/generation/"):
            record = json.loads(body)
            generation_id = path.rsplit("/", 1)[1]
            if record["state"] == "In Progress" and generation_id not in self.running:
                self.running.add(generation_id)
            elif generation_id in self.running and generation_id not in self.regressed:
                self.regressed.add(generation_id)
                record |= {"state": "Queued", "stateMessage": "Queued", "response": None, "dispatchedAt": None,
                           "finishedAt": None}  # fmt: skip
                body = json.dumps(record).encode()
        headers = [(k, v) for k, v in start["headers"] if k.lower() != b"content-length"]
        headers.append((b"content-length", str(len(body)).encode()))
        await send({"type": "http.response.start", "status": start["status"], "headers": headers})
        await send({"type": "http.response.body", "body": body})


def test_an_api_broken_in_two_ways_and_a_client_in_one_give_exactly_those_findings(tmp_path: Path) -> None:
    # Long enough In Progress for a hinted poll to see it, and then the regression.
    broken = _Broken(create_app(_settings(run_time=Span(0.6, 0.6), queue_time=Span(0.05, 0.05))))
    recording = tmp_path / "traffic.jsonl"
    with serve_in_background(broken, name="broken API") as url, _proxy(url + "/v1", record=recording) as (proxy, _):
        _application(proxy.url, stream=True)
    live = dict(proxy.judge.counts)  # once the proxy has stopped: the last answer is judged just after it is sent
    assert broken.regressed, "the fault happened"
    assert set(live) == {"CLIENT-NO-STREAM", "ACK-SHAPE", "LIFE-STATES-FORWARD"}, live
    assert live["CLIENT-NO-STREAM"] == 1
    offline = Judge()
    for exchange in read(recording)[1]:
        offline.judge(exchange)
    assert dict(offline.counts) == live, "a recording judged offline finds what the live proxy found"
    messages = {f.check: f.message for kept in offline.findings.values() for f in kept}
    assert "created" in messages["ACK-SHAPE"]
    assert "In Progress to Queued" in messages["LIFE-STATES-FORWARD"]


def test_webhooks_are_judged_and_forwarded_to_the_application(tmp_path: Path) -> None:
    received: list[dict[str, Any]] = []
    arrived = threading.Event()

    async def receiver(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        if scope["method"] == "POST":
            received.append(json.loads(body))
            arrived.set()
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"application/json")]})
        await send({"type": "http.response.body", "body": b"{}"})

    with serve_in_background(receiver, name="application receiver") as app_url, mock_in_background(_settings()) as url:
        with _proxy(url + "/v1", webhook_forward=app_url + "/hooks", webhook_port=0) as (proxy, _):
            # The delivery is judged once the application's answer went back to the API: after the receiver saw it.
            judged = threading.Event()
            judge = proxy.judge.judge

            def judging(exchange: Relayed) -> list[Finding]:
                found = judge(exchange)
                if exchange.kind == "webhook":
                    judged.set()
                return found

            proxy.judge.judge = judging  # type: ignore[method-assign]
            # The API's webhook points at the proxy's second port, as a dashboard's would.
            hook = {"id": "hook1", "url": f"http://127.0.0.1:{proxy.webhook_port}/"}
            registered = httpx.post(f"{url}/_mock/webhooks", json=hook, headers={"Authorization": f"Bearer {KEY}"})
            assert registered.status_code == 200
            with openai.OpenAI(base_url=f"{proxy.url}/v1/slow", api_key=KEY, max_retries=0) as sdk:
                ack = sdk.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": "hi"}],
                                                  metadata={"webhook_id": "hook1"})  # fmt: skip
            assert arrived.wait(30), "the webhook reached the application through the proxy"
            with httpx.Client(base_url=f"{proxy.url}/v1", headers={"Authorization": f"Bearer {KEY}"}) as plain:
                _wait(plain, ack.id)
            assert judged.wait(30), "the proxy judged the delivery"
    # Read once the proxy has stopped: an answer's bytes reach the client a moment before the proxy judges them.
    outcomes = {r.rule.id: r.outcome for r in proxy.judge.results()}
    assert received[0]["generation_id"] == ack.id
    assert outcomes["HOOK-PAYLOAD"] is Outcome.HELD, "the event's shape, and its data against the record read"
    assert outcomes["HOOK-HEADERS"] is Outcome.HELD


def test_no_false_alarm_against_a_docs_shaped_api() -> None:
    """A server written from the public docs only (no hints, no record id, its own ids and habits): traffic an
    SDK application sends through the proxy to it yields no finding on either side."""
    from tests.docs_server import Habits, create_app

    habits = Habits(completion_delay=0.4)
    key = habits.keys[0]
    with serve_in_background(create_app(habits), name="docs-shaped API") as url, _proxy(url + "/v1") as (proxy, found):
        with (
            openai.OpenAI(base_url=f"{proxy.url}/v1/slow", api_key=key, max_retries=0) as sdk,
            httpx.Client(base_url=f"{proxy.url}/v1", headers={"Authorization": f"Bearer {key}"}) as plain,
        ):
            ids = [
                sdk.chat.completions.create(
                    model="inference-net/load-test", max_tokens=8, messages=[{"role": "user", "content": "hi"}]
                ).id,  # fmt: skip
                sdk.completions.create(model="inference-net/load-test", prompt="Once", max_tokens=4).id,
            ]
            states = [_wait(plain, generation_id)["state"] for generation_id in ids]
        judge = proxy.judge
    assert states == ["Success", "Success"]
    assert found == [], [f.message for f in found]
    held = {r.rule.id for r in judge.results() if r.outcome is Outcome.HELD}
    assert {"ACK-SHAPE", "LIFE-RECORD-SCHEMA", "LIFE-STATES-FORWARD", "LIFE-REQUEST-ECHO", "LIFE-RESPONSE-ID"} <= held


Scrape = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def _scrape(url: str, ready: Callable[[Scrape], bool]) -> Scrape:
    """Scrapes until ``ready`` (the proxy judges an exchange just after relaying its answer), for 10 s at most."""
    deadline = time.monotonic() + 10
    while True:
        text = httpx.get(url, headers={"Accept": "application/openmetrics-text; version=1.0.0"}, timeout=10).text
        found = {
            (sample.name, tuple(sorted(sample.labels.items()))): sample.value
            for family in text_string_to_metric_families(text)
            for sample in family.samples
        }
        if ready(found) or time.monotonic() > deadline:
            return found
        time.sleep(0.05)  # a scrape interval


def test_the_proxy_serves_live_figures_of_the_traffic_it_relays() -> None:
    with mock_in_background(_settings()) as url, _proxy(url + "/v1", metrics_port="127.0.0.1:0") as (proxy, _):
        assert proxy.metrics_url is not None
        with httpx.Client(base_url=f"{proxy.url}/v1", headers={"Authorization": f"Bearer {KEY}"}, timeout=30) as app:
            body = {"model": MODEL, "messages": [{"role": "user", "content": "hi"}], "max_tokens": 8}
            ids = [app.post("/slow/chat/completions", json=body).json()["id"] for _ in range(3)]
            refused = app.post("/slow/chat/completions", json={"model": MODEL})  # no messages: a 4xx
            submitted = _scrape(proxy.metrics_url, lambda s: s[("slowcheck_submissions_offered_total", ())] >= 4)
            records = [_wait(app, generation_id) for generation_id in ids]
        done = _scrape(proxy.metrics_url, lambda s: s[("slowcheck_e2e_seconds_count", ())] >= 3)
    assert 400 <= refused.status_code < 500
    assert submitted[("slowcheck_submissions_offered_total", ())] == 4
    assert submitted[("slowcheck_submissions_accepted_total", ())] == 3
    assert submitted[("slowcheck_errors_total", (("request", "submit"),))] == 1
    assert submitted[("slowcheck_jobs_in_flight", (("state", "acknowledged"),))] == 3, "followed, none read yet"
    finished = [record["state"] for record in records]
    assert done[("slowcheck_completions_total", (("state", "Success"),))] == finished.count("Success")
    assert sum(v for (name, _), v in done.items() if name == "slowcheck_completions_total") == 3
    assert not any(v for (name, _), v in done.items() if name == "slowcheck_jobs_in_flight"), "none left in flight"
    assert done[("slowcheck_polls_total", ())] >= 3
    assert done[("slowcheck_e2e_seconds_count", ())] == 3
    assert done[("slowcheck_e2e_seconds", (("quantile", "0.5"),))] > 0
