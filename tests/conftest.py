from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, settings

from slowcheck.mock import MockSettings, Span
from slowcheck.schemas import SchemaSet, schema_set

PAYLOADS = Path(__file__).parent / "payloads"
TOGETHER = frozenset(
    {
        "tests/contract/test_real_world.py",  # every case run at once by one fixture, a minute and more
        "tests/run/test_run.py",  # one whole `slowcheck run`
        "tests/sdk/test_matrix.py",  # the installed SDK versions' cache
    }
)
"""Modules whose tests share one costly session fixture: under pytest-xdist one worker runs each of them, so the
fixture is computed once. (xdist's own ``--dist loadgroup`` stopped grouping with pytest 9.2's node ids:
pytest-xdist issue 1386.)"""


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> Any:
    """Each test its own unit of work, but for the modules in :data:`TOGETHER`, sent whole to one worker."""
    from xdist.scheduler import LoadScopeScheduling

    class Together(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            module = nodeid.split("::", 1)[0]
            return module if module in TOGETHER else nodeid

    return Together(config, log)


settings.register_profile("default", deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("ci", parent=settings.get_profile("default"), derandomize=True)
# CI runs derandomized, so a red build is reproducible; locally each run explores new examples.
settings.load_profile(os.environ.get("SLOWCHECK_HYPOTHESIS_PROFILE", "ci" if os.environ.get("CI") else "default"))


@pytest.fixture(scope="session")
def schemas() -> SchemaSet:
    return schema_set()


def fast_mock(**overrides: Any) -> MockSettings:
    """The mock's settings for tests: nothing written to disk, each generation queued and run for a few hundredths
    of a second. Overrides win: a port, keys, models, faults, or a slower lifecycle where a test needs one."""
    base: dict[str, Any] = {"db": ":memory:", "queue_time": Span(0.0, 0.02), "run_time": Span(0.01, 0.03)}
    return MockSettings(**(base | overrides))


def payload(name: str) -> Any:
    return json.loads((PAYLOADS / name).read_text(encoding="utf-8"))


@pytest.fixture(autouse=True)
def _not_on_github(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every test as on a developer's machine, also when this suite itself runs on GitHub Actions: there the
    runner sets ``GITHUB_ACTIONS``, and every command would add annotations after its verdict line. The GitHub
    tests set it themselves."""
    monkeypatch.delenv("GITHUB_ACTIONS", raising=False)
    monkeypatch.delenv("GITHUB_STEP_SUMMARY", raising=False)
