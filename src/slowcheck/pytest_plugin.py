"""The contract suite as a pytest plugin: ``pytest contracts/ --base-url URL --api-key KEY``.

Registered through the ``pytest11`` entry point, so it loads in every pytest run where slowcheck is
installed: it only declares options and fixtures here, and imports the suite when a fixture is used.
(Locust's plugin owns ``--host`` and a fixture named ``session``; these names stay clear of them.)
The flags are the ones ``slowcheck contract`` and ``slowcheck run`` take, declared once.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest

from slowcheck.contract.options import FLAGS

if TYPE_CHECKING:
    from slowcheck.contract.runner import Suite
    from slowcheck.contract.target import Target


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("slowcheck", "slowcheck contract suite")
    for flag in FLAGS:
        group.addoption(flag.pytest_name or flag.name, **flag.keywords())  # pytest owns --strict


@pytest.fixture(scope="session")
def contract_suite(request: pytest.FixtureRequest) -> Iterator[Suite]:
    """One planned, preflighted run of the catalogue, shared by every rule of the session.

    A misconfiguration found by the preflight (a refused key, an unknown model, a wrong base URL) stops
    the session with one line and exit 2, rather than failing every rule.
    """
    from slowcheck.contract.plan import plan_from
    from slowcheck.contract.runner import open_suite
    from slowcheck.errors import SlowcheckError
    from slowcheck.report import new_report_dir

    reporter = request.config.pluginmanager.get_plugin("terminalreporter")
    try:
        with open_suite(plan_from(request.config.option, new_report_dir("pytest"))) as suite:
            for line in suite.plan.lines():
                if reporter is not None:
                    reporter.write_line(line)
            suite.prepare()
            yield suite
    except SlowcheckError as exc:
        pytest.exit(f"slowcheck: error: {exc}", returncode=2)


@pytest.fixture(scope="session")
def contract_target(contract_suite: Suite) -> Target:
    """The API under test (or the embedded mock), as the rules see it."""
    return contract_suite.target
