"""The server's hints on when to ask again, read one way by the contract suite and the load harness."""

from __future__ import annotations

import email.utils
import time

import pytest

from slowcheck.hints import hint_seconds


@pytest.mark.parametrize(
    ("headers", "seconds"),
    [
        ({"openai-poll-after-ms": "1500"}, 1.5),
        ({"retry-after-ms": "250"}, 0.25),
        ({"retry-after": "3"}, 3.0),
        ({"retry-after": "2", "openai-poll-after-ms": "500"}, 0.5),
        ({"openai-poll-after-ms": "later", "retry-after": "4"}, 4.0),
        ({"retry-after": "-5"}, 0.0),
        ({}, None),
        ({"retry-after": "whenever"}, None),
    ],
)
def test_each_header_is_read_alone_and_the_first_readable_wins(headers: dict[str, str], seconds: float | None) -> None:
    assert hint_seconds(headers) == seconds


def test_retry_after_may_be_an_http_date() -> None:
    when = email.utils.formatdate(time.time() + 30, usegmt=True)
    assert hint_seconds({"retry-after": when}) == pytest.approx(30, abs=2)
