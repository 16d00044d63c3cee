"""A batch's input file: checked whole once, while the batch is ``validating`` (every line a request the batch
may run, each ``custom_id`` once), and the kind of generation each line becomes."""

from __future__ import annotations

import asyncio
from pathlib import Path

from slowcheck import _json, api
from slowcheck.api import Kind
from slowcheck.mock import generator
from slowcheck.mock.errors import excerpt
from slowcheck.schemas import SchemaSet, schema_set
from slowcheck.types import JSONObject

__all__ = ["check_input", "kind_of"]

_KIND_KEYS: tuple[tuple[str, Kind], ...] = (("messages", "chat"), ("prompt", "text"), ("input", "embedding"))
"""Without ``url`` (inference.net's newer format), a line's kind is read from its body's shape."""
_ERRORS_KEPT = 100


async def check_input(path: Path, endpoint: str, max_lines: int) -> tuple[int, list[JSONObject]]:
    """How many requests the file holds, and why the batch cannot run it: OpenAI's ``errors.data`` items, at most
    100 with their line numbers; none when it can."""
    errors: list[JSONObject] = []
    seen: set[str] = set()
    count = 0
    schemas = schema_set()
    try:
        with path.open("rb") as lines:
            for number, line in enumerate(lines, 1):
                if number % 500 == 0:
                    await asyncio.sleep(0)  # a large file must not stall the other requests
                if not line.strip():
                    continue
                count += 1
                problem = _line_problem(line, endpoint, seen, schemas)
                if problem is not None and len(errors) < _ERRORS_KEPT:
                    errors.append({"code": problem[0], "message": problem[1], "param": None, "line": number})
    except OSError as exc:
        errors.append({"code": "file_unreadable", "message": f"The input file cannot be read: {exc}",
                       "param": "input_file_id", "line": None})  # fmt: skip
    if not errors and count == 0:
        errors.append({"code": "empty_file", "message": "The input file holds no request.", "param": None,
                       "line": None})  # fmt: skip
    if count > max_lines:
        errors.append({"code": "too_many_requests", "param": None, "line": None,
                       "message": f"A batch holds at most {max_lines} requests, this file {count}."})  # fmt: skip
    return count, errors


def kind_of(item: JSONObject, endpoint: str) -> Kind:
    """The kind of generation a (checked) line becomes: its own ``url``'s, else its batch's endpoint's."""
    url = item.get("url")
    return api.BATCH_URLS[url] if isinstance(url, str) else api.BATCH_URLS[endpoint]


def _line_problem(line: bytes, endpoint: str, seen: set[str], schemas: SchemaSet) -> tuple[str, str] | None:
    """Why one input line cannot run in this batch (code, message), or None."""
    try:
        item = _json.loads(line)
    except ValueError as exc:
        return "invalid_json_line", f"The line is not JSON: {str(exc).splitlines()[0][:120]}"
    if not schemas.is_valid("batch-request-line", item):  # the compiled validator; readable errors only if needed
        errors = schemas.errors("batch-request-line", item)
        return "invalid_request", f"The line is not a valid request: {errors[0] if errors else 'invalid'}"
    url = item.get("url")
    if url is not None and url != endpoint:
        return "mismatched_url", f"The line's url {excerpt(url)} is not the batch's endpoint {endpoint}."
    body = item["body"]
    kind = api.BATCH_URLS[endpoint]
    if url is None and not any(key in body and of == kind for key, of in _KIND_KEYS):
        return "mismatched_body", f"The line's body is not a request for the batch's endpoint {endpoint}."
    if kind == "embedding" and generator.numbers(body) > generator.MAX_NUMBERS:
        return "too_large", f"The mock answers at most {generator.MAX_NUMBERS:,} numbers a request."
    if item["custom_id"] in seen:
        return "duplicate_custom_id", f"custom_id {excerpt(item['custom_id'])} is used by an earlier line."
    seen.add(item["custom_id"])
    return None
