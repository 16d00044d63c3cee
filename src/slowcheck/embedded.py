"""The target a command checks: the URL and key the user gave, or the embedded mock with fresh keys.

Every command that talks to an API (``contract``, ``run``, ``load``, ``sdk-matrix``) gets its target here,
so the environment fallbacks, the one-line errors and the embedded mock's set-up are the same everywhere.
"""

from __future__ import annotations

import argparse
import contextlib
import secrets
import tempfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from slowcheck import api
from slowcheck.target_url import api_root

__all__ = ["INSTANT", "QUICK", "Endpoint", "Timing", "add_target_arguments", "target_or_mock"]


@dataclass(frozen=True)
class Timing:
    """How long the embedded mock keeps a generation queued and in progress (seconds, drawn per generation)."""

    queued: tuple[float, float]
    running: tuple[float, float]


QUICK = Timing(queued=(0.2, 1.0), running=(0.5, 2.0))
"""For load and SDK runs: long enough that polling strategies differ, short enough for a run of seconds."""
INSTANT = Timing(queued=(0.0, 0.05), running=(0.01, 0.05))
"""For the contract suite: every lifecycle rule is judged within a second."""


@dataclass(frozen=True)
class Endpoint:
    """What a command talks to: the API root, its name in reports, and the keys (to use, and to redact)."""

    root: str
    label: str
    keys: tuple[str, ...]
    embedded: bool

    @property
    def key(self) -> str:
        return self.keys[0]

    @property
    def second_key(self) -> str | None:
        return self.keys[1] if len(self.keys) > 1 else None


def add_target_arguments(parser: argparse.ArgumentParser, *, without: str, model: str) -> None:
    """--base-url, --api-key and --model, as every command that talks to a target takes them."""
    parser.add_argument(
        "--base-url",
        metavar="URL",
        help=f"the API root, e.g. https://api.inference.net/v1 (env {api.BASE_URL_ENV}); without it {without}",
    )
    parser.add_argument("--api-key", metavar="KEY", help=api.KEY_HINT)
    parser.add_argument("--model", default=api.DEFAULT_MODEL, help=f"{model} (default: %(default)s)")


@contextlib.contextmanager
def target_or_mock(
    base_url: str | None,
    api_key: str | None,
    *,
    model: str,
    second_api_key: str | None = None,
    keys: int = 1,
    timing: Timing = QUICK,
    durable: bool = True,
    submit_rate: float = 0.0,
    webhooks: Mapping[str, str] | None = None,
    capacity: float | None = None,
    tier: str | int | None = None,
    gateway_rps: float | None = None,
    batch_upload_per_minute: int | None = None,
    credit: float | None = None,
    prices: str | Mapping[str, Any] | None = None,
) -> Iterator[Endpoint]:
    """The target named by ``base_url`` (else ``SLOWCHECK_BASE_URL``) and its key, else the embedded mock.

    The embedded mock runs in a thread with ``keys`` fresh keys, serves ``model`` beside its own models (so the
    unknown-model rule has something to hold against), and is durable (SQLite in a temporary folder) unless
    told otherwise. ``submit_rate`` is its per-key submission limit (0: none); ``webhooks`` maps webhook ids to
    URLs it delivers to; ``capacity`` makes it a capacity model (tokens/s decoded by its workers together, run
    times following each generation's tokens, no drawn queue time). ``tier`` (free, paid or requests a minute),
    ``gateway_rps``, ``batch_upload_per_minute``, ``credit`` (USD a key) and ``prices`` (a price file or table)
    are the published limits, as ``slowcheck mock`` takes them (docs/mock.md, "Published limits"); a bad value
    is a ``ConfigError``.
    """
    given = api.base_url(base_url)
    if given:
        key, second = api.require_key(api_key), api.second_api_key(second_api_key)
        yield Endpoint(api_root(given), given, tuple(k for k in (key, second) if k), embedded=False)
        return
    from slowcheck.mock import MockSettings, Span
    from slowcheck.mock.app import DEFAULT_MODELS
    from slowcheck.mock.server import mock_in_background

    fresh = tuple(f"sk-slowcheck-{secrets.token_hex(8)}" for _ in range(keys))
    with contextlib.ExitStack() as stack:
        db = ":memory:"
        if durable:
            db = str(Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="slowcheck-mock-"))) / "mock.sqlite3")
        settings = MockSettings(
            port=0,
            db=db,
            api_keys=list(fresh),
            models=[*DEFAULT_MODELS, model],
            queue_time=Span(*timing.queued) if capacity is None else None,
            run_time=Span(*timing.running),
            capacity=capacity,
            submit_rate=submit_rate,
            webhooks=dict(webhooks or {}),
            webhook_retry_delays=[0.1, 0.2],
            tier=tier,
            gateway_rps=gateway_rps,
            batch_upload_per_minute=batch_upload_per_minute,
            credit=credit,
            prices=prices if prices is None or isinstance(prices, str) else dict(prices),
        )
        url = stack.enter_context(mock_in_background(settings))
        yield Endpoint(url, f"the embedded mock ({url})", fresh, embedded=True)
