"""A file a user writes for slowcheck (a baseline, a price table, the mock's config), read one way: JSON when
its name ends in ``.json``, TOML otherwise; every defect is one line naming the file."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from slowcheck import _json
from slowcheck.errors import ConfigError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

__all__ = ["read"]


def read(path: Path, what: str) -> Any:
    """``path`` parsed. ``what`` names the file in errors: ``--baseline``, ``prices``, ``config``."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read {what} {path}: {exc.strerror or exc}") from None
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{what} {path} is not UTF-8 text: {exc.reason}") from None
    kind = "JSON" if path.suffix.lower() == ".json" else "TOML"
    try:
        return _json.loads(text.encode()) if kind == "JSON" else tomllib.loads(text)
    except (ValueError, RecursionError) as exc:  # TOMLDecodeError is a ValueError
        raise ConfigError(f"{what} {path} is not valid {kind}: {str(exc).splitlines()[0][:160]}") from None
