"""What the Batch API keeps: a stored file and a batch, the objects OpenAI returns and the records the store
holds (a batch's with where its run stands, private to the mock)."""

from __future__ import annotations

import asyncio
import math
import time
from dataclasses import dataclass, field
from typing import Any, TypeVar

from slowcheck import api
from slowcheck.api import BatchStatus
from slowcheck.mock.errors import ApiError, excerpt
from slowcheck.mock.ids import new_id
from slowcheck.types import JSONObject

__all__ = ["Batch", "StoredFile", "owned"]

_STAMPS = tuple(f"{status}_at" for status in api.BATCH_STATUSES if status != "validating")
"""When a batch reached each status (the first is its ``created_at``)."""


@dataclass(slots=True)
class StoredFile:
    id: str
    tenant: str
    purpose: str
    filename: str
    bytes: int
    created_at: int

    def to_json(self) -> JSONObject:
        return {"id": self.id, "object": "file", "bytes": self.bytes, "created_at": self.created_at,
                "filename": self.filename, "purpose": self.purpose, "status": "processed"}  # fmt: skip

    def record(self) -> dict[str, Any]:
        return {"id": self.id, "tenant": self.tenant, "purpose": self.purpose, "filename": self.filename,
                "bytes": self.bytes, "created_at": self.created_at}  # fmt: skip


@dataclass(slots=True)
class Batch:
    """A batch: the object OpenAI returns, and where its run stands (private to the mock)."""

    id: str
    tenant: str
    public: dict[str, Any]
    lines: int = 0
    """Requests in the input file, once validated."""
    next_line: int = 0
    """Physical lines of the input file already read (fed, or blank)."""
    next_offset: int = 0
    """Where the next unread line starts, in bytes."""
    deadline: float = 0.0
    """When the batch expires (``expires_at`` in whole seconds is for clients)."""
    in_flight: set[str] = field(default_factory=set)
    """Generations of this batch not yet terminal."""
    woken: asyncio.Event = field(default_factory=asyncio.Event)

    @classmethod
    def new(cls, tenant: str, body: JSONObject, deadline: float) -> Batch:
        """A batch made of a (checked) creation body, ``validating``; it expires at ``deadline``."""
        status: BatchStatus = "validating"
        public: dict[str, Any] = {
            "id": "batch_" + new_id(), "object": "batch", "endpoint": body["endpoint"], "errors": None,
            "input_file_id": body["input_file_id"], "completion_window": body["completion_window"],
            "status": status, "output_file_id": None, "error_file_id": None, "created_at": int(time.time()),
            "expires_at": math.ceil(deadline), **dict.fromkeys(_STAMPS, None),
            "request_counts": {"total": 0, "completed": 0, "failed": 0}, "metadata": body.get("metadata"),
        }  # fmt: skip
        if "webhook_url" in body:
            public["webhook_url"] = body["webhook_url"]
        return cls(public["id"], tenant, public, deadline=deadline)

    @classmethod
    def of(cls, record: dict[str, Any]) -> Batch:
        """A batch from its stored record."""
        return cls(record["id"], record["tenant"], record["public"], record["lines"], record["next_line"],
                   record["next_offset"], record["deadline"])  # fmt: skip

    @property
    def status(self) -> BatchStatus:
        status: BatchStatus = self.public["status"]
        return status

    def to_json(self) -> JSONObject:
        return dict(self.public)

    def record(self) -> dict[str, Any]:
        return {"id": self.id, "tenant": self.tenant, "public": self.public, "lines": self.lines,
                "next_line": self.next_line, "next_offset": self.next_offset, "deadline": self.deadline}  # fmt: skip

    def move(self, status: BatchStatus, **values: Any) -> None:
        """A new status, and the timestamp that goes with it (``<status>_at``) unless given."""
        stamp = f"{status}_at"
        self.public["status"] = status
        if stamp in _STAMPS and stamp not in values:
            values[stamp] = int(time.time())
        self.public.update(values)


_Owned = TypeVar("_Owned", StoredFile, Batch)


def owned(found: _Owned | None, tenant: str, what: str, given: str) -> _Owned:
    """A tenant's file or batch; another tenant's is as unknown as a missing one (404)."""
    if found is None or found.tenant != tenant:
        raise ApiError(404, f"No {what} found with id {excerpt(given)}.", param=f"{what}_id", code="not_found")
    return found
