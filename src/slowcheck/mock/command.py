"""``slowcheck mock``: the bundled implementation of the API, in the foreground until Ctrl-C."""

from __future__ import annotations

import argparse

from slowcheck import api
from slowcheck.mock.options import add_arguments as add_mock_arguments, settings_from
from slowcheck.mock.server import serve
from slowcheck.mock.settings import MockSettings
from slowcheck.target_url import is_loopback_host

__all__ = ["DESCRIPTION", "HELP", "add_arguments", "banner", "main"]

HELP = "run the bundled mock of the asynchronous API"
DESCRIPTION = (
    f"A durable, stateful implementation of the asynchronous inference API on http://HOST:PORT: submit at "
    f"{api.CHAT}, poll {api.generation('{id}')}, server-side statistics at /_mock/stats. Stops on Ctrl-C; "
    "acknowledged generations survive restarts (--db)."
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_mock_arguments(parser)


def main(args: argparse.Namespace) -> int:
    settings = settings_from(args)

    def ready(url: str, restored: int) -> None:
        for line in banner(settings, url, restored):
            print(line, flush=True)

    serve(settings, on_ready=ready)
    return 0


def banner(settings: MockSettings, url: str, restored: int) -> list[str]:
    """What the mock says once it listens: where, with which keys and store, and who may use /_mock."""
    keys = f"{len(settings.api_keys)} API key(s)" if settings.api_keys else "any API key"
    store = "in memory only" if settings.db == ":memory:" else f"stored in {settings.db}"
    lines = [
        f"slowcheck mock listening on {url} ({keys}; generations {store}; {restored} restored)",
        f"  submit: POST {url}{api.CHAT}   poll: GET {url}{api.generation('ID')}",
    ]
    if settings.admin_token is None and not is_loopback_host(settings.host):
        lines.append(f"  /_mock is off: the mock listens on {settings.host} without --admin-token")
    return lines
