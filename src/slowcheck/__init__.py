"""slowcheck: contract tests and load runs for OpenAI-compatible asynchronous inference APIs."""

from __future__ import annotations

from slowcheck.errors import ConfigError, SchemaViolation, SlowcheckError, UnknownSchema
from slowcheck.schemas import KINDS, SchemaSet, schema_set

__version__ = "0.1.0"

__all__ = [
    "KINDS",
    "ConfigError",
    "SchemaSet",
    "SchemaViolation",
    "SlowcheckError",
    "UnknownSchema",
    "__version__",
    "schema_set",
]
