"""The mock: a durable, stateful implementation of the asynchronous inference API."""

from __future__ import annotations

from slowcheck.mock.app import create_app, engine_of
from slowcheck.mock.settings import Faults, MockSettings, Span

__all__ = ["Faults", "MockSettings", "Span", "create_app", "engine_of"]
