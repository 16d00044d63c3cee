"""The flags of a run against a target, declared once for ``slowcheck contract``, ``slowcheck run`` and the
pytest plugin (a test keeps their help texts equal); the network's come from ``slowcheck.network``."""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from slowcheck import api, network

__all__ = ["DEFAULT_COMPLETION_TIMEOUT", "FLAGS", "REMOTE_BUDGET", "Flag", "add_flags"]

DEFAULT_COMPLETION_TIMEOUT = 60.0
REMOTE_BUDGET = 200
"""Requests, when the target is not this machine and --max-requests is not given: the real API bills them."""


@dataclass(frozen=True, slots=True)
class Flag:
    name: str
    help: str
    type: Any = None
    default: Any = None
    metavar: str | None = None
    action: str | None = None
    """None (a value), "append" (repeatable) or "store_true" (a switch)."""
    pytest_name: str | None = None
    """The name under pytest, where pytest itself owns the flag's name."""

    @property
    def dest(self) -> str:
        return self.name.removeprefix("--").replace("-", "_")

    def text(self) -> str:
        """The help line, with the default in one style everywhere."""
        shown = f"{self.default:g}" if isinstance(self.default, float) else self.default
        return f"{self.help} (default: {shown})" if self.default not in (None, False, []) else self.help

    def keywords(self) -> dict[str, Any]:
        out: dict[str, Any] = {"help": self.text(), "dest": self.dest}
        if self.action is not None:
            out["action"] = self.action
        if self.action != "store_true":
            out["metavar"] = self.metavar
            if self.action is None:
                out["type"] = self.type or str
        out["default"] = [] if self.action == "append" else (False if self.action == "store_true" else self.default)
        return out


FLAGS = (
    Flag(
        "--base-url",
        f"the API root, e.g. https://api.inference.net/v1 (env {api.BASE_URL_ENV}); without it, the embedded mock",
        metavar="URL",
    ),
    Flag("--api-key", api.KEY_HINT, metavar="KEY"),
    Flag("--model", "the model every probe asks for", default=api.DEFAULT_MODEL, metavar="MODEL"),
    Flag(
        "--second-api-key",
        "a key of another account, for the isolation rule (else env SLOWCHECK_SECOND_API_KEY)",
        metavar="KEY",
    ),
    Flag(
        "--embedding-model",
        "an embedding model the key may use: runs the embedding rules (the embedded mock serves "
        f"{api.EMBEDDING_MODEL})",
        metavar="MODEL",
    ),
    Flag(
        "--batch-base-url",
        "the Batch API's root (inference.net: https://batch.inference.net/v1); the batch rules run with it, or "
        "against the embedded mock",
        metavar="URL",
    ),
    Flag(
        "--completion-timeout",
        "seconds after submission that rules wait for generations; 0 submits the lifecycle probes and writes "
        "a ledger to --resume later",
        type=float,
        default=DEFAULT_COMPLETION_TIMEOUT,
        metavar="SECONDS",
    ),
    Flag(
        "--max-requests",
        f"a hard cap on requests sent, planned before the first one (default: {REMOTE_BUDGET} unless the target "
        "is loopback)",
        type=int,
        metavar="N",
    ),
    Flag(
        "--max-spend",
        "stop submitting when the run's estimated spend would pass this many USD (the rules left are not run)",
        type=float,
        metavar="USD",
    ),
    Flag(
        "--prices",
        "a price table (JSON or TOML: per model input and output USD per million tokens, a default, "
        "async_discount) for the spend a run reports; without it, a built-in estimate",
        type=Path,
        metavar="FILE",
    ),
    Flag(
        "--rate-limit",
        "requests a minute the key may send (inference.net publishes 30 on the free tier, 250 on paid): the run "
        "spaces its requests by it; without it, the first 429 sets the pace",
        type=float,
        metavar="RPM",
    ),
    Flag(
        "--lenient",
        "report an inferred rule's violation as a deviation (repeatable)",
        metavar="RULE-ID",
        action="append",
    ),
    Flag("--strict", "count deviations as violations", action="store_true", pytest_name="--strict-deviations"),
    Flag(
        "--ledger",
        "write the lifecycle probes (ids, bodies, times; never a key) here; with --completion-timeout 0 it "
        "defaults to DIR/ledger.json",
        type=Path,
        metavar="FILE",
    ),
    Flag(
        "--resume",
        "check the generations of an earlier run's ledger (lifecycle rules only)",
        type=Path,
        metavar="LEDGER",
    ),
    Flag(
        "--webhook-id",
        "a webhook created in the dashboard whose URL reaches --receiver-port (e.g. through a tunnel); enables "
        "the webhook rules against a real API",
        metavar="ID",
    ),
    Flag(
        "--receiver-port",
        "port of the suite's webhook receiver on 127.0.0.1",
        type=int,
        default=api.DEFAULT_RECEIVER_PORT,
        metavar="PORT",
    ),
    # How the target is reached (a private CA, mTLS, a gateway's header): declared in slowcheck.network.
    *(Flag(name, **keywords) for name, keywords in network.FLAGS),
)


def add_flags(parser: argparse.ArgumentParser | argparse._ArgumentGroup) -> None:
    for flag in FLAGS:
        parser.add_argument(flag.name, **flag.keywords())
