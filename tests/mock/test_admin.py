"""Who may use /_mock: an API key sees its own data, the admin token everything; beyond loopback without a
token /_mock is off; webhooks registered there point at loopback unless a host is allowed."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from slowcheck.mock.command import banner
from slowcheck.mock.server import mock_in_background
from tests.mock.conftest import CHAT, fast

ONE, TWO = "sk-admin-test-one", "sk-admin-test-two"
TOKEN = "admin-token-7a1c"


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


@pytest.fixture
def serve() -> Iterator[Any]:
    """The mock on a real socket; ``host`` 0.0.0.0 is still reached through 127.0.0.1 (tests stay on loopback)."""
    stack: list[Any] = []

    def start(**overrides: Any) -> str:
        settings = fast(port=0, api_keys=[ONE, TWO], **overrides)
        stack.append(mock_in_background(settings))
        url: str = stack[-1].__enter__()
        return url.replace("0.0.0.0", "127.0.0.1")

    yield start
    for server in reversed(stack):
        server.__exit__(None, None, None)


def refused(answer: httpx.Response, status: int, code: str | None) -> None:
    assert answer.status_code == status, answer.text
    assert answer.json()["error"]["code"] == code


@pytest.mark.slow
def test_each_key_sees_only_its_own_statistics_and_generations(serve: Any) -> None:
    url = serve()
    for key, count in ((ONE, 3), (TWO, 1)):
        for _ in range(count):
            assert httpx.post(f"{url}/v1/slow/chat/completions", json=CHAT, headers=bearer(key)).status_code == 200
    theirs = httpx.post(f"{url}/v1/slow/chat/completions", json=CHAT, headers=bearer(TWO)).json()["id"]
    mine = httpx.get(f"{url}/_mock/stats", headers=bearer(ONE)).json()
    assert mine["totals"]["submissions"] == 3
    assert list(mine["by_key"]) == [mine["scope"]], "no other key's counts"
    assert sum(mine["generations"].values()) == 3
    assert not {"webhooks", "webhook_attempts"} & set(mine), "deliveries name URLs: the admin's only"
    refused(httpx.get(f"{url}/_mock/stats/generations/{theirs}", headers=bearer(ONE)), 404, "not_found")
    assert httpx.get(f"{url}/_mock/stats/generations/{theirs}", headers=bearer(TWO)).json()["polls"] == 0
    refused(httpx.get(f"{url}/_mock/stats"), 401, None)
    refused(httpx.get(f"{url}/_mock/stats", headers=bearer("sk-unknown")), 401, "invalid_api_key")


@pytest.mark.slow
def test_the_admin_token_sees_everything_and_alone_changes_the_webhooks(serve: Any) -> None:
    url = serve(admin_token=TOKEN)
    httpx.post(f"{url}/v1/slow/chat/completions", json=CHAT, headers=bearer(ONE))
    httpx.post(f"{url}/v1/slow/chat/completions", json=CHAT, headers=bearer(TWO))
    everything = httpx.get(f"{url}/_mock/stats", headers=bearer(TOKEN)).json()
    assert everything["totals"]["submissions"] == 2
    assert len(everything["by_key"]) == 2
    assert "webhooks" in everything
    hook = {"id": "wh_1", "url": "http://127.0.0.1:9/hook"}
    refused(httpx.post(f"{url}/_mock/webhooks", json=hook, headers=bearer(ONE)), 403, "admin_token_required")
    assert httpx.post(f"{url}/_mock/webhooks", json=hook, headers=bearer(TOKEN)).status_code == 200


@pytest.mark.slow
def test_beyond_loopback_without_a_token_the_admin_endpoints_are_off(serve: Any) -> None:
    url = serve(host="0.0.0.0")
    answer = httpx.get(f"{url}/_mock/stats", headers=bearer(ONE))
    refused(answer, 403, "admin_disabled")
    assert "--admin-token" in answer.json()["error"]["message"]
    hook = {"id": "wh_1", "url": "http://127.0.0.1:9/hook"}
    refused(httpx.post(f"{url}/_mock/webhooks", json=hook, headers=bearer(ONE)), 403, "admin_disabled")
    assert httpx.post(f"{url}/v1/slow/chat/completions", json=CHAT, headers=bearer(ONE)).status_code == 200, (
        "the API itself is served as always"
    )


@pytest.mark.slow
def test_beyond_loopback_with_a_token_keys_see_their_own_and_the_token_everything(serve: Any) -> None:
    url = serve(host="0.0.0.0", admin_token=TOKEN)
    httpx.post(f"{url}/v1/slow/chat/completions", json=CHAT, headers=bearer(ONE))
    assert httpx.get(f"{url}/_mock/stats", headers=bearer(ONE)).json()["totals"]["submissions"] == 1
    assert "webhooks" in httpx.get(f"{url}/_mock/stats", headers=bearer(TOKEN)).json()


@pytest.mark.slow
@pytest.mark.parametrize(
    ("hook_url", "allowed", "accepted"),
    [
        ("http://127.0.0.1:9/hook", [], True),
        ("http://localhost:9/hook", [], True),
        ("http://[::1]:9/hook", [], True),
        ("http://203.0.113.7/hook", [], False),
        ("http://hooks.example.com/hook", [], False),
        ("http://hooks.example.com/hook", ["hooks.example.com"], True),
        ("http://169.254.169.254/latest/meta-data", ["hooks.example.com"], False),
    ],
)
def test_webhooks_point_at_loopback_unless_a_host_is_allowed(
    serve: Any, hook_url: str, allowed: list[str], accepted: bool
) -> None:
    url = serve(allow_webhook_hosts=allowed)
    answer = httpx.post(f"{url}/_mock/webhooks", json={"id": "wh_1", "url": hook_url}, headers=bearer(ONE))
    if accepted:
        assert answer.status_code == 200, answer.text
    else:
        refused(answer, 400, "webhook_host_not_allowed")
        assert "--allow-webhook-host" in answer.json()["error"]["message"]


@pytest.mark.parametrize(
    ("host", "token", "warned"), [("127.0.0.1", None, False), ("0.0.0.0", None, True), ("0.0.0.0", TOKEN, False)]
)
def test_the_banner_says_when_the_admin_endpoints_are_off(host: str, token: str | None, warned: bool) -> None:
    lines = banner(fast(host=host, admin_token=token), "http://x:1", 0)
    assert lines[0].startswith("slowcheck mock listening on http://x:1")
    assert any("/_mock is off" in line and "--admin-token" in line for line in lines) is warned
