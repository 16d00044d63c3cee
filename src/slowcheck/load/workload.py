"""What a load run sends: a small fixed workload of chat and text submissions, encoded once."""

from __future__ import annotations

from typing import Any

from slowcheck import _json, api

__all__ = ["bodies"]


def bodies(model: str, metadata: dict[str, str] | None = None) -> list[tuple[api.Kind, bytes]]:
    """Four chat requests to one text completion request; ``metadata`` (e.g. a webhook id) goes into each."""
    extra: dict[str, Any] = {"metadata": metadata} if metadata else {}
    chats = [
        {
            "model": model,
            "messages": [
                {"role": "system", "content": "You are a concise assistant."},
                {"role": "user", "content": f"Summarise document {n} of the load run in one sentence."},
            ],
            "max_tokens": 64,
            **extra,
        }
        for n in range(4)
    ]
    text = {"model": model, "prompt": "Once upon a time", "max_tokens": 32, **extra}
    return [("chat", _json.dumps(body)) for body in chats] + [("text", _json.dumps(text))]
