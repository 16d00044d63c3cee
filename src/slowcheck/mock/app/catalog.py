"""What the mock serves and whether it is up: the model list and ``/health``."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from slowcheck.mock.app.parts import Surface
from slowcheck.mock.errors import json_answer

__all__ = ["DEFAULT_MODELS", "Catalog"]

DEFAULT_MODELS = (
    "google/gemma-3-27b-instruct/bf-16",
    "meta-llama/llama-3.2-3b-instruct/fp-16",
    "meta-llama/llama-3.2-1b-instruct/fp-8",
    "inference-net/load-test",
    "qwen/qwen3-embedding-4b",
)
"""Documented model ids; any name is accepted unless --model restricts the list."""


class Catalog(Surface):
    async def models(self, request: Request) -> Response:
        self.limits.through_gateway(self.admission.tenant(request))
        names = self.settings.models or DEFAULT_MODELS
        data = [{"id": name, "object": "model", "created": 0, "owned_by": "slowcheck-mock"} for name in names]
        return json_answer({"object": "list", "data": data})

    async def health(self, request: Request) -> Response:
        return json_answer({"status": "ok", "generations": self.engine.count(), "durable": self.engine.store.durable})
