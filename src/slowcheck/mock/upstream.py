"""``--upstream``: a real OpenAI-compatible server (vLLM, llama.cpp, Ollama) does the work.

The mock then is an asynchronous front for any synchronous server: it queues, dispatches to the
upstream with at most ``workers`` requests in flight, and stores what comes back.
"""

from __future__ import annotations

from typing import Any

import httpx

from slowcheck.mock.records import Generation
from slowcheck.types import JSONObject

__all__ = ["UpstreamError", "UpstreamModel"]


class UpstreamError(Exception):
    """The upstream did not produce a completion; the message becomes the Failed state's stateMessage."""


class UpstreamModel:
    """The model behind ``--upstream``: a synchronous completion per generation."""

    def __init__(self, base_url: str, *, api_key: str | None, timeout: float) -> None:
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._client = httpx.AsyncClient(
            base_url=base_url.rstrip("/"), headers=headers, timeout=timeout, trust_env=False
        )

    async def complete(self, generation: Generation) -> JSONObject:
        path = "/chat/completions" if generation.kind == "chat" else "/completions"
        # metadata is the async API's own field; synchronous servers may refuse it. Streaming is not async.
        body = {k: v for k, v in generation.request.items() if k != "metadata"} | {"stream": False}
        try:
            answer = await self._client.post(path, json=body)
        except httpx.HTTPError as exc:
            raise UpstreamError(f"Generation failed: upstream unreachable ({type(exc).__name__})") from None
        if answer.status_code >= 400:
            raise UpstreamError(f"Generation failed: upstream answered {answer.status_code}: {_reason(answer)}")
        try:
            response: Any = answer.json()
        except ValueError:
            raise UpstreamError("Generation failed: upstream answered with something that is not JSON") from None
        if not isinstance(response, dict) or not isinstance(response.get("choices"), list):
            raise UpstreamError("Generation failed: upstream answer has no choices")
        # The documented record carries the generation id as the completion's id.
        response["id"] = generation.id
        return response

    async def aclose(self) -> None:
        await self._client.aclose()


def _reason(answer: httpx.Response) -> str:
    try:
        error = answer.json().get("error")
        message = error.get("message") if isinstance(error, dict) else answer.json().get("message")
    except (ValueError, AttributeError):
        message = None
    return str(message or answer.reason_phrase)[:200]
