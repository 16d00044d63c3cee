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
