"""The record checks on their own: each judges one read against what was sent, the ack and the read before."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

import pytest
from hypothesis import given, strategies as st

from slowcheck.checks import criterion, records
from slowcheck.checks.records import CLOCK_SLACK_S, ON_EVERY_READ, Read, Sent, reads
from slowcheck.findings import Deviation, Violation

CREATED = 1_800_000_000_000  # 2027-01-15T08:00:00Z, in ms
BODY = {"model": "m", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 5}
SENT = Sent("G1", "chat", BODY, CREATED)
EVERY_RECORD_CHECK = (*ON_EVERY_READ, records.length_at_limit, records.response_model)


def success(**fields: Any) -> dict[str, Any]:
    response = {
        "id": "G1", "object": "chat.completion", "created": 1_800_000_002, "model": "m",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": "ok"}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 5, "completion_tokens": 3, "total_tokens": 8},
    }  # fmt: skip
    return {"state": "Success", "stateMessage": "done", "request": BODY, "response": response,
            "dispatchedAt": "2027-01-15T08:00:01.000Z", "finishedAt": "2027-01-15T08:00:02.000Z"} | fields  # fmt: skip


def messages(check: Any, *records_read: dict[str, Any], sent: Sent = SENT) -> list[str]:
    found = (check(read) for read in reads(sent, records_read))
    return [f.message for f in found if f is not None]


@pytest.mark.parametrize(
    ("states", "expected"),
    [
        pytest.param(["Queued", "In Progress", "Success"], [], id="forward"),
        pytest.param(["Queued", "Queued", "Failed"], [], id="repeated-then-failed"),
        pytest.param(["In Progress", "Queued", "In Progress"], ["G1: went from In Progress to Queued"], id="back"),
        pytest.param(["Success", "In Progress"], ["G1: went from Success to In Progress"], id="out-of-terminal"),
        pytest.param(["Failed", "Success"], ["G1: went from Failed to Success"], id="terminal-to-terminal"),
        pytest.param(["Queued", None, "Queued"], ["G1: went from Queued to None"], id="no-state-in-between"),
    ],
)
def test_states_only_move_forward(states: list[Any], expected: list[str]) -> None:
    assert messages(records.states_forward, *({"state": s} for s in states)) == expected


def test_the_first_read_has_no_step_to_judge() -> None:
    first = Read({"state": "Success"}, SENT)
    assert not criterion(records.states_forward).applies(first)
    assert records.states_forward(first) is None


def _times(dispatched: float | None, finished: float | None, zone: str = "Z") -> dict[str, Any]:
    """A Success record, its times in seconds after the ack's created."""

    def iso(after: float | None) -> str | None:
        if after is None:
            return None
        moment = datetime.fromtimestamp(CREATED / 1000 + after, timezone.utc)
        return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}{zone}"

    return success(dispatchedAt=iso(dispatched), finishedAt=iso(finished))


@pytest.mark.parametrize(
    ("record", "problem"),
    [
        pytest.param(_times(1.0, 2.0), None, id="in-order"),
        pytest.param(_times(-(CLOCK_SLACK_S - 0.1), 2.0), None, id="dispatched-a-little-before-created"),
        pytest.param(_times(-(CLOCK_SLACK_S + 0.1), 2.0), "dispatchedAt is more than 5 s", id="seconds-off"),
        pytest.param(_times(1.0, -(CLOCK_SLACK_S + 1)), "finishedAt is more than 5 s", id="finished-before-created"),
        pytest.param(_times(2.0, 1.0), "finishedAt is before dispatchedAt", id="finished-before-dispatched"),
        pytest.param(_times(1.0, 2.0, zone=""), "not an ISO-8601 time with a zone", id="zone-missing"),
        pytest.param(_times(None, 2.0), None, id="no-dispatchedAt"),
        pytest.param(_times(1.0, None), "a Success record without finishedAt", id="no-finishedAt"),
        pytest.param(success(finishedAt="2027-01-15T10:00:02.000+02:00"), None, id="another-zone"),
        pytest.param(success(dispatchedAt="yesterday"), "dispatchedAt is not an ISO-8601", id="not-a-time"),
    ],
)
def test_timestamps(record: dict[str, Any], problem: str | None) -> None:
    found = records.timestamps(Read(record, SENT))
    if problem is None:
        assert found is None, found
    else:
        assert found is not None
        assert problem in found.message


def test_timestamps_judge_terminal_records_only_and_a_failed_one_without_finishedAt_promises_nothing() -> None:
    early = {"state": "In Progress", "dispatchedAt": "2001-01-01T00:00:00Z", "finishedAt": None}
    assert not criterion(records.timestamps).applies(Read(early, SENT))
    assert records.timestamps(Read(early, SENT)) is None
    assert records.timestamps(Read({"state": "Failed", "finishedAt": None}, SENT)) is None
    assert records.timestamps(Read({"state": "Failed", "finishedAt": "2001-01-01T00:00:00Z"}, SENT)) is not None


def test_without_a_created_the_client_clock_is_the_submission_time() -> None:
    assert Sent.of({"id": "G1", "created": CREATED}, "chat", BODY, 5.0).created_ms == CREATED
    for created in (None, True, "1800000000000"):
        assert Sent.of({"id": "G1", "created": created}, "chat", BODY, 5.0).created_ms == 5.0
    assert Sent.of({"id": "G1"}, "chat", ["not", "a", "dict"], 5.0).body is None


def test_the_response_checks_judge_a_success_of_a_completion_only() -> None:
    broken = success(response={"id": "other", "choices": [{"index": 5, "finish_reason": "eos"}], "usage": {}})
    for check in (records.response_id, records.choices_n, records.usage_sum, records.finish_reason):
        assert check(Read(broken, SENT)) is not None, check.__name__
        assert check(Read(broken | {"state": "Failed"}, SENT)) is None, "a Failed record has no result"
        assert check(Read(broken, Sent("G1", "embedding", BODY, CREATED))) is None, "an embedding is not a completion"
        assert check(Read(broken)) is None, "a record whose submission was not seen"


def test_the_token_limit_is_n_times_the_limit_and_max_completion_tokens_first() -> None:
    used = success(response=success()["response"] | {"usage": {"completion_tokens": 9}})
    assert records.token_limit(Read(used, SENT)) is not None
    assert records.token_limit(Read(used, Sent("G1", "chat", BODY | {"n": 2}, CREATED))) is None
    assert records.token_limit(Read(used, Sent("G1", "chat", BODY | {"max_completion_tokens": 10}, CREATED))) is None
    assert records.token_limit(Read(used, Sent("G1", "chat", BODY | {"max_tokens": "5"}, CREATED))) is None


def test_the_request_echo_allows_keys_the_server_adds_but_not_a_changed_one() -> None:
    assert records.request_echo(Read(success(request=BODY | {"temperature": 1}), SENT)) is None
    assert records.request_echo(Read(success(request=BODY | {"max_tokens": 6}), SENT)) is not None
    assert records.request_echo(Read(success(request="a string"), SENT)) is not None


def test_the_deviation_checks_grade_their_findings_deviations() -> None:
    queued = {"state": "Queued", "dispatchedAt": "2027-01-15T08:00:01.000Z"}
    assert isinstance(records.dispatched_at(Read(queued, SENT)), Deviation)
    renamed = success(response=success()["response"] | {"model": "alias"})
    assert isinstance(records.response_model(Read(renamed, SENT)), Deviation)
    assert type(records.response_id(Read(success(response=renamed["response"] | {"id": "x"}), SENT))) is Violation


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=5),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
    max_leaves=8,
)
FIELDS = ("state", "request", "response", "dispatchedAt", "finishedAt", "stateMessage", "id")


@given(
    record=st.dictionaries(st.sampled_from(FIELDS), JSON | st.sampled_from(["Success", "Failed", "Queued"])),
    body=st.none() | st.dictionaries(st.sampled_from(["n", "max_tokens", "max_completion_tokens", "model"]), JSON),
    previous=st.none() | st.sampled_from(["Queued", "In Progress", "Success", "Failed", "odd"]),
)
def test_every_check_judges_any_record_without_raising(record: dict[str, Any], body: Any, previous: Any) -> None:
    read = Read(record, Sent("G1", "chat", body, CREATED), previous)
    for check in EVERY_RECORD_CHECK:
        assert isinstance(criterion(check).applies(read), bool)
        found = check(read)
        assert found is None or isinstance(found, Violation)
