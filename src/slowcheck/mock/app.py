"""The mock's HTTP surface (Starlette): the async API, the group API, models, health and /_mock admin."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import math
import random
import secrets
from collections.abc import AsyncIterator, Callable
from typing import Any
from urllib.parse import urlsplit

from starlette.applications import Starlette
from starlette.datastructures import UploadFile
from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect, Request
from starlette.responses import FileResponse, Response
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from slowcheck import _json, api
from slowcheck.errors import SchemaError
from slowcheck.mock import generator
from slowcheck.mock.batches import Batches
from slowcheck.mock.credit import Credit
from slowcheck.mock.engine import Engine
from slowcheck.mock.errors import ApiError, JsonAnswer, excerpt
from slowcheck.mock.ids import new_id
from slowcheck.mock.limits import Limits
from slowcheck.mock.ratelimit import Limiter
from slowcheck.mock.records import Group, Idempotent, Kind
from slowcheck.mock.settings import MockSettings
from slowcheck.mock.store import Store
from slowcheck.schemas import schema_set
from slowcheck.target_url import is_loopback_host
from slowcheck.types import JSONObject

__all__ = ["create_app", "engine_of"]

# Documented model ids; any name is accepted unless --model restricts the list.
DEFAULT_MODELS = (
    "google/gemma-3-27b-instruct/bf-16",
    "meta-llama/llama-3.2-3b-instruct/fp-16",
    "meta-llama/llama-3.2-1b-instruct/fp-8",
    "inference-net/load-test",
    "qwen/qwen3-embedding-4b",
)
_REQUEST_KIND: dict[Kind, str] = {
    "chat": "chat-completion-request",
    "text": "completion-request",
    "embedding": "embedding-request",
}
_SUBMIT: dict[Kind, str] = {**api.SUBMIT, "embedding": api.EMBEDDINGS}
"""Every single-request endpoint the mock serves: the completions, and embeddings."""
_STREAM_REFUSED = (
    "stream=true is not supported on the asynchronous API: the answer is an id to poll, not a stream. "
    "OpenAI SDKs given stream=True read an empty stream and lose the id; send stream=false or omit it."
)
_GROUP_LIMIT = 50


class MockApp:
    """Handlers bound to one engine and its settings."""

    def __init__(self, settings: MockSettings) -> None:
        self.settings = settings
        self.engine = Engine(settings, Store(settings.db, fsync=settings.fsync))
        self.batches = Batches(settings, self.engine)
        self.schemas = schema_set()
        self.limits = Limits(settings, self.engine.stats)
        self.credit = Credit(settings, self.engine)
        self._keys = set(settings.api_keys)
        self._tenants: dict[str, str] = {}
        self._rng = random.Random(settings.seed + 2)

    # -- shared steps ---------------------------------------------------------------------------

    def tenant(self, request: Request) -> str:
        header = request.headers.get("authorization", "")
        scheme, _, key = header.partition(" ")
        key = key.strip()
        if scheme.lower() != "bearer" or not key:
            raise ApiError(401, "You didn't provide an API key. Send it as 'Authorization: Bearer YOUR_KEY'.")
        if self._keys and key not in self._keys:
            raise ApiError(401, "Incorrect API key provided.", code="invalid_api_key")
        tenant = self._tenants.get(key)
        if tenant is None:
            # A fingerprint, so stats and the store never hold the key itself.
            tenant = self._tenants[key] = "key_" + hashlib.sha256(key.encode()).hexdigest()[:12]
        return tenant

    def admit(self, request: Request, limiter: Limiter, name: str) -> tuple[str, dict[str, str]]:
        """The steps every API call takes first: who is it, the gateway's limit, an injected fault, its own limit."""
        tenant = self.tenant(request)
        self.limits.through_gateway(tenant)
        self.injected_error(tenant)
        return tenant, self.limits.check(limiter, tenant, name)

    def injected_error(self, tenant: str) -> None:
        if self.settings.faults.error_ratio and self._rng.random() < self.settings.faults.error_ratio:
            self.engine.stats.count(tenant, "injected_errors")
            raise ApiError(
                503, "The server is overloaded (fault injected by the mock).", type="server_error", code="overloaded"
            )

    async def body(self, request: Request) -> tuple[Any, bytes]:
        content_type = request.headers.get("content-type", "application/json").split(";")[0].strip().lower()
        if content_type and content_type != "application/json" and not content_type.endswith("+json"):
            raise ApiError(
                400, f"Content-Type must be application/json, not {excerpt(content_type)}.", code="invalid_content_type"
            )
        limit = self.settings.max_body_bytes
        declared = request.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > limit:
            await _drain(request.stream())
            raise _too_large(limit)
        if declared.isdigit():
            raw = await request.body()
        else:  # chunked: count as it arrives
            chunks, size = [], 0
            stream = request.stream()
            async for chunk in stream:
                size += len(chunk)
                if size > limit:
                    await _drain(stream)
                    raise _too_large(limit)
                chunks.append(chunk)
            raw = b"".join(chunks)
        try:
            return _json.loads(raw), raw
        except _json.TooDeep:
            raise ApiError(
                400, f"The body nests arrays and objects deeper than {_json.MAX_DEPTH} levels.", code="too_deep"
            ) from None
        except ValueError as exc:
            raise ApiError(
                400, f"The body is not valid JSON: {str(exc).splitlines()[0][:120]}", code="invalid_json"
            ) from None

    def validate(self, kind: Kind, body: Any, prefix: str = "") -> JSONObject:
        schema = _REQUEST_KIND[kind]
        if not self.schemas.is_valid(schema, body):
            error = (self.schemas.errors(schema, body) or [SchemaError("$", "invalid")])[0]
            param = _param(error, prefix)
            raise ApiError(
                400, f"Invalid request: {param or 'body'}: {error.message}", param=param, code="invalid_value"
            )
        if body.get("stream") is True:
            raise ApiError(400, _STREAM_REFUSED, param=prefix + "stream", code="stream_not_supported")
        if kind == "embedding" and generator.numbers(body) > generator.MAX_NUMBERS:
            limit = f"{generator.MAX_NUMBERS:,}"
            raise ApiError(400, f"The mock answers at most {limit} numbers a request: fewer inputs or dimensions.",
                           param=prefix + "dimensions", code="too_large")  # fmt: skip
        models = self.settings.models
        if models and body["model"] not in models:
            raise ApiError(
                404,
                f"The model {excerpt(body['model'])} does not exist.",
                param=prefix + "model",
                code="model_not_found",
            )
        return body  # type: ignore[no-any-return]

    # -- the async API ----------------------------------------------------------------------------

    async def submit(self, request: Request, kind: Kind) -> Response:
        tenant, headers = self.admit(request, self.limits.submissions, "submissions")
        body, raw = await self.body(request)
        self.validate(kind, body)
        headers |= self.limits.check(self.limits.generations, tenant, "generations")
        body_hash = hashlib.sha256(raw).hexdigest()
        idempotency = self.idempotency(request, tenant, body_hash)
        if isinstance(idempotency, Response):
            return idempotency
        generation = self.engine.new_generation(new_id(), tenant, kind, body)
        generation.raw = raw
        self.credit.hold(tenant, [generation])
        record = idempotency and Idempotent(*idempotency, generation_id=generation.id)
        await self.engine.submit([generation], idempotency=record)
        self.engine.stats.submitted(tenant, body_hash)
        if self.settings.faults.ack_latency:
            await asyncio.sleep(self.settings.faults.ack_latency)
        return _json_response(generation.ack(), headers=headers)

    def idempotency(self, request: Request, tenant: str, body_hash: str) -> tuple[str, str, str] | Response | None:
        key = request.headers.get("idempotency-key")
        if key is None:
            return None
        if not _IDEMPOTENCY_KEY_LENGTH[0] <= len(key) <= _IDEMPOTENCY_KEY_LENGTH[1]:
            low, high = _IDEMPOTENCY_KEY_LENGTH
            raise ApiError(
                400,
                f"Idempotency-Key must be {low} to {high} characters, got {len(key)}.",
                param="Idempotency-Key",
                code="invalid_idempotency_key",
            )
        seen = self.engine.idempotent(tenant, key)
        if seen is None:
            return (tenant, key, body_hash)
        if seen.body_hash != body_hash:
            raise ApiError(
                409,
                "This Idempotency-Key was used with a different body.",
                param="Idempotency-Key",
                code="idempotency_key_reused",
            )
        self.engine.stats.count(tenant, "idempotent_replays")
        generation = self.engine.generation(seen.generation_id)
        if generation is None:  # its retention window is over: the key no longer names a generation
            raise ApiError(409, "This Idempotency-Key's generation has expired.", param="Idempotency-Key",
                           code="idempotency_key_expired")  # fmt: skip
        return _json_response(generation.ack(), headers={"idempotent-replayed": "true"})

    async def generation(self, request: Request) -> Response:
        tenant, headers = self.admit(request, self.limits.polls, "polls")
        generation_id = request.path_params["id"]
        generation = self.engine.generation(generation_id)
        if generation is None or generation.tenant != tenant:
            self.engine.stats.count(tenant, "polls_not_found")
            raise ApiError(404, f"No generation found with id {excerpt(generation_id)}.", param="id", code="not_found")
        self.engine.stats.polled(tenant, generation_id)
        if self.settings.faults.not_found_until_dispatched and generation.state == "Queued":
            raise ApiError(404, f"No generation found with id {excerpt(generation_id)}.", param="id", code="not_found")
        if self.settings.poll_after_hint and not generation.terminal:
            hint = self.engine.next_change_in(generation)
            if hint is not None:
                headers["openai-poll-after-ms"] = str(max(1, math.ceil(hint * 1000)))
        return _json_response(generation.to_json(), headers=headers)

    # -- groups -----------------------------------------------------------------------------------

    async def submit_group(self, request: Request, kind: Kind) -> Response:
        tenant, headers = self.admit(request, self.limits.submissions, "submissions")
        body, raw = await self.body(request)
        requests = body.get("requests") if isinstance(body, dict) else None
        if not isinstance(requests, list) or not requests:
            raise ApiError(400, "Invalid request: 'requests' must be a non-empty array of requests.", param="requests")
        if len(requests) > _GROUP_LIMIT:
            raise ApiError(
                400,
                f"A group holds at most {_GROUP_LIMIT} requests, got {len(requests)}.",
                param="requests",
                code="group_too_large",
            )
        for index, item in enumerate(requests):
            self.validate(kind, item, prefix=f"requests[{index}].")
        headers |= self.limits.check(self.limits.generations, tenant, "generations", len(requests))
        group_id = new_id()
        members = [self.engine.new_generation(new_id(), tenant, kind, item) for item in requests]
        for member in members:
            member.group_id = group_id
        self.credit.hold(tenant, members)
        webhook_ids = [m.webhook_id for m in members if m.webhook_id]
        group = Group(
            group_id, tenant, kind, [m.id for m in members], members[0].created, webhook_ids[0] if webhook_ids else None
        )
        await self.engine.submit(members, group=group)
        for item in requests:
            self.engine.stats.submitted(tenant, hashlib.sha256(_json.dumps(item)).hexdigest())
        return _json_response({"groupId": group_id, "groupSize": len(members)}, headers=headers)

    async def group_generations(self, request: Request) -> Response:
        tenant, headers = self.admit(request, self.limits.polls, "polls")
        group_id = request.path_params["group_id"]
        group = self.engine.group(group_id)
        if group is None or group.tenant != tenant:
            raise ApiError(404, f"No group found with id {excerpt(group_id)}.", param="groupId", code="not_found")
        self.engine.stats.count(tenant, "group_polls")
        found = [self.engine.generation(m) for m in group.member_ids]
        generations = [g.to_json() for g in found if g is not None]
        return _json_response({"generations": generations}, headers=headers)

    # -- files and batches ------------------------------------------------------------------------

    async def upload_file(self, request: Request) -> Response:
        tenant, headers = self.admit(request, self.limits.submissions, "submissions")
        headers |= self.limits.check(self.limits.uploads, tenant, "uploads")
        if request.headers.get("content-type", "").split(";")[0].strip().lower() != "multipart/form-data":
            raise ApiError(400, "Upload a file as multipart/form-data (fields 'file' and 'purpose').",
                           code="invalid_content_type")  # fmt: skip
        try:
            async with request.form(max_files=1) as form:
                upload, purpose = form.get("file"), form.get("purpose")
                if not isinstance(upload, UploadFile):
                    raise ApiError(400, "The form has no 'file' part.", param="file", code="invalid_value")
                if not isinstance(purpose, str):
                    raise ApiError(400, "The form has no 'purpose' field.", param="purpose", code="invalid_value")
                filename = upload.filename or "upload.jsonl"
                stored = await self.batches.upload(tenant, filename, purpose, _chunks(upload))
        except HTTPException as exc:  # Starlette's refusal of a malformed form
            raise ApiError(400, f"The form cannot be read: {exc.detail}", code="invalid_form") from None
        return _json_response(stored.to_json(), headers=headers)

    async def file(self, request: Request) -> Response:
        tenant, headers = self.admit(request, self.limits.polls, "polls")
        stored = self.batches.file(tenant, request.path_params["id"])
        if request.method == "DELETE":
            await self.batches.delete(tenant, stored.id)
            return _json_response({"id": stored.id, "object": "file", "deleted": True}, headers=headers)
        return _json_response(stored.to_json(), headers=headers)

    async def file_content(self, request: Request) -> Response:
        tenant, headers = self.admit(request, self.limits.polls, "polls")
        stored = self.batches.file(tenant, request.path_params["id"])
        return FileResponse(self.batches.path(stored), media_type="application/octet-stream", headers=headers)

    async def batches_root(self, request: Request) -> Response:
        return await (self.create_batch(request) if request.method == "POST" else self.batches_list(request))

    async def create_batch(self, request: Request) -> Response:
        tenant, headers = self.admit(request, self.limits.submissions, "submissions")
        self.credit.require_some(tenant)
        body, _ = await self.body(request)
        batch = await self.batches.create(tenant, body)
        return _json_response(batch.to_json(), headers=headers)

    async def batch(self, request: Request) -> Response:
        tenant, headers = self.admit(request, self.limits.polls, "polls")
        batch = self.batches.get(tenant, request.path_params["id"])
        hint = self.batches.next_change_in(batch) if self.settings.poll_after_hint else None
        if hint is not None:  # the mock's own hint, as on generations: real APIs send none
            headers["openai-poll-after-ms"] = str(max(1, math.ceil(hint * 1000)))
        return _json_response(batch.to_json(), headers=headers)

    async def cancel_batch(self, request: Request) -> Response:
        # A control call, not new work: limited as reads are, not as submissions.
        tenant, headers = self.admit(request, self.limits.polls, "polls")
        batch = await self.batches.cancel(tenant, request.path_params["id"])
        return _json_response(batch.to_json(), headers=headers)

    async def batches_list(self, request: Request) -> Response:
        tenant, headers = self.admit(request, self.limits.polls, "polls")
        limit_text = request.query_params.get("limit", "20")
        if not limit_text.isdigit() or not 1 <= int(limit_text) <= 100:
            raise ApiError(400, f"limit must be 1 to 100, not {excerpt(limit_text)}.", param="limit")
        listing = self.batches.listing(tenant, request.query_params.get("after"), int(limit_text))
        return _json_response(listing, headers=headers)

    # -- the rest ---------------------------------------------------------------------------------

    async def models(self, request: Request) -> Response:
        self.limits.through_gateway(self.tenant(request))
        names = self.settings.models or DEFAULT_MODELS
        data = [{"id": name, "object": "model", "created": 0, "owned_by": "slowcheck-mock"} for name in names]
        return _json_response({"object": "list", "data": data})

    async def health(self, request: Request) -> Response:
        return _json_response(
            {"status": "ok", "generations": self.engine.count(), "durable": self.engine.store.durable}
        )

    def admin(self, request: Request, *, keys_may: bool = True) -> str | None:
        """Who may use /_mock: None for the admin token (everything), else the tenant of an API key (its own
        data; ``keys_may`` False refuses keys). Beyond loopback without a token, /_mock is off."""
        token = self.settings.admin_token
        scheme, _, given = request.headers.get("authorization", "").partition(" ")
        given = given.strip()
        if token is not None and scheme.lower() == "bearer" and secrets.compare_digest(given.encode(), token.encode()):
            return None
        if token is None and not is_loopback_host(self.settings.host):
            raise ApiError(
                403,
                f"The /_mock endpoints are off: the mock listens on {excerpt(self.settings.host)} without an admin "
                "token (--admin-token or SLOWCHECK_MOCK_ADMIN_TOKEN).",
                code="admin_disabled",
            )
        tenant = self.tenant(request)  # 401 without a valid key
        if not keys_may:
            raise ApiError(403, "This /_mock endpoint needs the admin token.", code="admin_token_required")
        return tenant

    async def stats(self, request: Request) -> Response:
        tenant = self.admin(request)
        states = self.engine.state_counts(tenant)
        answer = self.engine.stats.to_json(states) if tenant is None else self.engine.stats.for_key(tenant, states)
        return _json_response(answer | self.limits.to_json() | self.credit.to_json(tenant))

    async def generation_stats(self, request: Request) -> Response:
        tenant = self.admin(request)
        generation_id = request.path_params["id"]
        generation = self.engine.generation(generation_id)
        if generation is None or tenant is not None and generation.tenant != tenant:
            raise ApiError(404, f"No generation found with id {excerpt(generation_id)}.", param="id", code="not_found")
        polls = self.engine.stats.polls_by_generation.get(generation_id, 0)
        usage = (generation.response or {}).get("usage") or {}
        return _json_response(
            {
                "id": generation_id,
                "state": generation.state,
                "polls": polls,
                # Epoch seconds, unrounded: the truth a load run's figures are compared with.
                "created": generation.created,
                "dispatched_at": generation.dispatched_at,
                "finished_at": generation.finished_at,
                "completion_tokens": usage.get("completion_tokens"),
            }
        )

    async def webhooks(self, request: Request) -> Response:
        # The registry is the mock's, as the dashboard's is the account's: a key may change it only where no
        # admin token is set (loopback, the user's own machine).
        self.admin(request, keys_may=self.settings.admin_token is None)
        registry = self.engine.webhooks.registry if self.engine.webhooks else {}
        if request.method == "POST":
            body, _ = await self.body(request)
            if not isinstance(body, dict) or not isinstance(body.get("id"), str) or not body["id"]:
                raise ApiError(400, 'Expected {"id": ..., "url": ...}.', param="id")
            url = body.get("url")
            if not isinstance(url, str) or not url.startswith(("http://", "https://")):
                raise ApiError(400, "url must be an http(s) URL.", param="url")
            host = urlsplit(url).hostname or ""
            if not is_loopback_host(host) and host not in self.settings.allow_webhook_hosts:
                raise ApiError(
                    400,
                    f"The mock POSTs webhooks to loopback only; {excerpt(host)} needs --allow-webhook-host.",
                    param="url",
                    code="webhook_host_not_allowed",
                )
            assert self.engine.webhooks is not None
            self.engine.webhooks.register(body["id"], url)
        elif request.method == "DELETE":
            assert self.engine.webhooks is not None
            self.engine.webhooks.register(request.path_params["id"], None)
        return _json_response({"webhooks": [{"id": k, "url": v} for k, v in sorted(registry.items())]})


def create_app(settings: MockSettings) -> Starlette:
    """The mock as an ASGI app; its lifespan starts and stops the engine."""
    mock = MockApp(settings.validate())

    def submit(kind: Kind, group: bool = False) -> Any:
        async def endpoint(request: Request) -> Response:
            return await (mock.submit_group(request, kind) if group else mock.submit(request, kind))

        return endpoint

    routes = []
    for alias in map(_aliased, api.SLOW_PREFIXES):
        routes += [Route(alias(path), submit(kind), methods=["POST"]) for kind, path in _SUBMIT.items()]
        routes += [Route(alias(path), submit(kind, group=True), methods=["POST"]) for kind, path in api.GROUP.items()]
        routes.append(Route(alias(api.group_generations("{group_id}")), mock.group_generations, methods=["GET"]))
    routes += [
        Route(api.FILES, mock.upload_file, methods=["POST"]),
        Route(f"{api.FILES}/{{id}}", mock.file, methods=["GET", "DELETE"]),
        Route(f"{api.FILES}/{{id}}/content", mock.file_content, methods=["GET"]),
        # One route per path, so that a 405's Allow names every method of it.
        Route(api.BATCHES, mock.batches_root, methods=["GET", "POST"]),
        Route(f"{api.BATCHES}/{{id}}", mock.batch, methods=["GET"]),
        Route(f"{api.BATCHES}/{{id}}/cancel", mock.cancel_batch, methods=["POST"]),
        Route(api.generation("{id}"), mock.generation, methods=["GET"]),
        Route(api.MODELS, mock.models, methods=["GET"]),
        Route("/health", mock.health, methods=["GET"]),
        Route("/_mock/stats", mock.stats, methods=["GET"]),
        Route("/_mock/stats/generations/{id}", mock.generation_stats, methods=["GET"]),
        Route("/_mock/webhooks", mock.webhooks, methods=["GET", "POST"]),
        Route("/_mock/webhooks/{id}", mock.webhooks, methods=["DELETE"]),
    ]

    @contextlib.asynccontextmanager
    async def lifespan(_: Starlette) -> AsyncIterator[None]:
        await mock.engine.start()
        await mock.batches.start(*mock.engine.batch_records)
        try:
            yield
        finally:
            await mock.batches.stop()
            await mock.engine.stop()

    app = Starlette(
        routes=routes,
        lifespan=lifespan,
        exception_handlers={ApiError: _api_error, HTTPException: _http_error, Exception: _server_error},
    )
    app.state.mock = mock
    return FastPath(app, mock)  # type: ignore[return-value]


class _Incoming:
    """What the hot handlers read of a request, without building a Starlette Request."""

    __slots__ = ("headers", "path_params", "_receive")

    def __init__(self, scope: Scope, receive: Receive, path_params: dict[str, str]) -> None:
        # ASGI header names are already lower-case bytes.
        self.headers = {name.decode("latin-1"): value.decode("latin-1") for name, value in scope["headers"]}
        self.path_params = path_params
        self._receive = receive

    async def stream(self) -> AsyncIterator[bytes]:
        while True:
            message = await self._receive()
            if message["type"] == "http.disconnect":
                raise ClientDisconnect()
            yield message.get("body", b"")
            if not message.get("more_body", False):
                return

    async def body(self) -> bytes:
        message = await self._receive()
        if message["type"] == "http.disconnect":
            raise ClientDisconnect()
        first: bytes = message.get("body", b"")
        if not message.get("more_body", False):
            return first  # the usual case: the whole body in one message
        return first + b"".join([chunk async for chunk in self.stream()])


class FastPath:
    """Submissions and polls, the two calls a load test makes by the thousand, skip Starlette's routing
    and request objects (half the per-request cost); the same handlers serve them. Everything else, and
    the lifespan, goes to the Starlette app."""

    def __init__(self, app: Starlette, mock: MockApp) -> None:
        self.app = app
        self.state = app.state
        self.router = app.router
        self._submit: dict[str, Kind] = {
            _aliased(prefix)(path): kind for prefix in api.SLOW_PREFIXES for kind, path in _SUBMIT.items()
        }
        self._mock = mock

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and sum(len(k) + len(v) for k, v in scope["headers"]) > _HEADER_BYTES:
            await _drain(_Incoming(scope, receive, {}).stream())
            refused = ApiError(
                431,
                f"The request's headers are larger than {_HEADER_BYTES // 1024} KiB.",
                code="request_header_fields_too_large",
            )
            await refused.response()(scope, receive, send)
            return
        if scope["type"] == "http":
            method, path = scope["method"], scope["path"]
            kind = self._submit.get(path) if method == "POST" else None
            generation_id = path[len(_GENERATION) :] if method == "GET" and path.startswith(_GENERATION) else ""
            if kind is not None or (generation_id and "/" not in generation_id):
                incoming = _Incoming(scope, receive, {"id": generation_id})
                try:
                    if kind is not None:
                        response = await self._mock.submit(incoming, kind)  # type: ignore[arg-type]
                    else:
                        response = await self._mock.generation(incoming)  # type: ignore[arg-type]
                except ApiError as exc:
                    response = exc.response()
                except ClientDisconnect:
                    return
                except Exception as exc:
                    response = await _server_error(None, exc)  # type: ignore[arg-type]
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)


_GENERATION = api.generation("")
_IDEMPOTENCY_KEY_LENGTH = (1, 255)
"""As ``schemas/openapi.yaml`` declares the header (a test keeps the two equal)."""
_HEADER_BYTES = 32 * 1024
"""All headers together, names included: more is refused with 431 (the HTTP server itself sets no limit)."""
_DRAIN_BYTES = 64 * 1024 * 1024
_DRAIN_SECONDS = 5.0


async def _drain(stream: AsyncIterator[bytes]) -> None:
    """Read and drop the rest of a refused body, up to 64 MB and 5 s: a client that sends its whole body before
    it reads (urllib, requests) then reads the 413 instead of a reset connection. Beyond that, it is reset."""

    async def read() -> None:
        size = 0
        async for chunk in stream:
            size += len(chunk)
            if size > _DRAIN_BYTES:
                return

    try:
        await asyncio.wait_for(read(), _DRAIN_SECONDS)
    except (asyncio.TimeoutError, ClientDisconnect):
        return


async def _chunks(upload: UploadFile) -> AsyncIterator[bytes]:
    while chunk := await upload.read(1024 * 1024):
        yield chunk


def _too_large(limit: int) -> ApiError:
    return ApiError(413, f"The body is larger than {limit} bytes.", code="request_too_large")


def _aliased(prefix: str) -> Callable[[str], str]:
    """An asynchronous path (``/v1/slow/...`` or ``/v1/async/...``) under each prefix the mock serves."""

    def alias(path: str) -> str:
        known = next(p for p in api.SLOW_PREFIXES if path.startswith(p + "/"))
        return prefix + path.removeprefix(known)

    return alias


def engine_of(app: Starlette) -> Engine:
    engine: Engine = app.state.mock.engine
    return engine


def _json_response(content: Any, *, headers: dict[str, str] | None = None) -> Response:
    return JsonAnswer(_json.dumps(content), headers=headers)


def _param(error: SchemaError, prefix: str) -> str | None:
    """OpenAI's ``param``: the offending field (a missing one included), or null for the body itself."""
    path = error.path.removeprefix("$").removeprefix(".")
    if error.message.endswith("is a required property") and error.message.startswith("'"):
        missing = error.message.split("'")[1]
        path = f"{path}.{missing}" if path else missing
    return (prefix + path if path else prefix.rstrip(".")) or None


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
    return ApiError(
        500, f"The mock failed: {type(exc).__name__}.", type="server_error", code="internal_error"
    ).response()
