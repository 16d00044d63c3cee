"""The docs-shaped server's habits (issue 24), each shown through its HTTP answers: a load balancer's transient
answers, failed generations, rate limits of three shapes, a lagging replica, a lax and a strict validator, the
batch host's upload interval. Time is an injected clock: nothing here sleeps."""

from __future__ import annotations

import io
import json
from typing import Any

import pytest
from starlette.testclient import TestClient

from tests.docs_server import FAILED_MESSAGE, Habits, create_app, create_batch_app

KEY, OTHER = Habits().keys
CHAT = "/v1/slow/chat/completions"
TEXT = "/v1/slow/completions"
MODEL = "inference-net/load-test"
BODY = {"model": MODEL, "messages": [{"role": "user", "content": "hi"}], "max_tokens": 8}


class Clock:
    """Epoch seconds that move only when told; starts on a multiple of every window used here."""

    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


def client(app: Any, key: str = KEY) -> TestClient:
    return TestClient(app, headers={"Authorization": f"Bearer {key}"})


def test_requests_counts_every_request_the_server_saw_and_the_other_counters_stay_at_zero() -> None:
    app = create_app(Habits())
    with client(app) as api:
        assert api.post(CHAT, json=BODY).status_code == 200
        assert api.get("/v1/models", headers={"Authorization": "Bearer sk-wrong"}).status_code == 401
        assert api.get("/v1/no/such/path").status_code == 404
        assert api.post(CHAT, headers={"x-big": "x" * 20_000}, json=BODY).status_code == 431
    assert app.state.sent == {"requests": 4, "transient": 0, "429": 0, "failed": 0}


def statuses(seed: int, count: int = 400) -> list[int]:
    app = create_app(Habits(transient=0.03, seed=seed))
    with client(app) as api:
        found = [api.get("/v1/models").status_code for _ in range(count)]
    assert app.state.sent["transient"] == sum(s != 200 for s in found)
    assert app.state.sent["requests"] == count
    return found


def test_a_seeded_transient_share_repeats_its_pattern_and_answers_about_that_share_in_nginx_html() -> None:
    first = statuses(seed=1)
    assert statuses(seed=1) == first, "the same seed, the same pattern"
    assert statuses(seed=2) != first
    refused = [s for s in first if s != 200]
    assert set(refused) <= {502, 503, 504}
    assert 4 <= len(refused) <= 24, f"about 3 % of 400, not {len(refused)}"
    assert refused.count(503) > len(refused) / 2
    everything = statuses(seed=7, count=300) + statuses(seed=8, count=300)
    assert {502, 503, 504} <= set(everything), "sometimes 502 or 504 too"

    with client(create_app(Habits(transient=1.0))) as api:
        page = api.post(CHAT, json=BODY)
    assert page.status_code in (502, 503, 504)
    assert page.headers["content-type"] == "text/html"
    assert "<center>nginx</center>" in page.text


def test_a_submit_the_balancer_answered_creates_no_generation_and_habits_combine() -> None:
    """Transient answers never reach the gateway's limit nor the API; what the limit admits becomes
    generations, every one of them failing here."""
    clock = Clock()
    app = create_app(Habits(transient=0.3, seed=5, failed=1.0, rate_limit=10, rate_window=60, clock=clock))
    with client(app) as api:
        found = [api.post(CHAT, json=BODY) for _ in range(40)]
    codes = [answer.status_code for answer in found]
    sent = app.state.sent
    assert sent["requests"] == 40
    assert codes.count(200) == 10, codes
    assert sent["failed"] == 10, "a generation for each ack, none for a transient answer"
    assert sent["transient"] == sum(c in (502, 503, 504) for c in codes) > 0
    assert sent["429"] == codes.count(429) == 40 - 10 - sent["transient"]


def test_a_failed_share_of_one_gives_failed_records_as_the_docs_describe_them() -> None:
    clock = Clock()
    app = create_app(Habits(failed=1.0, completion_delay=0.05, clock=clock))
    with client(app) as api:
        generation = api.post(CHAT, json=BODY).json()["id"]
        group = api.post("/v1/slow/group/completions", json={"requests": [{"model": MODEL, "prompt": "x"}]}).json()
        assert api.get(f"/v1/generation/{generation}").json()["state"] == "Queued"
        clock.now += 0.05
        record = api.get(f"/v1/generation/{generation}").json()
        listed = api.get(f"/v1/slow/group/{group['groupId']}/generations").json()["generations"]
    assert record["state"] == "Failed"
    assert record["stateMessage"] == FAILED_MESSAGE
    assert record["finishedAt"].endswith("Z")
    assert "response" not in record
    assert record["request"] == BODY
    assert [item["state"] for item in listed] == ["Failed"]
    assert app.state.sent["failed"] == 2


def test_a_failed_share_is_seeded_and_decided_at_submission() -> None:
    def fates(seed: int) -> list[str]:
        clock = Clock()
        with client(create_app(Habits(failed=0.1, seed=seed, completion_delay=0.05, clock=clock))) as api:
            ids = [api.post(CHAT, json=BODY).json()["id"] for _ in range(200)]
            clock.now += 1
            return [api.get(f"/v1/generation/{i}").json()["state"] for i in ids]

    found = fates(3)
    assert fates(3) == found
    assert set(found) == {"Success", "Failed"}
    assert 8 <= found.count("Failed") <= 35


def test_a_fixed_window_of_5_per_2_s_answers_the_6th_with_429_and_retry_after() -> None:
    clock = Clock()
    clock.now += 0.5
    app = create_app(Habits(rate_limit=5, rate_window=2, clock=clock))
    with client(app) as api:
        generation = api.post(CHAT, json=BODY).json()["id"]
        assert [api.get(f"/v1/generation/{generation}").status_code for _ in range(3)] == [200] * 3  # polls count
        assert api.get("/v1/models").status_code == 200
        refused = api.post(CHAT, json=BODY)
        assert api.get("/v1/models", headers={"Authorization": f"Bearer {OTHER}"}).status_code == 200, "per key"
        clock.now += 1.4
        assert api.get("/v1/models").headers["retry-after"] == "1", "0.1 s rounds up to 1"
        clock.now += 0.1
        assert api.get("/v1/models").status_code == 200, "a new window"
    assert refused.status_code == 429
    assert refused.headers["retry-after"] == "2", "1.5 s to the window's end, rounded up"
    assert refused.json() == {
        "error": {
            "message": "Rate limit reached: 5 requests per 2 s.",
            "type": "rate_limit_error",
            "param": None,
            "code": "rate_limit_exceeded",
        }
    }
    assert not [h for h in refused.headers if h.startswith("x-ratelimit")]
    assert app.state.sent["429"] == 2
    assert app.state.sent["requests"] == 9


def test_a_sliding_window_counts_the_last_window_whatever_its_alignment() -> None:
    clock = Clock()
    app = create_app(Habits(rate_limit=3, rate_window=10, rate_kind="sliding", clock=clock))
    seen = []
    with client(app) as api:
        for at in (0, 4, 8, 9, 10, 11, 14):
            clock.now = 1_000_000.0 + at
            answer = api.get("/v1/models")
            seen.append((at, answer.status_code, answer.headers.get("retry-after")))
    assert seen == [
        (0, 200, None),
        (4, 200, None),
        (8, 200, None),
        (9, 429, "1"),  # the request at 0 leaves the window at 10
        (10, 200, None),
        (11, 429, "3"),  # the one at 4 leaves at 14
        (14, 200, None),
    ]


def test_a_token_bucket_refills_at_its_rate_up_to_its_capacity() -> None:
    clock = Clock()
    app = create_app(Habits(rate_limit=4, rate_window=2, rate_kind="bucket", clock=clock))
    with client(app) as api:

        def burst() -> list[int]:
            return [api.get("/v1/models").status_code for _ in range(5)]

        assert burst() == [200, 200, 200, 200, 429], "full at first: 4 tokens"
        clock.now += 0.25
        refused = api.get("/v1/models")
        assert refused.status_code == 429
        assert refused.headers["retry-after"] == "1", "half a token short at 2 a second: 0.25 s, rounded up"
        clock.now += 0.25
        assert api.get("/v1/models").status_code == 200, "one token back after 0.5 s"
        clock.now += 60
        assert burst() == [200, 200, 200, 200, 429], "a long pause refills to the capacity, no more"
    assert app.state.sent["429"] == 3


def test_every_third_read_of_a_finished_generation_answers_it_in_progress() -> None:
    clock = Clock()
    with client(create_app(Habits(flap_every=3, completion_delay=0.05, clock=clock))) as api:
        generation = api.post(CHAT, json=BODY).json()["id"]
        before = [api.get(f"/v1/generation/{generation}").json()["state"] for _ in range(3)]
        clock.now += 0.05
        reads = [api.get(f"/v1/generation/{generation}").json() for _ in range(6)]
    assert before == ["Queued"] * 3, "reads before the end do not count"
    assert [r["state"] for r in reads] == ["Success", "Success", "In Progress"] * 2
    lagging = reads[2]
    assert lagging["finishedAt"] is None
    assert "response" not in lagging
    assert lagging["stateMessage"] == "In progress"
    assert reads[3]["response"] == reads[0]["response"]


def deep_metadata(depth: int) -> bytes:
    head = json.dumps(BODY)[:-1] + ', "metadata": '
    return head.encode() + b'{"a": ' * depth + b'"x"' + b"}" * depth + b"}"


def test_lax_accepts_900_deep_metadata_and_max_tokens_as_a_string() -> None:
    clock = Clock()
    json_body = {"Content-Type": "application/json"}
    with client(create_app(Habits(lax=True, completion_delay=0.05, clock=clock))) as api:
        deep = api.post(CHAT, content=deep_metadata(900), headers=json_body)
        deeper_still = api.post(CHAT, content=deep_metadata(2500), headers=json_body)
        texty = api.post(CHAT, json=BODY | {"max_tokens": "3"})
        deeper = api.post(CHAT, content=b'{"model": "x", "a": ' + b"[" * 100_000 + b"]" * 100_000 + b"}")
        clock.now += 1
        record = api.get(f"/v1/generation/{texty.json()['id']}").json()
        echoed = api.get(f"/v1/generation/{deep.json()['id']}").json()["request"]["metadata"]
    assert deep.status_code == 200, deep.text
    assert deeper_still.status_code == 200, "beyond the standard library's recursion limit too"
    assert texty.status_code == 200, texty.text
    assert record["request"]["max_tokens"] == "3", "stored as sent"
    assert record["response"]["usage"]["completion_tokens"] == 3
    depth = 0
    while isinstance(echoed, dict):
        echoed, depth = echoed["a"], depth + 1
    assert depth == 900
    assert deeper.status_code == 400, "still a limit, answered"

    with client(create_app(Habits())) as api:
        assert api.post(CHAT, json=BODY | {"max_tokens": "3"}).json()["error"]["param"] == "max_tokens"
        assert api.post(CHAT, content=deep_metadata(900), headers=json_body).status_code == 400


@pytest.mark.parametrize(
    ("path", "change", "param"),
    [
        (TEXT, {"prompt": []}, "prompt"),
        (TEXT, {"prompt": [[1, 2], [3]]}, "prompt"),
        (CHAT, {"messages": [{"role": "user", "content": None}]}, "messages[0].content"),
        (
            CHAT,
            {"messages": [{"role": "user", "content": "a"}, {"role": "function", "name": "f", "content": "b"}]},
            "messages[1].role",
        ),  # fmt: skip
        (CHAT, {"n": 1.0}, "n"),
        (CHAT, {"logit_bias": {"50256": -100}}, "logit_bias"),
        (CHAT, {"surprise": True}, "surprise"),
    ],
    ids=["empty-prompt", "token-arrays", "null-content", "function-role", "n-float", "logit-bias", "unknown-key"],
)
def test_strict_refuses_what_openai_accepts_naming_the_param(path: str, change: dict[str, Any], param: str) -> None:
    body = {"model": MODEL, "max_tokens": 4} | ({"prompt": "x"} if path == TEXT else {"messages": BODY["messages"]})
    with client(create_app(Habits(strict=True))) as api:
        refused = api.post(path, json=body | change)
    assert refused.status_code == 400
    error = refused.json()["error"]
    assert error["param"] == param
    assert error["type"] == "invalid_request_error"
    assert error["message"]
    if param not in ("n",):
        with client(create_app(Habits())) as api:
            assert api.post(path, json=body | change).status_code == 200, "the default server accepts it"


def test_strict_still_accepts_what_clients_commonly_send() -> None:
    messages = [
        {"role": "developer", "content": "Be brief."},
        {"role": "system", "content": "You are helpful."},
        {"role": "user", "content": "Weather?"},
        {"role": "assistant", "content": "Calling.", "tool_calls": [
            {"id": "c1", "type": "function", "function": {"name": "w", "arguments": "{}"}}]},
        {"role": "tool", "tool_call_id": "c1", "content": "sunny"},
    ]  # fmt: skip
    with client(create_app(Habits(strict=True))) as api:
        chat = api.post(CHAT, json={"model": MODEL, "messages": messages, "temperature": 0.5, "metadata": {"a": "b"}})
        text = api.post(
            TEXT, json={"model": MODEL, "prompt": ["one", "two"], "stop": ["\n"], "metadata": {"custom_id": "c"}}
        )
    assert chat.status_code == 200, chat.text
    assert text.status_code == 200, text.text


def upload(api: TestClient, key: str = KEY) -> Any:
    line = {"custom_id": "a", "method": "POST", "url": "/v1/chat/completions", "body": BODY}
    content = io.BytesIO((json.dumps(line) + "\n" + json.dumps(line | {"custom_id": "b"}) + "\n").encode())
    return api.post(
        "/v1/files",
        files={"file": ("in.jsonl", content)},
        data={"purpose": "batch"},
        headers={"Authorization": f"Bearer {key}"},
    )


def test_the_batch_host_takes_one_upload_a_minute_per_key() -> None:
    clock = Clock()
    app = create_batch_app(Habits(upload_interval=60, clock=clock))
    with client(app) as api:
        assert upload(api).status_code == 200
        clock.now += 10
        refused = upload(api)
        assert upload(api, OTHER).status_code == 200, "per key"
        clock.now += 50
        assert upload(api).status_code == 200
    assert refused.status_code == 429
    assert refused.headers["retry-after"] == "50"
    assert refused.json()["error"]["code"] == "rate_limit_exceeded"
    assert app.state.sent["429"] == 1
    assert app.state.sent["requests"] == 4


def test_the_batch_host_fails_lines_flaps_and_meets_the_balancer_too() -> None:
    clock = Clock()
    app = create_batch_app(Habits(failed=1.0, flap_every=2, completion_delay=0.05, clock=clock))
    with client(app) as api:
        file_id = upload(api).json()["id"]
        batch = api.post("/v1/batches", json={"input_file_id": file_id, "endpoint": "/v1/chat/completions",
                                              "completion_window": "24h"}).json()  # fmt: skip
        clock.now += 1
        reads = [api.get(f"/v1/batches/{batch['id']}").json() for _ in range(4)]
        errors = api.get(f"/v1/files/{reads[0]['error_file_id']}/content").text.splitlines()
    assert [r["status"] for r in reads] == ["completed", "in_progress"] * 2
    assert reads[0]["request_counts"] == {"total": 2, "completed": 0, "failed": 2}
    assert reads[0]["output_file_id"] is None
    assert reads[1]["error_file_id"] is None
    assert sorted(json.loads(line)["custom_id"] for line in errors) == ["a", "b"]
    assert {json.loads(line)["response"]["status_code"] for line in errors} == {500}
    assert app.state.sent["failed"] == 2

    balanced = create_batch_app(Habits(transient=1.0, rate_limit=1))
    with client(balanced) as api:
        assert api.get("/v1/batches").headers["content-type"] == "text/html"
    assert balanced.state.sent == {"requests": 1, "transient": 1, "429": 0, "failed": 0}
