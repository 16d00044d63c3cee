"""The hostile corpus (``slowcheck.hostile``, the same table the ROBUST-* rules send) against the mock on a
real socket: a 4xx with the envelope, or an ack where the body is odd but valid; never a 5xx or a reset; what
is stored stays as it was; and no error message echoes what was sent at length."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from slowcheck import _json
from slowcheck.hostile import CASE_HEADER, Hostile, corpus
from slowcheck.mock.server import mock_in_background
from slowcheck.schemas import schema_set
from tests.mock.conftest import CHAT, KEY, fast

pytestmark = pytest.mark.slow  # the mock served on a real socket
MODEL = "inference-net/load-test"
CASES = corpus(MODEL)


@pytest.fixture(scope="module")
def client() -> Iterator[httpx.Client]:
    with mock_in_background(fast(port=0, api_keys=[KEY], models=[MODEL])) as url:
        with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {KEY}"}, timeout=30) as client:
            yield client


def send(client: httpx.Client, case: Hostile) -> httpx.Response:
    merged = {"Content-Type": "application/json", CASE_HEADER: case.id} | case.headers
    headers = {name: value for name, value in merged.items() if value is not None}
    return client.request(case.method, case.path, content=case.body, headers=headers)


@pytest.mark.parametrize("case", CASES, ids=[case.id for case in CASES])
def test_every_hostile_request_gets_a_readable_answer(client: httpx.Client, case: Hostile) -> None:
    stored = client.post("/v1/slow/chat/completions", json=CHAT | {"model": MODEL}).json()["id"]
    before = client.get(f"/v1/generation/{stored}").json()["request"]
    answer = send(client, case)
    assert answer.status_code < 500, answer.text[:300]
    if 200 <= answer.status_code < 300:
        assert case.accepted == "fine", f"{case.what} was accepted: {answer.text[:200]}"
        record = client.get(f"/v1/generation/{answer.json()['id']}").json()
        assert record["request"] == _json.loads(case.body or b""), "an odd but valid body is stored exactly"
    else:
        assert 400 <= answer.status_code < 500
        assert schema_set().errors("error", answer.json()) == [], answer.text[:300]
        assert answer.headers["content-type"] == "application/json"
        message = answer.json()["error"]["message"]
        assert len(message) <= 400, "an error message never grows with what was sent"
        assert len(answer.content) < 1000
    assert client.get(f"/v1/generation/{stored}").json()["request"] == before, "nothing stored changed"


def test_the_issue_table_rerun(client: httpx.Client) -> None:
    """The four requests that answered 500 or echoed their input before: each a 400 naming what is wrong."""
    by_id = {case.id: case for case in CASES}
    answers = {case_id: send(client, by_id[case_id]) for case_id in
               ("arrays-100000-deep", "lone-high-surrogate", "metadata-900-deep", "integer-5000-digits")}  # fmt: skip
    assert {case_id: a.status_code for case_id, a in answers.items()} == dict.fromkeys(answers, 400)
    assert answers["arrays-100000-deep"].json()["error"]["code"] == "too_deep"
    assert answers["metadata-900-deep"].json()["error"]["code"] == "too_deep"
    assert "surrogate" in answers["lone-high-surrogate"].json()["error"]["message"]
