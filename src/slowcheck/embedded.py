"""The target a command checks: the URL and key the user gave, or the embedded mock with a fresh key."""

from __future__ import annotations

import argparse
import contextlib
import os
import secrets
import tempfile
from collections.abc import Iterator
from pathlib import Path

from slowcheck.errors import ConfigError
from slowcheck.target_url import api_root

__all__ = ["DEFAULT_MODEL", "add_target_arguments", "check_reachable", "target_or_mock"]

DEFAULT_MODEL = "inference-net/load-test"


def add_target_arguments(parser: argparse.ArgumentParser, *, without: str, model: str) -> None:
    """--base-url, --api-key and --model, as every command that talks to a target takes them."""
    parser.add_argument(
        "--base-url",
        metavar="URL",
        help=f"the API root, e.g. https://api.inference.net/v1 (env SLOWCHECK_BASE_URL); without it {without}",
    )
    parser.add_argument("--api-key", metavar="KEY", help="env SLOWCHECK_API_KEY, then INFERENCE_API_KEY")
    parser.add_argument("--model", default=DEFAULT_MODEL, help=f"{model} (%(default)s)")


@contextlib.contextmanager
def target_or_mock(
    base_url: str | None, api_key: str | None, *, model: str, submit_rate: float = 0.0
) -> Iterator[tuple[str, str, str]]:
    """(API root, label for reports, key), with the environment fallbacks of every command.

    Without a URL the mock runs in a thread, durable (SQLite in a temporary folder) with a quick lifecycle
    (0.2-1 s queued, 0.5-2 s in progress), one fresh key, and ``submit_rate`` submissions/s per key (0: no limit).
    """
    base_url = base_url or os.environ.get("SLOWCHECK_BASE_URL")
    if base_url:
        key = api_key or os.environ.get("SLOWCHECK_API_KEY") or os.environ.get("INFERENCE_API_KEY")
        if not key:
            raise ConfigError("no API key: pass --api-key or set SLOWCHECK_API_KEY / INFERENCE_API_KEY")
        yield api_root(base_url), base_url, key
        return
    from slowcheck.mock import MockSettings, Span
    from slowcheck.mock.app import DEFAULT_MODELS
    from slowcheck.mock.server import mock_in_background

    key = f"sk-slowcheck-{secrets.token_hex(8)}"
    with tempfile.TemporaryDirectory(prefix="slowcheck-mock-") as folder:
        settings = MockSettings(
            port=0,
            db=str(Path(folder) / "mock.sqlite3"),
            api_keys=[key],
            models=[*DEFAULT_MODELS, model],
            queue_time=Span(0.2, 1.0),
            run_time=Span(0.5, 2.0),
            submit_rate=submit_rate,
        )
        with mock_in_background(settings) as url:
            yield url, f"the embedded mock ({url})", key


def check_reachable(root: str, key: str, model: str = DEFAULT_MODEL) -> None:
    """The contract suite's preflight before anything heavy starts: the target answers (within 10 s), the key
    is accepted and the model served, each a one-line ConfigError, early."""
    from slowcheck.contract.preflight import preflight
    from slowcheck.contract.target import Target

    target = Target(root + "/v1", key, model=model, timeout=10.0)
    try:
        preflight(target)
    finally:
        target.close()
