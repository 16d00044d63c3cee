"""A body over the limit gets its 413 through every client, those that send it all before reading included."""

from __future__ import annotations

import http.client
import json
import urllib.error
import urllib.request
from collections.abc import Iterator
from urllib.parse import urlsplit

import pytest

from slowcheck.mock.server import mock_in_background
from tests.mock.conftest import CHAT, KEY, fast

pytestmark = pytest.mark.slow  # the mock served on a real socket
HEADERS = {"Authorization": f"Bearer {KEY}", "Content-Type": "application/json"}
BIG = json.dumps(CHAT | {"messages": [{"role": "user", "content": "x" * (12 * 1024 * 1024)}]}).encode()
"""12 MB: three times the default limit, and more than any socket buffer holds."""


@pytest.fixture(scope="module")
def url() -> Iterator[str]:
    with mock_in_background(fast(port=0, max_body_bytes=1024 * 1024)) as base:
        yield base


def test_urllib_sending_the_whole_body_first_reads_the_413(url: str) -> None:
    """Python's urllib (and requests, which the API's own examples use) write everything, then read."""
    request = urllib.request.Request(url + "/v1/slow/chat/completions", data=BIG, headers=HEADERS, method="POST")
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(request, timeout=30)
    assert refused.value.code == 413
    error = json.loads(refused.value.read())["error"]
    assert error["code"] == "request_too_large"


def test_a_chunked_body_over_the_limit_reads_the_413_too(url: str) -> None:
    parts = urlsplit(url)
    connection = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port, timeout=30)
    chunks = (BIG[i : i + 65536] for i in range(0, len(BIG), 65536))
    connection.request("POST", "/v1/slow/chat/completions", body=chunks, headers=HEADERS, encode_chunked=True)
    answer = connection.getresponse()
    assert answer.status == 413
    assert json.loads(answer.read())["error"]["type"] == "invalid_request_error"
    connection.close()


def test_the_connection_serves_the_next_request_after_a_413(url: str) -> None:
    parts = urlsplit(url)
    connection = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port, timeout=30)
    connection.request("POST", "/v1/slow/chat/completions", body=BIG, headers=HEADERS)
    first = connection.getresponse()
    first.read()
    assert first.status == 413
    connection.request("POST", "/v1/slow/chat/completions", body=json.dumps(CHAT).encode(), headers=HEADERS)
    second = connection.getresponse()
    assert second.status == 200, "the refused body was read to its end: the connection is still in step"
    assert json.loads(second.read())["id"]
    connection.close()
