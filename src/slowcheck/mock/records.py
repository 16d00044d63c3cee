"""What the mock stores: generations and groups, and how a record is shown to its owner."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import NamedTuple

from slowcheck.api import TERMINAL, Kind, State
from slowcheck.types import JSONObject

__all__ = ["Generation", "Group", "Idempotent", "Kind", "State", "iso"]


class Idempotent(NamedTuple):
    """An Idempotency-Key's record: whose key, the key, the body it came with, and the generation it made.

    Stored as it is (its fields are the ``idempotency`` table's columns) and looked up by ``(tenant, key)``.
    """

    tenant: str
    key: str
    body_hash: str
    generation_id: str


def iso(epoch: float) -> str:
    """ISO-8601 UTC with milliseconds and ``Z``, as in the documented records."""
    return datetime.fromtimestamp(epoch, timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


@dataclass(slots=True)
class Generation:
    id: str
    tenant: str
    """Fingerprint of the API key that submitted it; never the key itself."""
    kind: Kind
    request: JSONObject
    created: float
    """Epoch seconds of the submission (the ack shows it in milliseconds)."""
    eligible_at: float
    """When a worker may take it (end of its simulated queue time)."""
    run_time: float
    state: State = "Queued"
    state_message: str = "Queued"
    response: JSONObject | None = None
    dispatched_at: float | None = None
    finished_at: float | None = None
    group_id: str | None = None
    """The group it was submitted in, if any."""
    batch_id: str | None = None
    """The batch whose input line it runs, if any (a batch is no group: it reports through its own files)."""
    fail: bool = False
    stuck: bool = False
    raw: bytes | None = field(default=None, repr=False, compare=False)
    """The request body as received, stored as is (set on submission; not kept after a restart)."""

    @property
    def terminal(self) -> bool:
        return self.state in TERMINAL

    @property
    def webhook_id(self) -> str | None:
        metadata = self.request.get("metadata")
        value = metadata.get("webhook_id") if isinstance(metadata, dict) else None
        return value if isinstance(value, str) else None

    def ack(self) -> JSONObject:
        created = int(self.created * 1000)
        if self.kind == "embedding":  # as the completions' acks are: the answer's shape, with nothing in it
            return {"id": self.id, "object": "list", "created": created, "model": self.request["model"], "data": []}
        return {
            "id": self.id,
            "object": "chat.completion" if self.kind == "chat" else "text_completion",
            "created": created,
            "model": self.request["model"],
            "choices": [],
        }

    def to_json(self) -> JSONObject:
        return {
            "id": self.id,
            "state": self.state,
            "stateMessage": self.state_message,
            "request": self.request,
            "response": self.response,
            "dispatchedAt": iso(self.dispatched_at) if self.dispatched_at is not None else None,
            "finishedAt": iso(self.finished_at) if self.finished_at is not None else None,
        }


@dataclass(slots=True)
class Group:
    id: str
    tenant: str
    kind: Kind
    member_ids: list[str]
    created: float
    webhook_id: str | None = None
    notified: bool = False
