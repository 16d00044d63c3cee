"""The mock as an ASGI app: every surface's routes, the lifespan that starts and stops the engine, and the
OpenAI envelope for whatever Starlette itself refuses."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Any

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from slowcheck import api
from slowcheck.mock.app.admin import Admin
from slowcheck.mock.app.batch_api import BatchApi
from slowcheck.mock.app.catalog import Catalog
from slowcheck.mock.app.fastpath import SUBMIT, FastPath, aliased
from slowcheck.mock.app.generations import Generations
from slowcheck.mock.app.groups import Groups
from slowcheck.mock.app.parts import MockApp
from slowcheck.mock.engine import Engine
from slowcheck.mock.errors import ApiError, internal_error
from slowcheck.mock.records import Kind
from slowcheck.mock.settings import MockSettings

__all__ = ["create_app", "engine_of"]


def create_app(settings: MockSettings) -> Starlette:
    """The mock as an ASGI app; its lifespan starts and stops the engine."""
    mock = MockApp(settings.validate())
    generations, groups, batch_api = Generations(mock), Groups(mock), BatchApi(mock)
    catalog, admin = Catalog(mock), Admin(mock)

    def submit(kind: Kind, group: bool = False) -> Any:
        async def endpoint(request: Request) -> Response:
            return await (groups.submit(request, kind) if group else generations.submit(request, kind))

        return endpoint

    routes = []
    for alias in map(aliased, api.SLOW_PREFIXES):
        routes += [Route(alias(path), submit(kind), methods=["POST"]) for kind, path in SUBMIT.items()]
        routes += [Route(alias(path), submit(kind, group=True), methods=["POST"]) for kind, path in api.GROUP.items()]
        routes.append(Route(alias(api.group_generations("{group_id}")), groups.generations, methods=["GET"]))
    routes += [
        Route(api.FILES, batch_api.upload_file, methods=["POST"]),
        Route(f"{api.FILES}/{{id}}", batch_api.file, methods=["GET", "DELETE"]),
        Route(f"{api.FILES}/{{id}}/content", batch_api.file_content, methods=["GET"]),
        # One route per path, so that a 405's Allow names every method of it.
        Route(api.BATCHES, batch_api.root, methods=["GET", "POST"]),
        Route(f"{api.BATCHES}/{{id}}", batch_api.batch, methods=["GET"]),
        Route(f"{api.BATCHES}/{{id}}/cancel", batch_api.cancel, methods=["POST"]),
        Route(api.generation("{id}"), generations.poll, methods=["GET"]),
        Route(api.MODELS, catalog.models, methods=["GET"]),
        Route("/health", catalog.health, methods=["GET"]),
        Route("/_mock/stats", admin.stats, methods=["GET"]),
        Route("/_mock/stats/generations/{id}", admin.generation_stats, methods=["GET"]),
        Route("/_mock/webhooks", admin.webhooks, methods=["GET", "POST"]),
        Route("/_mock/webhooks/{id}", admin.webhooks, methods=["DELETE"]),
    ]

    @contextlib.asynccontextmanager
    async def lifespan(_: Starlette) -> AsyncIterator[None]:
        await mock.start()
        try:
            yield
        finally:
            await mock.stop()

    app = Starlette(
        routes=routes,
        lifespan=lifespan,
        exception_handlers={ApiError: _api_error, HTTPException: _http_error, Exception: _server_error},
    )
    app.state.mock = mock
    return FastPath(app, generations)  # type: ignore[return-value]


def engine_of(app: Starlette) -> Engine:
    engine: Engine = app.state.mock.engine
    return engine


async def _api_error(_: Request, exc: Exception) -> Response:
    assert isinstance(exc, ApiError)
    return exc.response()


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    if exc.status_code == 405:
        allowed = dict(exc.headers or {}).get("Allow", "")
        return ApiError(
            405,
            f"Method {request.method} is not allowed on {request.url.path}.",
            code="method_not_allowed",
            headers={"Allow": allowed} if allowed else None,
        ).response()
    if exc.status_code == 404:
        return ApiError(404, f"Unknown path {request.url.path}.", code="unknown_url").response()
    return ApiError(exc.status_code, str(exc.detail)).response()


async def _server_error(_: Request, exc: Exception) -> Response:
    return internal_error(exc).response()
