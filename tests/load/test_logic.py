"""The load harness's logic without locust: policies, the poll book, reading answers, the workload.

Each test drives one module directly with a given clock and given answers, the way httpx tests client logic
with a mock transport; together they take well under a second.
"""

from __future__ import annotations

import random

import pytest

from slowcheck import _json, api
from slowcheck.load import answers
from slowcheck.load.policies import POLICIES, Adaptive, Doubling, Hinted, Policy, Webhook
from slowcheck.load.pollbook import PollBook
from slowcheck.load.samples import STATUS_TRANSPORT_ERROR, Samples, StrategySamples
from slowcheck.load.workload import bodies
from slowcheck.schemas import schema_set

ACK = _json.dumps(
    {"id": "N2mZQjrvh-k_m8nMMN7Jn", "object": "chat.completion", "created": 1750000000000, "model": "m", "choices": []}
)
JSON = {"content-type": "application/json"}
DONE = {"id": "g1", "state": "Success", "finishedAt": "2025-06-15T10:00:05.000Z"}


# -- policies


def test_the_strategies_are_named_as_the_reports_name_them() -> None:
    assert list(POLICIES) == ["fixed", "backoff", "hinted", "adaptive", "webhook"]


def test_fixed_polls_every_interval_whatever_the_answer() -> None:
    policy = Policy(2.0)
    assert policy.first() == 2.0
    assert [policy.next(n, {"openai-poll-after-ms": "100"}) for n in (1, 5)] == [2.0, 2.0]


def test_backoff_doubles_from_a_quarter_to_eight_intervals_with_jitter() -> None:
    policy = Doubling(1.0, random.Random(7))
    assert policy.first() == 0.25
    waits = {n: [policy.next(n, {}) for _ in range(200)] for n in (1, 2, 3, 10)}
    for attempt, ceiling in ((1, 0.5), (2, 1.0), (3, 2.0), (10, 8.0)):
        assert ceiling * 0.5 <= min(waits[attempt])
        assert max(waits[attempt]) <= ceiling
        assert max(waits[attempt]) - min(waits[attempt]) > ceiling * 0.3, "jittered, not a fixed step"


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({"openai-poll-after-ms": "1500"}, 1.505),
        ({"retry-after-ms": "250"}, 0.255),
        ({"retry-after": "3"}, 3.005),
        ({}, 1.0),
        ({"openai-poll-after-ms": "soon"}, 1.0),
    ],
)
def test_hinted_follows_the_server_else_the_interval(headers: dict[str, str], expected: float) -> None:
    assert Hinted(1.0).next(1, headers) == pytest.approx(expected)


def test_adaptive_follows_a_hint_and_backs_off_without_one() -> None:
    policy = Adaptive(4.0, random.Random(3))
    assert policy.first() == 1.0
    assert policy.next(9, {"openai-poll-after-ms": "200"}) == pytest.approx(0.205)
    silent = [policy.next(attempt, {}) for attempt in range(1, 12)]
    assert silent[0] <= 2.0
    assert 16.0 <= silent[-1] <= 32.0, "a real API sends no hints: the wait grows to eight intervals"


def test_webhook_polls_only_as_a_safety_net() -> None:
    assert Webhook(1.0).first() == 10.0
    assert Webhook(1.0).next(3, {"openai-poll-after-ms": "1"}) == 10.0


# -- the poll book


def book(policy: Policy | None = None) -> PollBook:
    return PollBook(policy or Policy(1.0), StrategySamples())


def test_a_poll_is_due_after_the_first_delay_and_not_before() -> None:
    polls = book()
    polls.add("g1", submitted_at=100.0, now=100.0)
    assert polls.wait(100.0) == 1.0
    assert polls.pop_due(100.5) is None
    item = polls.pop_due(101.0)
    assert item is not None
    assert item.generation_id == "g1"
    assert polls.wait(101.0) is None, "popped: nothing else is scheduled"


def test_a_terminal_answer_completes_with_the_detection_lag_inputs() -> None:
    polls = book()
    polls.add("g1", submitted_at=100.0, now=100.0)
    item = polls.pop_due(101.0)
    assert item is not None
    polls.polled(item)
    assert polls.answered(item, 200, JSON, {"state": "In Progress"}, 101.0) == "waiting"
    again = polls.pop_due(102.0)
    assert again is item
    polls.polled(item)
    assert polls.answered(item, 200, JSON, DONE, 102.0) == "terminal"
    assert polls.idle
    assert polls.wait(102.0) is None
    [row] = polls.samples.completions
    generation_id, submitted, seen, finished, count, state = row
    assert (generation_id, submitted, seen, count, state) == ("g1", 100.0, 102.0, 2, "Success")
    assert finished == pytest.approx(1749981605.0)
    assert (polls.samples.polls, polls.samples.wasted) == (2, 1)


@pytest.mark.parametrize(
    ("status", "reading", "counter"),
    [(404, "waiting", "wasted"), (429, "limited", "rate_limited"), (500, "error", "errors"), (0, "error", "errors")],
)
def test_each_answer_is_counted_once_where_it_belongs(status: int, reading: str, counter: str) -> None:
    polls = book()
    polls.add("g1", 0.0, now=0.0)
    item = polls.pop_due(1.0)
    assert item is not None
    assert polls.answered(item, status, JSON, None, 1.0) == reading
    counts = {name: getattr(polls.samples, name) for name in ("wasted", "rate_limited", "errors")}
    assert counts == {name: int(name == counter) for name in counts}
    assert polls.wait(1.0) == 1.0, "not terminal: polled again after the policy's delay"


def test_a_429_wait_binds_every_strategy_even_a_fixed_one() -> None:
    polls = book(Policy(1.0))
    polls.add("g1", 0.0, now=0.0)
    item = polls.pop_due(1.0)
    assert item is not None
    polls.answered(item, 429, {"retry-after": "7"}, None, 1.0)
    assert polls.wait(1.0) == 7.0


def test_a_webhook_before_the_ack_completes_the_generation_when_it_is_added() -> None:
    polls = book(Webhook(1.0))
    polls.deliver("g1", DONE, seen=50.0)
    assert polls.samples.completions == [], "no generation with that id is awaited yet"
    polls.add("g1", submitted_at=49.0, now=51.0)
    assert polls.idle, "completed by the early webhook"
    assert polls.pop_due(1e9) is None, "and never polled"
    assert [row[2] for row in polls.samples.completions] == [50.0]
    assert polls.samples.webhooks == 1


def test_a_late_poll_or_a_duplicate_webhook_completes_nothing_twice() -> None:
    polls = book()
    polls.add("g1", 0.0, now=0.0)
    item = polls.pop_due(1.0)
    assert item is not None
    polls.deliver("g1", DONE, seen=1.0)
    polls.deliver("g1", DONE, seen=1.5)
    assert polls.answered(item, 200, JSON, DONE, 2.0) == "terminal"
    assert len(polls.samples.completions) == 1
    assert polls.samples.webhooks == 2


def test_closing_counts_what_is_still_outstanding() -> None:
    polls = book()
    for n in range(3):
        polls.add(f"g{n}", 0.0, now=0.0)
    polls.close()
    assert polls.samples.unfinished == 3


# -- reading a submission's answer


def read(samples: Samples, status: int, content: bytes | None = ACK, *, ordinal: int = 1, every: int = 10, **kw):  # type: ignore[no-untyped-def]
    return answers.submission(
        samples, at=10.0, done=10.25, status=status, content=content, headers=kw.pop("headers", JSON),
        ordinal=ordinal, validate_every=every, **kw,
    )  # fmt: skip


@pytest.mark.parametrize(("every", "checked"), [(1, [1, 2, 3, 4, 5, 6]), (3, [1, 4]), (10, [1]), (0, [])])
def test_validate_every_checks_the_first_ack_and_every_nth_after(every: int, checked: list[int]) -> None:
    assert [n for n in range(1, 7) if answers.should_validate(n, every)] == checked


def test_an_ack_gives_its_id_and_latency_from_the_planned_arrival() -> None:
    samples = Samples()
    assert read(samples, 200) == ("N2mZQjrvh-k_m8nMMN7Jn", None)
    assert samples.submits == [[10.0, 250.0, 200]]
    assert (samples.acks_checked, samples.acks_invalid) == (1, 0)


def test_an_invalid_ack_is_a_problem_with_the_schema_message() -> None:
    samples = Samples()
    bad = _json.dumps({"id": "x", "object": "chat.completion", "created": 1750000000, "model": "m", "choices": []})
    read(samples, 200, bad, every=1)
    assert samples.acks_invalid == 1
    assert "created" in samples.ack_problems[0]


def test_a_2xx_without_an_id_is_lost_like_no_answer() -> None:
    samples = Samples()
    assert read(samples, 202, b"{}") == (None, "the ack has no id")
    assert samples.submits[0][2] == STATUS_TRANSPORT_ERROR
    assert samples.errors == {"HTTP 202 without an ack id": 1}


def test_a_429_is_counted_with_its_hint_and_envelope() -> None:
    samples = Samples()
    envelope = _json.dumps({"error": {"message": "slow down", "type": "rate_limit_error", "param": None, "code": None}})
    assert read(samples, 429, envelope, headers=JSON | {"retry-after": "1"}) == (None, "429 rate limited")
    assert dict(samples.limited) == {"count": 1, "retry_after": 1, "envelope_ok": 1}
    read(samples, 429, b"busy")
    assert dict(samples.limited) == {"count": 2, "retry_after": 1, "envelope_ok": 1}


_ENVELOPE = _json.dumps({"error": {"message": "boom", "type": "server_error", "param": None, "code": None}})


@pytest.mark.parametrize(
    ("status", "body", "reason"),
    [
        (500, _ENVELOPE, "HTTP 500"),
        (500, b"<html>oops</html>", "HTTP 500 (transient: a gateway's answer)"),
        (503, _ENVELOPE, "HTTP 503 (transient: a gateway's answer)"),
        (0, None, "no answer: ConnectionResetError"),
    ],
)
def test_other_answers_are_errors_by_reason(status: int, body: bytes | None, reason: str) -> None:
    samples = Samples()
    assert read(samples, status, body, error="ConnectionResetError") == (None, reason)
    assert samples.errors == {reason: 1}


# -- the workload


def test_the_workload_is_four_chats_to_one_text_each_schema_valid() -> None:
    sent = bodies("m", {"webhook_id": "hook"})
    assert [kind for kind, _ in sent] == ["chat"] * 4 + ["text"]
    schemas = schema_set()
    for kind, raw in sent:
        document = _json.loads(raw)
        assert document["metadata"] == {"webhook_id": "hook"}
        name = {"chat": "chat-completion-request", "text": "completion-request"}[kind]
        assert schemas.errors(name, document) == []
        assert kind in api.SUBMIT


@pytest.mark.parametrize("label", ["text/plain", "application/json", "application/problem+json; charset=utf-8"])
def test_an_ack_not_declared_json_is_lost_like_no_answer(label: str) -> None:
    samples = Samples()
    generation_id, failure = read(samples, 200, headers={"content-type": label})
    if label == "text/plain":
        assert (generation_id, failure) == (None, "HTTP 200 labelled text/plain")
        assert samples.submits[0][2] == STATUS_TRANSPORT_ERROR
        assert samples.errors == {"HTTP 200 labelled text/plain": 1}
    else:
        assert (generation_id, failure) == ("N2mZQjrvh-k_m8nMMN7Jn", None)
        assert not samples.errors


def test_a_terminal_record_not_declared_json_is_an_error_and_polled_again() -> None:
    polls = book()
    polls.add("g1", 0.0, now=0.0)
    item = polls.pop_due(1.0)
    assert item is not None
    assert polls.answered(item, 200, {"content-type": "text/plain"}, DONE, 1.0) == "mislabelled"
    assert polls.samples.errors == 1
    assert not polls.idle, "an SDK could not read it: still waiting"
    assert polls.wait(1.0) == 1.0
