"""A batch's output and error files, written when it ends, in the order its lines finished: a line that
succeeded goes to the output file; one that failed, was refused or never ran to the error file."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from slowcheck import _json
from slowcheck.api import BatchStatus
from slowcheck.mock.batch_records import Batch, StoredFile
from slowcheck.mock.ids import new_id, request_id
from slowcheck.types import JSONObject

__all__ = ["CANCELLED", "EXPIRED", "REFUSED", "Results"]

REFUSED = "Invalid request (fault injected by the mock: a line-level 400)"
CANCELLED = "Cancelled: the batch was cancelled before this request ran"
EXPIRED = "Expired: the batch's completion window ended before this request ran"


class Results:
    """The two result files of a batch that ends with ``status``."""

    def __init__(self, folder: Path, batch: Batch, status: BatchStatus) -> None:
        self.unfinished = CANCELLED if status == "cancelled" else EXPIRED
        """What a line that never ran says."""
        self._code = "batch_cancelled" if status == "cancelled" else "batch_expired"
        self._output, self._errors = _File(folder, batch, "output"), _File(folder, batch, "error")

    def add(self, custom_id: str, state: str | None, message: str | None, response: Any) -> None:
        """A dispatched line's result, from its generation's state (None where nothing is known)."""
        if state == "Success":
            self._output.line(custom_id, {"status_code": 200, "request_id": request_id(), "body": response})
        elif state not in ("Success", "Failed") or message == self.unfinished:
            self.never_ran(custom_id)
        elif message == REFUSED:
            body = {"error": {"message": message, "type": "invalid_request_error", "param": None,
                              "code": "invalid_request"}}  # fmt: skip
            self._errors.line(custom_id, {"status_code": 400, "request_id": request_id(), "body": body})
        else:
            body = {"error": {"message": message, "type": "server_error", "param": None,
                              "code": "generation_failed"}}  # fmt: skip
            self._errors.line(custom_id, {"status_code": 500, "request_id": request_id(), "body": body})

    def never_ran(self, custom_id: str) -> None:
        self._errors.line(custom_id, None, {"code": self._code, "message": self.unfinished})

    def close(self) -> dict[str, StoredFile | None]:
        """The files written (``output_file_id``, ``error_file_id``): None for one without a line."""
        return {"output_file_id": self._output.close(), "error_file_id": self._errors.close()}


class _File:
    """One output or error file of a batch, created on its first line."""

    def __init__(self, folder: Path, batch: Batch, part: str) -> None:
        self.path = folder / ("file-" + new_id())
        self.batch, self.part = batch, part
        self._out: Any = None

    def line(self, custom_id: str, response: JSONObject | None, error: JSONObject | None = None) -> None:
        if self._out is None:
            self._out = self.path.open("wb")
        record = {"id": "batch_req_" + new_id(), "custom_id": custom_id, "response": response, "error": error}
        self._out.write(_json.dumps(record) + b"\n")

    def close(self) -> StoredFile | None:
        if self._out is None:
            return None
        size = self._out.tell()
        self._out.close()
        return StoredFile(self.path.name, self.batch.tenant, "batch_output", f"{self.batch.id}_{self.part}.jsonl",
                          size, int(time.time()))  # fmt: skip
