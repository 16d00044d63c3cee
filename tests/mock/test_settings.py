"""Flags, the config file and their errors."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from slowcheck.errors import ConfigError
from slowcheck.mock.options import add_arguments, settings_from
from slowcheck.mock.ratelimit import Limiter, go_duration
from slowcheck.mock.settings import REAL_EXPIRY, MockSettings, Span


def parse(*argv: str) -> MockSettings:
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    return settings_from(parser.parse_args(list(argv)))


def test_defaults_are_a_quick_local_lifecycle_with_the_documented_expiry() -> None:
    settings = parse()
    assert (settings.host, settings.port) == ("127.0.0.1", 8080)
    assert settings.queue_span == Span(0.5, 2.0)
    assert settings.expiry_seconds == REAL_EXPIRY == 72 * 3600
    assert settings.faults.error_ratio == 0


def test_time_scale_compresses_the_24_to_72_hour_window_and_the_expiry() -> None:
    settings = parse("--time-scale", "86400")
    total_low = settings.queue_span.low + settings.run_span.low
    total_high = settings.queue_span.high + settings.run_span.high
    assert (total_low, total_high) == pytest.approx((1.0, 3.0))
    assert settings.expiry_seconds == pytest.approx(3.0)
    assert parse("--time-scale", "86400", "--queue-time", "0").queue_span == Span(0, 0), "explicit times win"


def test_flags_override_the_config_file(tmp_path: Path) -> None:
    config = tmp_path / "mock.toml"
    config.write_text(
        'port = 9000\nworkers = 2\nqueue_time = "1..3"\nmodels = ["a/b"]\n'
        '[faults]\nerror_ratio = 0.5\n[webhooks]\nwh_1 = "http://127.0.0.1:9/hook"\n'
    )
    settings = parse("--config", str(config), "--port", "9100", "--webhook", "wh_2=http://127.0.0.1:9/two")
    assert settings.port == 9100
    assert settings.workers == 2
    assert settings.queue_time == Span(1, 3)
    assert settings.models == ["a/b"]
    assert settings.faults.error_ratio == 0.5
    assert settings.webhooks == {"wh_2": "http://127.0.0.1:9/two"}


@pytest.mark.parametrize(
    ("text", "says"),
    [
        pytest.param("prot = 9000\n", "unknown key 'prot' (did you mean 'port'?)", id="typo"),
        pytest.param("port = 'x'\n", "port has the wrong type", id="type"),
        pytest.param("failure_ratio = 3\n", "failure_ratio must be between 0 and 1", id="range"),
        pytest.param("[faults]\nstuck = 1\n", "unknown key 'stuck'", id="fault-typo"),
        pytest.param("port = \n", "is not valid TOML", id="toml"),
        pytest.param('queue_time = "soon"\n', "queue_time: expected seconds like 2 or 1..3", id="span"),
        pytest.param("[webhooks]\nw = 'ftp://x'\n", "webhook w: expected an http(s) URL", id="webhook-url"),
    ],
)
def test_bad_config_files_are_one_line_errors(tmp_path: Path, text: str, says: str) -> None:
    config = tmp_path / "mock.toml"
    config.write_text(text)
    with pytest.raises(ConfigError) as caught:
        parse("--config", str(config))
    assert says in str(caught.value)
    assert "\n" not in str(caught.value)


def test_missing_config_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read config .*missing.toml"):
        parse("--config", str(tmp_path / "missing.toml"))


@pytest.mark.parametrize(
    "argv",
    [
        pytest.param(["--failure-ratio", "1.5"], id="ratio"),
        pytest.param(["--queue-time", "3..1"], id="span-order"),
        pytest.param(["--webhook", "no-url"], id="webhook"),
        pytest.param(["--submit-rate", "-1"], id="negative"),
        pytest.param(["--port", "http"], id="port"),
    ],
)
def test_bad_flags_exit_2(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as caught:
        parse(*argv)
    assert caught.value.code == 2
    assert "error: argument" in capsys.readouterr().err


def test_token_bucket_allows_bursts_then_refills_at_the_rate() -> None:
    limiter = Limiter(rate=10, burst=3)
    assert [limiter.take("k", now=0.0)[0] for _ in range(4)] == [True, True, True, False]
    allowed, wait, _ = limiter.take("k", now=0.0)
    assert not allowed
    assert wait == pytest.approx(0.1)
    assert limiter.take("k", now=0.1)[0]
    assert limiter.take("other", now=0.0)[0], "buckets are per key"


@pytest.mark.parametrize(("seconds", "text"), [(0.012, "12ms"), (1.5, "1.5s"), (360, "6m0s"), (0, "0ms")])
def test_reset_headers_use_go_durations(seconds: float, text: str) -> None:
    assert go_duration(seconds) == text
