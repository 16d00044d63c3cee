"""A last guard for secrets: should a target echo an API key, it still reaches no file we write."""

from __future__ import annotations

import sys
from pathlib import Path

__all__ = ["redact_folder"]


def redact_folder(folder: Path, keys: list[str], *, announce: str) -> None:
    secrets = [key for key in keys if key]
    for path in sorted(folder.rglob("*")):
        if not path.is_file():
            continue
        data = path.read_bytes()
        cleaned = data
        for key in secrets:
            cleaned = cleaned.replace(key.encode(), b"***")
        if cleaned != data:
            path.write_bytes(cleaned)
            print(f"{announce}: redacted an API key the target echoed, in {path.name}", file=sys.stderr)  # noqa: T201
