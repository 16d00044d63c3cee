"""A server built only from the API's public docs (the overview page and shared/api/reference-notes.md), with
a real API's habits rather than our mock's: no poll hint, no ``x-request-id``, no top-level ``id`` in the
generation record, generations that take a configurable while, and validation quirks of an OpenAI-compatible
backend (rejects ``n: 1.0`` and ``prompt: null``, accepts five stop strings, names ``messages`` rather than
``messages[0].role``). It shares no code with slowcheck's mock, so green against it is not green against
ourselves.

``Habits`` adds, each off by default, what a real service does now and then (issue 24): a load balancer's
transient 502/503/504, generations that fail, a per-key rate limit over every endpoint, a lagging replica,
a laxer or a stricter validator, and the Batch API's one upload a minute. What the server did is counted in
``app.state.sent``.
"""

from __future__ import annotations

import json
import math
import random
import secrets
import string
import sys
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from starlette.applications import Starlette
from starlette.datastructures import State
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

MODELS = ["google/gemma-3-27b-instruct/bf-16", "meta-llama/llama-3.2-3b-instruct/fp-16", "inference-net/load-test"]
_ALPHABET = string.ascii_letters + string.digits + "_-"
FAILED_MESSAGE = "Generation failed: the model server returned an error"
"""The ``stateMessage`` of a Failed record (the docs: error text when Failed)."""

_ROLES = frozenset({"system", "user", "assistant", "tool", "developer", "function"})
_CHAT_KEYS = frozenset(
    "model messages audio frequency_penalty function_call functions logit_bias logprobs max_completion_tokens "
    "max_tokens metadata modalities n parallel_tool_calls prediction presence_penalty prompt_cache_key "
    "reasoning_effort response_format safety_identifier seed service_tier stop store stream stream_options "
    "temperature tool_choice tools top_logprobs top_p user verbosity web_search_options".split()
)
"""OpenAI's ``CreateChatCompletionRequest`` keys: what ``strict`` knows."""
_TEXT_KEYS = frozenset(
    "model prompt best_of echo frequency_penalty logit_bias logprobs max_tokens metadata n presence_penalty seed "
    "stop stream stream_options suffix temperature top_p user".split()
)
"""OpenAI's ``CreateCompletionRequest`` keys, and ``metadata``, which inference.net documents on every request."""


@dataclass
class Habits:
    keys: tuple[str, ...] = ("sk-docs-one", "sk-docs-two")
    completion_delay: float = 1.0
    """Seconds from submission to Success (Queued for the first third, In Progress after)."""
    models_endpoint: bool = True
    created_in_seconds: bool = False
    """A broken promise: the ack's created in seconds rather than the documented milliseconds."""
    group_delay: float | None = None
    """How long the group listing answers 404 (default: the completion delay)."""
    front_proxy: bool = True
    """An nginx-like proxy in front: headers over 16 KiB get 431 and bodies over 1 MiB 413, in its own HTML."""
    transient: float = 0.0
    """The share of requests (any endpoint) a front load balancer answers itself, the API never seeing them: 503
    in nginx's HTML (``text/html``), one in ten 502 and one in ten 504. Counted in ``sent["transient"]``."""
    seed: int = 0
    """Seeds the random choices: ``random.Random(seed)`` draws one number per request for ``transient`` and
    ``random.Random(f"failed:{seed}")`` one per generation (or batch line) for ``failed``, so the same seed and
    the same sequence of requests give the same pattern, and one habit does not shift the other's."""
    failed: float = 0.0
    """The share of generations (decided at submission) that end Failed instead of Success: ``stateMessage``
    says why, ``finishedAt`` is set, no ``response``. Batch lines so chosen go to the error file. Counted in
    ``sent["failed"]`` when decided."""
    rate_limit: int | None = None
    """Requests per ``rate_window`` seconds per caller (the bearer token, else the client's address) across
    every endpoint of the app, polls included, like inference.net's gateway; refused with 429, ``Retry-After``
    (whole seconds, rounded up, at least 1) and the OpenAI envelope, no other rate-limit header. The API and
    the batch host count separately. Counted in ``sent["429"]``."""
    rate_window: float = 60.0
    rate_kind: Literal["fixed", "sliding", "bucket"] = "fixed"
    """``fixed``: windows aligned on multiples of ``rate_window`` of the clock; ``sliding``: at most
    ``rate_limit`` admitted within any ``rate_window``; ``bucket``: a token bucket of ``rate_limit`` tokens,
    full at first, refilled at ``rate_limit / rate_window`` a second. Refused requests spend nothing."""
    flap_every: int = 0
    """A lagging replica: every Nth read of a finished generation (per generation, through
    ``GET /v1/generation/{id}``) answers it as it was In Progress (no response, ``finishedAt`` null); on the
    batch host every Nth read of a completed batch answers it ``in_progress``."""
    lax: bool = False
    """A parser and validator laxer than OpenAI's spec but harmless: JSON nested a few thousand deep parses,
    ``metadata`` may be any JSON, ``max_tokens`` / ``max_completion_tokens`` may be a string of digits."""
    strict: bool = False
    """A validator stricter than OpenAI's spec (400, envelope, the param named): refuses ``prompt: []``, a
    prompt of token arrays, a message whose ``content`` is null or missing, the ``function`` role,
    ``logit_bias``, and keys OpenAI's request objects do not name."""
    upload_interval: float = 0.0
    """The batch host: an upload within that many seconds of the key's previous accepted one gets 429 with
    ``Retry-After`` (inference.net: one batch upload a minute). Counted in ``sent["429"]``."""
    clock: Callable[[], float] = time.time
    """Epoch seconds: every time the servers read (tests inject their own)."""


@dataclass
class _Generation:
    key: str
    kind: str
    request: dict[str, Any]
    created_ms: int
    fails: bool = False
    finished_reads: int = 0
    id: str = field(default_factory=lambda: "".join(secrets.choice(_ALPHABET) for _ in range(21)))


def _error(status: int, message: str, param: str | None = None, code: str | None = None) -> JSONResponse:
    kind = "invalid_request_error" if status != 401 else "authentication_error"
    return JSONResponse({"error": {"message": message, "type": kind, "param": param, "code": code}}, status)


def _too_many(wait: float, message: str) -> JSONResponse:
    """A 429 as OpenAI answers it: the envelope and ``Retry-After`` in whole seconds (at least 1)."""
    body = {"error": {"message": message, "type": "rate_limit_error", "param": None, "code": "rate_limit_exceeded"}}
    return JSONResponse(body, 429, headers={"Retry-After": str(max(1, math.ceil(wait)))})


def _counters() -> dict[str, int]:
    """``requests``: every HTTP request that reached the server (refused ones included); ``transient``: the load
    balancer's own answers; ``429``: refused by a rate limit; ``failed``: generations (batch lines) made to fail."""
    return {"requests": 0, "transient": 0, "429": 0, "failed": 0}


_DEEP = threading.Lock()


def _loads_deep(raw: bytes) -> Any:
    """``json.loads`` with room for a few thousand levels of nesting (the standard library's parser recurses)."""
    with _DEEP:
        limit = sys.getrecursionlimit()
        sys.setrecursionlimit(limit + 4000)
        try:
            return json.loads(raw)
        finally:
            sys.setrecursionlimit(limit)


def _digits(value: Any) -> bool:
    return isinstance(value, str) and value.strip().isdigit()


def create_app(habits: Habits) -> Edge:
    generations: dict[str, _Generation] = {}
    groups: dict[str, tuple[str, list[str], float]] = {}
    sent = _counters()
    clock = habits.clock
    failing = random.Random(f"failed:{habits.seed}")

    def key_of(request: Request) -> str | None:
        header = request.headers.get("authorization", "")
        key = header.removeprefix("Bearer ").strip()
        return key if header.startswith("Bearer ") and key in habits.keys else None

    def too_strict(body: dict[str, Any], kind: str) -> JSONResponse | None:
        known = _CHAT_KEYS if kind == "chat" else _TEXT_KEYS
        for name in body:
            if name not in known:
                return _error(400, f"Unrecognized request argument supplied: {name}", name)
        if body.get("logit_bias") is not None:
            return _error(400, "logit_bias is not supported.", "logit_bias")
        if kind == "chat":
            for index, message in enumerate(body.get("messages") or []):
                if isinstance(message, dict) and message.get("role") == "function":
                    return _error(400, "The function role is not supported; use tool.", f"messages[{index}].role")
                if isinstance(message, dict) and message.get("content") is None:
                    return _error(400, "content must not be null.", f"messages[{index}].content")
        else:
            prompt = body.get("prompt")
            if prompt == []:
                return _error(400, "prompt must not be empty.", "prompt")
            if isinstance(prompt, list) and any(isinstance(item, list) for item in prompt):
                return _error(400, "prompt as a list of token arrays is not supported.", "prompt")
        return None

    def invalid(body: Any, kind: str) -> JSONResponse | None:
        if not isinstance(body, dict):
            return _error(400, "The body must be a JSON object.")
        if not isinstance(body.get("model"), str):
            return _error(400, "model is required", "model")
        if body["model"] not in MODELS:
            return _error(404, f"The model {body['model']} does not exist.", "model", "model_not_found")
        if body.get("stream"):
            return _error(400, "Streaming is not supported on asynchronous endpoints.", "stream")
        if habits.strict:
            refused = too_strict(body, kind)
            if refused is not None:
                return refused
        if kind == "chat":
            messages = body.get("messages")
            if not isinstance(messages, list) or not messages:
                return _error(400, "messages must be a non-empty list", "messages")
            if any(not isinstance(m, dict) or m.get("role") not in _ROLES for m in messages):
                return _error(400, "invalid message", "messages")  # quirk: not messages[0].role
        elif not isinstance(body.get("prompt"), str | list):
            return _error(400, "prompt must be a string or a list", "prompt")  # quirk: prompt: null refused
        for name, low, high in (("temperature", 0, 2), ("top_p", 0, 1)):
            value = body.get(name)
            if value is not None and (not isinstance(value, int | float) or not low <= value <= high):
                return _error(400, f"{name} must be in [{low}, {high}]", name)
        n = body.get("n")
        if n is not None and (type(n) is not int or not 1 <= n <= 128):
            return _error(400, "n must be an integer in [1, 128]", "n")  # quirk: 1.0 refused
        for name in ("max_tokens", "max_completion_tokens"):
            value = body.get(name)
            if habits.lax and _digits(value):
                continue  # lax: "8" taken for 8
            if value is not None and (type(value) is not int or value < 0):
                return _error(400, f"{name} must be a non-negative integer", name)
        metadata = body.get("metadata")
        if (
            not habits.lax  # lax: any JSON
            and metadata is not None
            and (not isinstance(metadata, dict) or not all(isinstance(v, str) for v in metadata.values()))
        ):
            return _error(400, "metadata values must be strings", "metadata")
        return None  # quirk: any number of stop strings, unknown keys, ... accepted

    async def read_json(request: Request) -> Any:
        raw = await request.body()
        try:
            # The standard library: lone surrogates and UTF-16 pass.
            return _loads_deep(raw) if habits.lax else json.loads(raw)
        except (ValueError, RecursionError):
            return _error(400, "We could not parse the JSON body of your request.")

    def new_generation(key: str, kind: str, body: dict[str, Any]) -> _Generation:
        fails = habits.failed > 0 and failing.random() < habits.failed
        sent["failed"] += fails
        generation = _Generation(key, kind, body, int(clock() * 1000), fails=fails)
        generations[generation.id] = generation
        return generation

    async def submit(request: Request) -> Response:
        key = key_of(request)
        if key is None:
            return _error(401, "Invalid API key.", code="invalid_api_key")
        kind = "chat" if request.url.path.endswith("/chat/completions") else "text"
        body = await read_json(request)
        if isinstance(body, Response):
            return body
        refused = invalid(body, kind)
        if refused is not None:
            return refused
        generation = new_generation(key, kind, body)
        created = generation.created_ms // 1000 if habits.created_in_seconds else generation.created_ms
        obj = "chat.completion" if kind == "chat" else "text_completion"
        return JSONResponse(
            {"id": generation.id, "object": obj, "created": created, "model": body["model"], "choices": []}
        )

    def finished(generation: _Generation) -> bool:
        return clock() - generation.created_ms / 1000 >= habits.completion_delay

    def record(generation: _Generation, *, with_id: bool = False, lagging: bool = False) -> dict[str, Any]:
        age = clock() - generation.created_ms / 1000
        delay = habits.completion_delay
        iso = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(generation.created_ms / 1000 + delay / 3)) + ".000Z"
        out: dict[str, Any] = {"request": generation.request, "state": "Queued", "stateMessage": "Queued"}
        if age >= delay / 3:
            out |= {"state": "In Progress", "stateMessage": "In progress", "dispatchedAt": iso}
        if age >= delay and not lagging:
            finished_at = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(generation.created_ms / 1000 + delay))
            out |= {"finishedAt": finished_at + ".500Z"}
            if generation.fails:
                out |= {"state": "Failed", "stateMessage": FAILED_MESSAGE}
            else:
                out |= {
                    "state": "Success",
                    "stateMessage": "Generation successful",
                    "response": _completion(generation),
                }
        else:
            out["finishedAt"] = None
        return ({"id": generation.id} if with_id else {}) | out

    async def get_generation(request: Request) -> Response:
        key = key_of(request)
        if key is None:
            return _error(401, "Invalid API key.", code="invalid_api_key")
        generation = generations.get(request.path_params["id"])
        if generation is None or generation.key != key:
            return _error(404, "Generation not found.")
        lagging = False
        if habits.flap_every and finished(generation):
            generation.finished_reads += 1
            lagging = generation.finished_reads % habits.flap_every == 0
        return JSONResponse(record(generation, lagging=lagging))

    async def submit_group(request: Request) -> Response:
        key = key_of(request)
        if key is None:
            return _error(401, "Invalid API key.", code="invalid_api_key")
        body = await read_json(request)
        if isinstance(body, Response):
            return body
        requests = body.get("requests") if isinstance(body, dict) else None
        if not isinstance(requests, list) or not 1 <= len(requests) <= 50:
            return _error(400, "A group holds 1 to 50 requests.", "requests")
        kind = "chat" if request.url.path.endswith("/chat/completions") else "text"
        for item in requests:
            if isinstance(item, dict) and ("prompt" in item) == (kind == "chat"):
                return _error(400, "A group cannot mix chat and text completions.", "requests")
            refused = invalid(item, kind)
            if refused is not None:
                return refused
        ids = [new_generation(key, kind, item).id for item in requests]
        group_id = "".join(secrets.choice(_ALPHABET) for _ in range(21))
        groups[group_id] = (key, ids, clock())
        return JSONResponse({"groupId": group_id, "groupSize": len(ids)})

    async def list_group(request: Request) -> Response:
        key = key_of(request)
        if key is None:
            return _error(401, "Invalid API key.", code="invalid_api_key")
        found = groups.get(request.path_params["id"])
        delay = habits.completion_delay if habits.group_delay is None else habits.group_delay
        if found is None or found[0] != key or clock() - found[2] < delay:
            return _error(404, "Group not found.")  # documented: 404 until available
        return JSONResponse({"generations": [record(generations[i], with_id=True) for i in found[1]]})

    async def models(request: Request) -> Response:
        if key_of(request) is None:
            return _error(401, "Invalid API key.", code="invalid_api_key")
        return JSONResponse(
            {"object": "list", "data": [{"id": m, "object": "model", "owned_by": "docs"} for m in MODELS]}
        )

    routes = [
        Route("/v1/slow/chat/completions", submit, methods=["POST"]),
        Route("/v1/slow/completions", submit, methods=["POST"]),
        Route("/v1/generation/{id}", get_generation, methods=["GET"]),
        Route("/v1/slow/group/chat/completions", submit_group, methods=["POST"]),
        Route("/v1/slow/group/completions", submit_group, methods=["POST"]),
        Route("/v1/slow/group/{id}/generations", list_group, methods=["GET"]),
    ]
    if habits.models_endpoint:
        routes.append(Route("/v1/models", models, methods=["GET"]))
    return Edge(Starlette(routes=routes), habits, sent, size_limits=habits.front_proxy)


class _RateLimit:
    """Per-caller admission under ``habits.rate_limit`` per ``habits.rate_window``, shaped by ``rate_kind``."""

    def __init__(self, habits: Habits) -> None:
        if habits.rate_limit is None or habits.rate_limit < 1 or habits.rate_window <= 0:
            raise ValueError("rate_limit must be at least 1 and rate_window positive")
        self.limit, self.window, self.kind = habits.rate_limit, habits.rate_window, habits.rate_kind
        self.clock = habits.clock
        self.fixed: dict[str, tuple[float, int]] = {}
        self.sliding: dict[str, deque[float]] = {}
        self.buckets: dict[str, tuple[float, float]] = {}

    def admit(self, caller: str) -> float | None:
        """None when admitted (and counted), else the seconds until a request of ``caller`` would be."""
        now, limit, window = self.clock(), self.limit, self.window
        if self.kind == "fixed":
            start = now - now % window
            began, count = self.fixed.get(caller, (start, 0))
            count = count if began == start else 0
            if count >= limit:
                return start + window - now
            self.fixed[caller] = (start, count + 1)
            return None
        if self.kind == "sliding":
            admitted = self.sliding.setdefault(caller, deque())
            while admitted and admitted[0] <= now - window:
                admitted.popleft()
            if len(admitted) >= limit:
                return admitted[0] + window - now
            admitted.append(now)
            return None
        tokens, then = self.buckets.get(caller, (float(limit), now))
        tokens = min(float(limit), tokens + (now - then) * limit / window)
        if tokens < 1:
            self.buckets[caller] = (tokens, now)
            return (1 - tokens) * window / limit
        self.buckets[caller] = (tokens - 1, now)
        return None


_REASONS = {
    413: "Request Entity Too Large",
    431: "Request Header Or Cookie Too Large",
    502: "Bad Gateway",
    503: "Service Temporarily Unavailable",
    504: "Gateway Time-out",
}


class Edge:
    """What stands in front of the API, outermost first: the request counter, a load balancer answering a share
    of requests itself (``transient``), an nginx refusing oversized requests in its own HTML (``size_limits``:
    headers over 16 KiB get 431, bodies declared over 1 MiB 413), and the gateway's per-caller rate limit. None
    of their refusals reaches the API. ``state`` is the app's (``state.sent`` holds the counters)."""

    HEADERS, BODY = 16 * 1024, 1024 * 1024

    def __init__(self, app: Starlette, habits: Habits, sent: dict[str, int], *, size_limits: bool) -> None:
        self.app, self.habits, self.sent, self.size_limits = app, habits, sent, size_limits
        self.state: State = app.state
        self.state.sent = sent
        self.balancer = random.Random(habits.seed)
        self.limit = _RateLimit(habits) if habits.rate_limit is not None else None

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        self.sent["requests"] += 1
        share = self.habits.transient
        if share > 0:
            drawn = self.balancer.random()
            if drawn < share:
                self.sent["transient"] += 1
                status = 503 if drawn < share * 0.8 else 502 if drawn < share * 0.9 else 504
                return await self._page(status, receive, send)
        if self.size_limits:
            headers = dict(scope["headers"])
            declared = headers.get(b"content-length", b"0")
            if sum(len(k) + len(v) for k, v in scope["headers"]) > self.HEADERS:
                return await self._page(431, receive, send)
            if declared.isdigit() and int(declared) > self.BODY:
                return await self._page(413, receive, send)
        if self.limit is not None:
            wait = self.limit.admit(_caller(scope))
            if wait is not None:
                self.sent["429"] += 1
                await _drain(receive)
                message = f"Rate limit reached: {self.limit.limit} requests per {self.limit.window:g} s."
                return await _too_many(wait, message)(scope, receive, send)
        await self.app(scope, receive, send)

    @staticmethod
    async def _page(status: int, receive: Any, send: Any) -> None:
        await _drain(receive)
        title = f"{status} {_REASONS[status]}"
        page = (
            f"<html>\r\n<head><title>{title}</title></head>\r\n<body>\r\n<center><h1>{title}</h1></center>\r\n"
            "<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n"
        ).encode()
        headers = [(b"server", b"nginx"), (b"content-type", b"text/html"), (b"content-length", str(len(page)).encode())]
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": page})


async def _drain(receive: Any) -> None:
    """Read what was sent, as nginx's lingering close lets clients that write it all read the answer."""
    more = True
    while more:
        message = await receive()
        more = message.get("more_body", False) and message["type"] == "http.request"


def _caller(scope: Any) -> str:
    """Who a rate limit counts: the bearer token (valid or not), else the client's address."""
    authorization = dict(scope["headers"]).get(b"authorization", b"").decode("latin-1")
    if authorization:
        return "key:" + authorization.removeprefix("Bearer ").strip()
    return "ip:" + str((scope.get("client") or ("?",))[0])


def _completion(generation: _Generation) -> dict[str, Any]:
    body = generation.request
    limit = int(body.get("max_completion_tokens") or body.get("max_tokens") or 16)  # lax: "8" too
    words = "The capital of France is Paris and it is a lovely city".split()
    n = body.get("n") or 1
    choices = []
    used = 0
    for index in range(n):
        take = words[: min(limit, len(words))]
        reason = "length" if limit <= len(words) else "stop"
        if generation.kind == "text":
            choices.append({"index": index, "text": " ".join(take), "logprobs": None, "finish_reason": reason})
        else:
            message: dict[str, Any] = {"role": "assistant", "content": " ".join(take), "tool_calls": None}
            if body.get("tools") and body.get("tool_choice") == "required":
                name = body["tools"][0]["function"]["name"]
                call = {
                    "id": "call_1",
                    "type": "function",
                    "function": {"name": name, "arguments": '{"city": "Paris"}'},
                }
                message |= {"content": None, "tool_calls": [call]}
                reason, take = "tool_calls", ["x"] * min(limit, 6)
            elif (body.get("response_format") or {}).get("type") == "json_schema":
                message["content"], reason, take = '{"city": "Paris"}', "stop", ["x"] * min(limit, 5)
            choices.append({"index": index, "message": message, "logprobs": None, "finish_reason": reason})
        used += len(take)
    prompt = 12
    return {
        "id": generation.id,
        "object": "chat.completion" if generation.kind == "chat" else "text_completion",
        "created": generation.created_ms // 1000,
        "model": body["model"],
        "choices": choices,
        "usage": {"prompt_tokens": prompt, "completion_tokens": used, "total_tokens": prompt + used},
        "system_fingerprint": "",
    }


@dataclass
class _Batch:
    key: str
    id: str
    input_file_id: str
    endpoint: str
    metadata: dict[str, str] | None
    created: float
    lines: list[dict[str, Any]]
    problems: list[dict[str, Any]]
    failing: list[bool] = field(default_factory=list)
    cancelled_at: float | None = None
    files: dict[str, str] = field(default_factory=dict)
    completed_reads: int = 0


def create_batch_app(habits: Habits) -> Edge:
    """The Batch API as its own host (``batch.inference.net``), from the OpenAI batch guide and inference.net's
    batch pages only: ids without a ``batch_`` prefix, statuses that follow the clock (validating a quarter of
    the completion delay, then in progress, finalizing briefly), output lines in an order of their own, no poll
    hint, content served as ``application/octet-stream``. A repeated ``custom_id`` fails the batch. Of the
    habits: ``transient``, ``rate_limit`` (its own, apart from the API host's), ``failed`` (lines in the error
    file), ``flap_every`` (a completed batch read as ``in_progress``), ``upload_interval`` and ``clock``."""
    files: dict[str, tuple[str, str, bytes, int]] = {}  # id -> key, purpose, content, created
    batches: dict[str, _Batch] = {}
    uploads: dict[str, float] = {}  # key -> its last accepted upload
    delay = habits.completion_delay
    sent = _counters()
    clock = habits.clock
    failing = random.Random(f"failed:{habits.seed}")

    def new_id() -> str:
        return "".join(secrets.choice(_ALPHABET) for _ in range(21))

    def key_of(request: Request) -> str | None:
        header = request.headers.get("authorization", "")
        key = header.removeprefix("Bearer ").strip()
        return key if header.startswith("Bearer ") and key in habits.keys else None

    def file_object(file_id: str) -> dict[str, Any]:
        _, purpose, content, created = files[file_id]
        return {"id": file_id, "object": "file", "bytes": len(content), "created_at": created,
                "filename": f"{file_id}.jsonl", "purpose": purpose}  # fmt: skip

    def write(batch: _Batch, lines: list[dict[str, Any]]) -> str | None:
        if not lines:
            return None
        file_id = "file-" + new_id()
        content = "".join(json.dumps(line) + "\n" for line in reversed(lines)).encode()  # order not promised
        files[file_id] = (batch.key, "batch_output", content, int(clock()))
        return file_id

    def batch_object(batch: _Batch) -> dict[str, Any]:
        now, start = clock(), batch.created
        out: dict[str, Any] = {
            "id": batch.id, "object": "batch", "endpoint": batch.endpoint, "errors": None,
            "input_file_id": batch.input_file_id, "completion_window": "24h", "status": "validating",
            "output_file_id": None, "error_file_id": None, "created_at": int(start),
            "expires_at": int(start) + 86400, "metadata": batch.metadata,
            "request_counts": {"total": 0, "completed": 0, "failed": 0},
        }  # fmt: skip
        if now - start < delay / 4 and batch.cancelled_at is None:
            return out
        if batch.problems:
            return out | {"status": "failed", "failed_at": int(start + delay / 4), "errors": {"object": "list",
                          "data": batch.problems}}  # fmt: skip
        total = len(batch.lines)
        if batch.cancelled_at is not None:
            out |= {"status": "cancelling", "cancelling_at": int(batch.cancelled_at), "in_progress_at": int(start)}
            if now - batch.cancelled_at < delay / 4:
                return out
            if "error" not in batch.files:
                cancelled = [
                    {
                        "id": new_id(),
                        "custom_id": line["custom_id"],
                        "response": None,
                        "error": {"code": "batch_cancelled", "message": "Cancelled."},
                    }
                    for line in batch.lines
                ]
                batch.files["error"] = write(batch, cancelled) or ""  # fmt: skip
            return out | {"status": "cancelled", "cancelled_at": int(batch.cancelled_at + delay / 4),
                          "error_file_id": batch.files["error"],
                          "request_counts": {"total": total, "completed": 0, "failed": 0}}  # fmt: skip
        done = min(total, int(total * (now - start - delay / 4) / (delay * 3 / 4)))
        failed = sum(batch.failing[:done])
        out |= {"status": "in_progress", "in_progress_at": int(start + delay / 4),
                "request_counts": {"total": total, "completed": done - failed, "failed": failed}}  # fmt: skip
        if now - start < delay:
            return out
        if "output" not in batch.files:
            results, errors = [], []
            for line, fails in zip(batch.lines, batch.failing, strict=True):
                if fails:
                    error = {"message": FAILED_MESSAGE, "type": "server_error", "param": None, "code": None}
                    errors.append({"id": "batch_req_" + new_id(), "custom_id": line["custom_id"], "response":
                                   {"status_code": 500, "request_id": new_id(), "body": {"error": error}},
                                   "error": None})  # fmt: skip
                    continue
                results.append({"id": "batch_req_" + new_id(), "custom_id": line["custom_id"], "response":
                                {"status_code": 200, "request_id": new_id(), "body": _completion(_Generation(
                                batch.key, "chat", line["body"], 0))}, "error": None})  # fmt: skip
            batch.files["output"] = write(batch, results) or ""
            batch.files["failed"] = write(batch, errors) or ""
        failed = sum(batch.failing)
        return out | {"status": "completed", "finalizing_at": int(start + delay), "completed_at": int(start + delay),
                      "output_file_id": batch.files["output"] or None, "error_file_id": batch.files["failed"] or None,
                      "request_counts": {"total": total, "completed": total - failed, "failed": failed}}  # fmt: skip

    async def upload(request: Request) -> Response:
        key = key_of(request)
        if key is None:
            return _error(401, "Invalid API key.", code="invalid_api_key")
        async with request.form() as form:
            upload, purpose = form.get("file"), form.get("purpose")
            if purpose != "batch" or isinstance(upload, str) or upload is None:
                return _error(400, "Expected a file and purpose=batch.", "purpose")
            content = await upload.read()
        now, last = clock(), uploads.get(key)
        if habits.upload_interval > 0 and last is not None and now - last < habits.upload_interval:
            sent["429"] += 1
            return _too_many(last + habits.upload_interval - now,
                             f"File uploads are limited to one every {habits.upload_interval:g} s.")  # fmt: skip
        uploads[key] = now
        file_id = "file-" + new_id()
        files[file_id] = (key, "batch", content, int(now))
        return JSONResponse(file_object(file_id))

    def own_file(request: Request) -> str | None:
        file_id = request.path_params["id"]
        return file_id if file_id in files and files[file_id][0] == key_of(request) else None

    async def get_file(request: Request) -> Response:
        file_id = own_file(request)
        return JSONResponse(file_object(file_id)) if file_id else _error(404, "No such file.")

    async def file_content(request: Request) -> Response:
        file_id = own_file(request)
        if file_id is None:
            return _error(404, "No such file.")
        return Response(files[file_id][2], media_type="application/octet-stream")

    async def batches_root(request: Request) -> Response:
        key = key_of(request)
        if key is None:
            return _error(401, "Invalid API key.", code="invalid_api_key")
        if request.method == "GET":
            own = sorted((b for b in batches.values() if b.key == key), key=lambda b: b.created, reverse=True)
            after = request.query_params.get("after")
            if after is not None:
                ids = [b.id for b in own]
                own = own[ids.index(after) + 1 :] if after in ids else []
            limit = int(request.query_params.get("limit", "20"))
            page = [batch_object(b) for b in own[:limit]]
            first, last = (page[0]["id"], page[-1]["id"]) if page else (None, None)
            listing = {"object": "list", "data": page, "first_id": first, "last_id": last, "has_more": len(own) > limit}
            return JSONResponse(listing)
        body = json.loads(await request.body())
        file_id = body.get("input_file_id")
        if file_id not in files or files[file_id][0] != key or body.get("completion_window") != "24h":
            return _error(400, "input_file_id must be your uploaded file and completion_window 24h.")
        lines, problems, seen = [], [], set()
        for number, text in enumerate(files[file_id][2].decode().splitlines(), 1):
            line = json.loads(text)
            if line["custom_id"] in seen:
                problems.append({"code": "duplicate_custom_id", "message": "Duplicate custom_id.", "line": number})
            seen.add(line["custom_id"])
            lines.append(line)
        fate = [habits.failed > 0 and failing.random() < habits.failed for _ in lines] if not problems else []
        sent["failed"] += sum(fate)
        batch = _Batch(key, new_id(), file_id, body["endpoint"], body.get("metadata"), clock(), lines, problems,
                       fate or [False] * len(lines))  # fmt: skip
        batches[batch.id] = batch
        return JSONResponse(batch_object(batch))

    async def get_batch(request: Request) -> Response:
        batch = batches.get(request.path_params["id"])
        if batch is None or batch.key != key_of(request):
            return _error(404, "No such batch.")
        found = batch_object(batch)
        if habits.flap_every and found["status"] == "completed":
            batch.completed_reads += 1
            if batch.completed_reads % habits.flap_every == 0:  # a lagging replica
                found = {k: v for k, v in found.items() if k not in ("finalizing_at", "completed_at")}
                found |= {"status": "in_progress", "output_file_id": None, "error_file_id": None}
        return JSONResponse(found)

    async def cancel(request: Request) -> Response:
        batch = batches.get(request.path_params["id"])
        if batch is None or batch.key != key_of(request):
            return _error(404, "No such batch.")
        if batch_object(batch)["status"] in ("completed", "failed", "expired", "cancelled"):
            return _error(400, "The batch has ended.")
        batch.cancelled_at = batch.cancelled_at or clock()
        return JSONResponse(batch_object(batch))

    routes = [
        Route("/v1/files", upload, methods=["POST"]),
        Route("/v1/files/{id}", get_file, methods=["GET"]),
        Route("/v1/files/{id}/content", file_content, methods=["GET"]),
        Route("/v1/batches", batches_root, methods=["GET", "POST"]),
        Route("/v1/batches/{id}", get_batch, methods=["GET"]),
        Route("/v1/batches/{id}/cancel", cancel, methods=["POST"]),
    ]
    return Edge(Starlette(routes=routes), habits, sent, size_limits=False)
