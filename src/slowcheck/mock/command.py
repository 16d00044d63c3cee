"""``slowcheck mock``: the bundled implementation of the API, in the foreground until Ctrl-C."""

from __future__ import annotations

import argparse

from slowcheck import api
from slowcheck.mock.options import add_arguments as add_mock_arguments, settings_from
from slowcheck.mock.server import serve

__all__ = ["DESCRIPTION", "HELP", "add_arguments", "main"]

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
        keys = f"{len(settings.api_keys)} API key(s)" if settings.api_keys else "any API key"
        store = "in memory only" if settings.db == ":memory:" else f"stored in {settings.db}"
        print(f"slowcheck mock listening on {url} ({keys}; generations {store}; {restored} restored)", flush=True)
        print(f"  submit: POST {url}{api.CHAT}   poll: GET {url}{api.generation('ID')}", flush=True)

    serve(settings, on_ready=ready)
    return 0
