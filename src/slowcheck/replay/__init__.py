"""``slowcheck replay``: one finding of a written report sent again and judged by the same rule."""

from __future__ import annotations

__all__: list[str] = []
