"""The vocabulary shared by every module."""

from __future__ import annotations

from typing import Any, TypeAlias

# A decoded JSON value. Kept as Any: the JSON Schemas, not Python types, say what is valid.
JSON: TypeAlias = Any
# A decoded JSON object, e.g. a request body or a generation record.
JSONObject: TypeAlias = dict[str, Any]
