"""The exceptions slowcheck raises.

- SlowcheckError: base of every error meant for the user (one readable line, no traceback).
    - ConfigError: a bad flag, file or setting.
    - UnknownSchema: a schema kind that does not exist.
- SchemaViolation(AssertionError): a payload that breaks a JSON Schema. An AssertionError, so pytest
  reports it as a failure of the checked system, not as an error of the test.
"""

from __future__ import annotations

from dataclasses import dataclass


class SlowcheckError(Exception):
    """An error the user can fix; its message is one line naming the problem."""


class ConfigError(SlowcheckError):
    """A bad flag, configuration file or setting."""


class UnknownSchema(SlowcheckError):
    """A schema kind that slowcheck does not ship."""


@dataclass(frozen=True, slots=True)
class SchemaError:
    """One way a payload breaks a schema."""

    path: str
    """Where in the payload, as a JSONPath such as ``$.messages[1].role``."""
    message: str
    """What is wrong there."""

    def __str__(self) -> str:
        return f"{self.path}: {self.message}"


class SchemaViolation(AssertionError):
    """A payload that does not validate against one of the schemas."""

    def __init__(self, kind: str, errors: list[SchemaError]) -> None:
        self.kind = kind
        self.errors = errors
        super().__init__(f"not a valid {kind}: " + "; ".join(str(e) for e in errors))
