"""The checks: pure judgements of what was observed (a record read, an ack, a webhook delivery), each
registered once with its id, source and tolerance, and called alike by the contract's rules, the proxy and
LIFE-GENERATED. Importing the package fills :data:`CHECKS`."""

from __future__ import annotations

from slowcheck.checks import acks, records, webhooks
from slowcheck.checks.registry import CHECKS, Criterion, check, criterion

__all__ = ["CHECKS", "Criterion", "acks", "check", "criterion", "records", "webhooks"]
