"""Checks of the immediate answer to a submission."""

from __future__ import annotations

from typing import Any

from slowcheck.checks.registry import check
from slowcheck.findings import Violation
from slowcheck.schemas import schema_set

__all__ = ["ack_shape"]


@check("ACK-SHAPE", "The ack validates against submit-ack.schema.json.", source="documented")
def ack_shape(ack: Any, kind: str) -> Violation | None:
    """``ack``: the body of a 2xx answer to a ``kind`` submission (anything: an answer that is not JSON too)."""
    schemas = schema_set()
    if schemas.is_valid("submit-ack", ack):
        return None
    errors = [str(e) for e in schemas.errors("submit-ack", ack)] or ["invalid"]
    return Violation(f"{kind} ack breaks the schema: " + "; ".join(errors), response=ack)
