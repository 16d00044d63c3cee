"""The published limits: a tier's generation requests a minute, the gateway's requests a second, uploads a
minute, and credit (docs/mock.md, "Published limits"). Time is the test's own clock, never a sleep."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from slowcheck.cli import main
from slowcheck.embedded import target_or_mock
from slowcheck.errors import ConfigError
from slowcheck.mock.credit import DEFAULT_PRICES, Price, load_prices
from slowcheck.mock.limits import Published
from slowcheck.mock.settings import MockSettings, Span, load_config
from tests.mock.conftest import CHAT, TEXT, app_of, fast, running, terminal, until
from tests.mock.test_batches import chat_line, create, until_done, upload

pytestmark = pytest.mark.anyio

GROUP = "/v1/slow/group/chat/completions"
EMBED = {"model": "qwen/qwen3-embedding-4b", "input": "Paris"}
ASKED = CHAT | {"max_tokens": 100}
ASKED_PROMPT = 4 + 7
"""The mock's count of ASKED's prompt: 4 a message, and 'What is the capital of France?' is 7 tokens."""
PRICES = {"default": {"input": 1.0, "output": 2.0}}
"""USD per million tokens: a prompt token costs a millionth of a dollar, a completion token two."""
ASKED_ESTIMATE = (ASKED_PROMPT * 1 + 100 * 2) / 1e6
WAITING = Span(600.0, 600.0)
"""A queue time no test outlives: what is submitted stays pending, holding its estimate."""


class Clock:
    """The limits' monotonic clock, moved by the test."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def clocked(client: httpx.AsyncClient) -> Clock:
    clock = Clock()
    app_of(client).state.mock.limits.clock = clock
    return clock


def assert_envelope(answer: httpx.Response, status: int, type_: str, code: str) -> None:
    assert answer.status_code == status, answer.text
    assert answer.json() == {"error": {"message": answer.json()["error"]["message"], "type": type_, "param": None,
                                       "code": code}}  # fmt: skip
    assert answer.json()["error"]["message"]


async def credit_of(client: httpx.AsyncClient) -> dict[str, float]:
    return (await client.get("/_mock/stats")).json()["credit"]  # type: ignore[no-any-return]


async def until_credit(client: httpx.AsyncClient, done: Callable[[dict[str, float]], bool]) -> dict[str, float]:
    """Read the key's credit as a client would until ``done(credit)``."""
    deadline = time.monotonic() + 10
    while not done(credit := await credit_of(client)):
        assert time.monotonic() < deadline, f"the credit never got there: {credit}"
        await asyncio.sleep(0.005)
    return credit


# -- the tier -----------------------------------------------------------------------------------------------


async def test_a_free_tier_accepts_30_submissions_a_minute_and_answers_the_31st_429_with_retry_after() -> None:
    async with running(fast(tier="free")) as client:
        clock = clocked(client)
        accepted = [await client.post("/v1/slow/chat/completions", json=CHAT) for _ in range(30)]
        assert [a.status_code for a in accepted] == [200] * 30
        assert [a.headers["x-ratelimit-remaining-requests"] for a in accepted[-2:]] == ["1", "0"]

        refused = await client.post("/v1/slow/chat/completions", json=CHAT)

        assert_envelope(refused, 429, "rate_limit_error", "rate_limit_exceeded")
        assert refused.headers["Retry-After"] == "2", "one request every 2 s refills at 30 a minute"
        assert refused.headers["x-ratelimit-limit-requests"] == "30"
        assert refused.headers["x-ratelimit-remaining-requests"] == "0"
        clock.now += 2
        assert (await client.post("/v1/slow/chat/completions", json=CHAT)).status_code == 200
        # An idle minute refills the whole minute, and no more: the burst is 30 again, the 31st refused.
        clock.now += 600
        again = [(await client.post("/v1/slow/completions", json=TEXT)).status_code for _ in range(31)]
        assert again == [200] * 30 + [429]
        stats = (await client.get("/_mock/stats")).json()
        assert stats["totals"]["rate_limited_generations"] == 2
        assert stats["limits"]["generations_per_minute"] == 30


async def test_every_submission_surface_counts_but_polls_and_batches_do_not() -> None:
    async with running(fast(tier=3)) as client:
        clocked(client)
        ack = await client.post("/v1/slow/chat/completions", json=CHAT)
        assert (await client.post("/v1/slow/completions", json=TEXT)).status_code == 200
        assert (await client.post("/v1/async/embeddings", json=EMBED)).status_code == 200
        assert (await client.post(GROUP, json={"requests": [CHAT]})).status_code == 429, "the tier is spent"

        polls = [(await client.get(f"/v1/generation/{ack.json()['id']}")).status_code for _ in range(10)]
        stored = await upload(client, chat_line(1))
        batch = await client.post("/v1/batches", json={"input_file_id": stored["id"], "completion_window": "24h",
                                                       "endpoint": "/v1/chat/completions"})  # fmt: skip

        assert polls == [200] * 10
        assert batch.status_code == 200, batch.text


async def test_a_group_counts_per_request_and_is_refused_whole() -> None:
    async with running(fast(tier="free")) as client:
        clock = clocked(client)
        ten = await client.post(GROUP, json={"requests": [CHAT] * 10})
        assert ten.status_code == 200, ten.text
        assert ten.headers["x-ratelimit-remaining-requests"] == "20"

        refused = await client.post(GROUP, json={"requests": [CHAT] * 25})

        assert_envelope(refused, 429, "rate_limit_error", "rate_limit_exceeded")
        assert refused.headers["Retry-After"] == "10", "5 requests short, at one every 2 s"
        singles = [(await client.post("/v1/slow/chat/completions", json=CHAT)).status_code for _ in range(21)]
        assert singles == [200] * 20 + [429], "the refused group spent nothing"
        clock.now += 3600
        never = await client.post(GROUP, json={"requests": [CHAT] * 31})
        assert_envelope(never, 429, "rate_limit_error", "rate_limit_exceeded")
        assert "Retry-After" not in never.headers, "no wait lets 31 requests into 30 a minute"


# -- the gateway and uploads --------------------------------------------------------------------------------


async def test_the_gateway_counts_every_authenticated_request_polls_included() -> None:
    async with running(fast(gateway_rps=5)) as client:
        clock = clocked(client)
        ack = (await client.post("/v1/slow/chat/completions", json=CHAT)).json()
        answers = [
            await client.get(f"/v1/generation/{ack['id']}"),
            await client.get(f"/v1/generation/{ack['id']}"),
            await client.get("/v1/models"),
            await client.get("/v1/batches"),
        ]
        assert [a.status_code for a in answers] == [200] * 4
        assert (await client.get("/health")).status_code == 200, "without a key: not counted"

        refused = await client.get(f"/v1/generation/{ack['id']}")

        assert_envelope(refused, 429, "rate_limit_error", "rate_limit_exceeded")
        assert refused.headers["Retry-After"] == "1"
        assert (await client.get("/v1/models")).status_code == 429
        stats = (await client.get("/_mock/stats")).json()
        assert stats["totals"]["rate_limited_gateway"] == 2, "/_mock is the mock's own, not counted"
        clock.now += 1
        assert (await client.get(f"/v1/generation/{ack['id']}")).status_code == 200


async def test_the_second_upload_within_a_minute_is_429() -> None:
    async with running(fast(tier="paid")) as client:  # a tier brings the documented 1 a minute
        clock = clocked(client)
        await upload(client, chat_line(1))
        clock.now += 59

        refused = await client.post("/v1/files", files={"file": ("in.jsonl", chat_line(2))}, data={"purpose": "batch"})

        assert_envelope(refused, 429, "rate_limit_error", "rate_limit_exceeded")
        assert refused.headers["Retry-After"] == "1"
        assert refused.headers["x-ratelimit-limit-requests"] == "1"
        clock.now += 1
        await upload(client, chat_line(2))


# -- credit ---------------------------------------------------------------------------------------------------


async def test_402_when_the_balance_cannot_cover_the_estimate() -> None:
    async with running(fast(credit=0.0)) as client:
        empty = await client.post("/v1/slow/chat/completions", json=CHAT)
        assert_envelope(empty, 402, "insufficient_quota", "insufficient_quota")
        assert (await client.get("/_mock/stats")).json()["generations"] == {}, "nothing stored"

    async with running(fast(credit=0.0003, prices=PRICES, queue_time=WAITING)) as client:
        assert (await client.post("/v1/slow/chat/completions", json=ASKED)).status_code == 200
        assert await credit_of(client) == pytest.approx(
            {"balance_usd": 0.0003, "held_usd": ASKED_ESTIMATE, "spent_usd": 0.0}
        )

        short = await client.post("/v1/slow/chat/completions", json=ASKED)
        group = await client.post(GROUP, json={"requests": [CHAT | {"max_tokens": 1}] * 2 + [ASKED]})

        assert_envelope(short, 402, "insufficient_quota", "insufficient_quota")  # what is held is not available
        assert_envelope(group, 402, "insufficient_quota", "insufficient_quota")
        assert (await credit_of(client))["held_usd"] == pytest.approx(ASKED_ESTIMATE), "a refused group holds nothing"
        assert (await client.post(GROUP, json={"requests": [CHAT | {"max_tokens": 1}] * 2})).status_code == 200


async def test_a_success_is_charged_its_real_usage_and_the_hold_released() -> None:
    async with running(fast(credit=1.0, prices=PRICES)) as client:
        ack = (await client.post("/v1/slow/chat/completions", json=ASKED)).json()
        record = (await until(client, ack["id"], terminal))[-1]
        assert record["state"] == "Success"
        usage = record["response"]["usage"]

        credit = await credit_of(client)

        spent = (usage["prompt_tokens"] * 1 + usage["completion_tokens"] * 2) / 1e6
        assert usage["prompt_tokens"] == ASKED_PROMPT
        assert credit == pytest.approx({"balance_usd": 1.0 - spent, "held_usd": 0.0, "spent_usd": spent})
        assert 0 < spent < ASKED_ESTIMATE, "the real completion is shorter than max_tokens"


async def test_a_failed_generation_is_never_charged() -> None:
    async with running(fast(credit=1.0, failure_ratio=1.0)) as client:
        ack = (await client.post("/v1/slow/chat/completions", json=CHAT)).json()
        assert (await until(client, ack["id"], terminal))[-1]["state"] == "Failed"

        assert await credit_of(client) == {"balance_usd": 1.0, "held_usd": 0.0, "spent_usd": 0.0}


async def test_batch_lines_are_charged_as_they_complete_and_an_empty_balance_refuses_a_batch() -> None:
    async with running(fast(credit=1.0, prices=PRICES)) as client:
        stored = await upload(client, chat_line(1) + chat_line(2))
        batch = await create(client, stored["id"])
        assert (await until_done(client, batch["id"]))[-1]["status"] == "completed"

        credit = await credit_of(client)

        assert credit["spent_usd"] > 0
        assert credit["held_usd"] == 0
    async with running(fast(credit=0.0)) as client:
        stored = await upload(client, chat_line(1))
        refused = await client.post("/v1/batches", json={"input_file_id": stored["id"], "completion_window": "24h",
                                                         "endpoint": "/v1/chat/completions"})  # fmt: skip
        assert_envelope(refused, 402, "insufficient_quota", "insufficient_quota")


async def test_the_ledger_survives_a_restart_and_a_restored_hold_is_released(tmp_path: Path) -> None:
    db = str(tmp_path / "credit.sqlite3")
    async with running(fast(db=db, credit=1.0, prices=PRICES)) as client:
        ack = (await client.post("/v1/slow/chat/completions", json=ASKED)).json()
        await until(client, ack["id"], terminal)
        finished = await credit_of(client)
    assert finished["spent_usd"] > 0

    async with running(fast(db=db, credit=1.0, prices=PRICES, queue_time=WAITING)) as client:
        assert await credit_of(client) == finished
        pending_id = (await client.post("/v1/slow/chat/completions", json=ASKED)).json()["id"]
    pending = finished | {"held_usd": pytest.approx(ASKED_ESTIMATE)}

    async with running(fast(db=db, credit=1.0, prices=PRICES, queue_time=WAITING)) as client:
        assert await credit_of(client) == pending, "the hold of the pending generation came back"
    async with running(fast(db=db, credit=1.0, prices=PRICES, expiry=0.01)) as client:  # it expires at once
        released = await until_credit(client, lambda credit: credit["held_usd"] == 0)
        assert released == finished, "its restored hold released, nothing charged"
        assert (await client.get("/_mock/stats")).json()["totals"]["finished"] == 1
        assert (await client.get(f"/v1/generation/{pending_id}")).status_code == 404, "expired and pruned"


async def test_a_key_sees_its_own_credit_and_the_admin_every_key() -> None:
    other = {"Authorization": "Bearer sk-test-other-0002"}
    async with running(fast(credit=1.0, admin_token="root", queue_time=WAITING)) as client:
        await client.post("/v1/slow/chat/completions", json=CHAT)
        await client.post("/v1/slow/chat/completions", json=CHAT, headers=other)

        own = (await client.get("/_mock/stats")).json()
        everything = (await client.get("/_mock/stats", headers={"Authorization": "Bearer root"})).json()

        assert list(own["credit_by_key"]) == [own["scope"]]
        assert len(everything["credit_by_key"]) == 2
        assert everything["credit"]["held_usd"] == pytest.approx(2 * own["credit"]["held_usd"])
        assert everything["limits"]["credit_usd"] == 1.0


# -- configuration ------------------------------------------------------------------------------------------


def test_a_tier_brings_the_gateway_and_upload_limits_unless_given() -> None:
    assert Published.of(MockSettings()) == Published(None, None, None)
    assert Published.of(MockSettings(tier="free")) == Published(30, 100, 1)
    assert Published.of(MockSettings(tier="paid", gateway_rps=0)) == Published(250, None, 1)
    assert Published.of(MockSettings(tier="5000", batch_upload_per_minute=3)) == Published(5000, 100, 3)


def test_the_config_file_sets_the_limits_and_finds_a_price_file_beside_it(tmp_path: Path) -> None:
    table = {"inference-net/load-test": {"input": 0.5, "output": 1}, "default": {"input": 2, "output": 3}}
    (tmp_path / "prices.json").write_text(json.dumps(table))
    config = tmp_path / "mock.toml"
    config.write_text('tier = "paid"\ngateway_rps = 50\ncredit = 2.5\nprices = "prices.json"\n')

    settings = load_config(config, MockSettings()).validate()

    assert Published.of(settings) == Published(250, 50, 1)
    assert settings.credit == 2.5
    prices = load_prices(settings.prices)
    assert prices == {"inference-net/load-test": Price(0.5, 1.0), "default": Price(2, 3)}, "instead of the built-in"
    assert load_prices(None) == DEFAULT_PRICES


def test_prices_in_toml_with_a_default_entry(tmp_path: Path) -> None:
    path = tmp_path / "prices.toml"
    path.write_text('default = { input = 3, output = 4 }\n"a/b" = { input = 0, output = 0.5 }\n')
    prices = load_prices(str(path))
    assert (prices["default"], prices["a/b"]) == (Price(3, 4), Price(0, 0.5))


@pytest.mark.parametrize(
    ("settings", "files", "says"),
    [
        pytest.param({"tier": "gold"}, {}, "tier must be free, paid or a number", id="tier"),
        pytest.param({"tier": 0}, {}, "tier must be free, paid or a number", id="tier-zero"),
        pytest.param({"credit": -1.0}, {}, "credit must be a number >= 0", id="credit"),
        pytest.param({"tier": "free", "submit_rate": 5.0}, {}, "tier and submit_rate", id="both"),
        pytest.param({"prices": PRICES}, {}, "prices (--prices) are used with credit", id="prices-alone"),
        pytest.param({"credit": 1.0, "prices": "p.toml"}, {"p.toml": "a = {"}, "is not valid TOML", id="toml"),
        pytest.param({"credit": 1.0, "prices": "p.json"}, {"p.json": "{"}, "is not valid JSON", id="json"),
        pytest.param(
            {"credit": 1.0, "prices": "p.toml"},
            {"p.toml": "default = { input = 1 }"},
            "'default' must be",
            id="no-output",
        ),  # fmt: skip
        pytest.param(
            {"credit": 1.0, "prices": {"a": {"input": 1, "output": 1}}}, {}, "no 'default' entry", id="no-default"
        ),  # fmt: skip
        pytest.param(
            {"credit": 1.0, "prices": {"default": {"input": -1, "output": 1}}}, {}, "'default' must be", id="negative"
        ),  # fmt: skip
        pytest.param({"credit": 1.0, "prices": "missing.toml"}, {}, "cannot read prices", id="missing"),
    ],
)
def test_bad_values_are_one_line_errors(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, settings: dict[str, Any], files: dict[str, str], says: str
) -> None:
    monkeypatch.chdir(tmp_path)
    for name, text in files.items():
        (tmp_path / name).write_text(text)
    with pytest.raises(ConfigError) as caught:
        MockSettings(**settings).validate()
    assert says in str(caught.value)
    assert "\n" not in str(caught.value)


@pytest.mark.parametrize(
    ("argv", "says"),
    [
        pytest.param(["--tier", "gold"], "tier must be free, paid", id="tier"),
        pytest.param(["--credit", "-1"], "credit must be a number >= 0", id="credit"),
        pytest.param(["--credit", "5", "--prices", "nowhere.toml"], "cannot read prices", id="prices"),
        pytest.param(["--tier", "free", "--submit-rate", "5"], "tier and submit_rate", id="both"),
    ],
)
def test_bad_flags_are_one_line_and_exit_2(
    argv: list[str], says: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("slowcheck.mock.command.serve", _never_serve)
    assert main(["mock", "--db", ":memory:", *argv]) == 2
    err = capsys.readouterr().err
    assert err.startswith("slowcheck: error: ")
    assert err.count("\n") == 1
    assert says in err
    assert "Traceback" not in err


def _never_serve(*args: Any, **kwargs: Any) -> None:
    raise AssertionError("the settings were accepted: the mock would have started")


def test_the_embedded_mock_takes_the_published_limits() -> None:
    with target_or_mock(None, None, model="inference-net/load-test", durable=False, tier="free", credit=5.0) as end:
        stats = httpx.get(f"{end.root}/_mock/stats", headers={"Authorization": f"Bearer {end.key}"}).json()
    assert stats["limits"] == {
        "generations_per_minute": 30,
        "gateway_per_second": 100,
        "uploads_per_minute": 1,
        "submissions_per_second": None,
        "polls_per_second": None,
        "credit_usd": 5.0,
    }
    assert stats["credit"] == {"balance_usd": 5.0, "held_usd": 0.0, "spent_usd": 0.0}
    with pytest.raises(ConfigError, match="tier must be"), target_or_mock(None, None, model="m", tier="gold"):
        pass
