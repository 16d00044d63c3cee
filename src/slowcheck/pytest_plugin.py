"""The contract suite as a pytest plugin: ``pytest contracts/ --base-url URL --api-key KEY``.

Registered through the ``pytest11`` entry point, so it loads in every pytest run where slowcheck is
installed: it only declares options and fixtures here, and imports the suite when a fixture is used.
(Locust's plugin owns ``--host`` and a fixture named ``session``; these names stay clear of them.)
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from slowcheck.contract.target import Target


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("slowcheck", "slowcheck contract suite")
    group.addoption(
        "--base-url",
        default=None,
        help="API root, e.g. https://api.inference.net/v1; default: env SLOWCHECK_BASE_URL, else the embedded mock",
    )
    group.addoption("--api-key", default=None, help="env SLOWCHECK_API_KEY, then INFERENCE_API_KEY")
    group.addoption("--second-api-key", default=None, help="a key of another account (isolation rules)")
    group.addoption("--model", default="inference-net/load-test", help="model for the probes")
    group.addoption("--completion-timeout", type=float, default=60.0, help="seconds to wait for generations")
    group.addoption("--max-requests", type=int, default=None, help="a hard cap on requests sent")
    group.addoption("--webhook-id", default=None, help="a dashboard webhook whose URL reaches --receiver-port")
    group.addoption("--receiver-port", type=int, default=8787, help="port of the suite's webhook receiver")


@pytest.fixture(scope="session")
def contract_target(request: pytest.FixtureRequest) -> Iterator[Target]:
    """The API under test (or the embedded mock), shared by every rule of the run."""
    from slowcheck.contract.command import target_from

    with target_from(request.config.option) as (target, _, _):
        yield target
