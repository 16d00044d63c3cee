"""A server built only from the API's public docs (the overview page and shared/api/reference-notes.md), with
a real API's habits rather than our mock's: no poll hint, no ``x-request-id``, no top-level ``id`` in the
generation record, generations that take a configurable while, and validation quirks of an OpenAI-compatible
backend (rejects ``n: 1.0`` and ``prompt: null``, accepts five stop strings, names ``messages`` rather than
``messages[0].role``). It shares no code with slowcheck's mock, so green against it is not green against
ourselves.
"""

from __future__ import annotations

import json
import secrets
import string
import time
from dataclasses import dataclass, field
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

MODELS = ["google/gemma-3-27b-instruct/bf-16", "meta-llama/llama-3.2-3b-instruct/fp-16", "inference-net/load-test"]
_ALPHABET = string.ascii_letters + string.digits + "_-"


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


@dataclass
class _Generation:
    key: str
    kind: str
    request: dict[str, Any]
    created_ms: int
    id: str = field(default_factory=lambda: "".join(secrets.choice(_ALPHABET) for _ in range(21)))


def _error(status: int, message: str, param: str | None = None, code: str | None = None) -> JSONResponse:
    kind = "invalid_request_error" if status != 401 else "authentication_error"
    return JSONResponse({"error": {"message": message, "type": kind, "param": param, "code": code}}, status)


def create_app(habits: Habits) -> Starlette:
    generations: dict[str, _Generation] = {}
    groups: dict[str, tuple[str, list[str], float]] = {}
    sent = {"requests": 0}

    def key_of(request: Request) -> str | None:
        sent["requests"] += 1
        header = request.headers.get("authorization", "")
        key = header.removeprefix("Bearer ").strip()
        return key if header.startswith("Bearer ") and key in habits.keys else None

    def invalid(body: Any, kind: str) -> JSONResponse | None:
        if not isinstance(body, dict):
            return _error(400, "The body must be a JSON object.")
        if not isinstance(body.get("model"), str):
            return _error(400, "model is required", "model")
        if body["model"] not in MODELS:
            return _error(404, f"The model {body['model']} does not exist.", "model", "model_not_found")
        if body.get("stream"):
            return _error(400, "Streaming is not supported on asynchronous endpoints.", "stream")
        if kind == "chat":
            messages = body.get("messages")
            if not isinstance(messages, list) or not messages:
                return _error(400, "messages must be a non-empty list", "messages")
            roles = {"system", "user", "assistant", "tool", "developer", "function"}
            if any(not isinstance(m, dict) or m.get("role") not in roles for m in messages):
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
            if value is not None and (type(value) is not int or value < 0):
                return _error(400, f"{name} must be a non-negative integer", name)
        metadata = body.get("metadata")
        if metadata is not None and (
            not isinstance(metadata, dict) or not all(isinstance(v, str) for v in metadata.values())
        ):
            return _error(400, "metadata values must be strings", "metadata")
        return None  # quirk: any number of stop strings, unknown keys, ... accepted

    async def read_json(request: Request) -> Any:
        try:
            return json.loads(await request.body())  # the standard library: lone surrogates and UTF-16 pass
        except (ValueError, RecursionError):
            return _error(400, "We could not parse the JSON body of your request.")

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
        generation = _Generation(key, kind, body, int(time.time() * 1000))
        generations[generation.id] = generation
        created = generation.created_ms // 1000 if habits.created_in_seconds else generation.created_ms
        obj = "chat.completion" if kind == "chat" else "text_completion"
        return JSONResponse(
            {"id": generation.id, "object": obj, "created": created, "model": body["model"], "choices": []}
        )

    def record(generation: _Generation, *, with_id: bool = False) -> dict[str, Any]:
        age = time.time() - generation.created_ms / 1000
        delay = habits.completion_delay
        iso = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(generation.created_ms / 1000 + delay / 3)) + ".000Z"
        out: dict[str, Any] = {"request": generation.request, "state": "Queued", "stateMessage": "Queued"}
        if age >= delay / 3:
            out |= {"state": "In Progress", "stateMessage": "In progress", "dispatchedAt": iso}
        if age >= delay:
            finished = time.gmtime(generation.created_ms / 1000 + delay)
            out |= {
                "state": "Success",
                "stateMessage": "Generation successful",
                "response": _completion(generation),
                "finishedAt": time.strftime("%Y-%m-%dT%H:%M:%S", finished) + ".500Z",
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
        return JSONResponse(record(generation))

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
        ids = []
        for item in requests:
            generation = _Generation(key, kind, item, int(time.time() * 1000))
            generations[generation.id] = generation
            ids.append(generation.id)
        group_id = "".join(secrets.choice(_ALPHABET) for _ in range(21))
        groups[group_id] = (key, ids, time.time())
        return JSONResponse({"groupId": group_id, "groupSize": len(ids)})

    async def list_group(request: Request) -> Response:
        key = key_of(request)
        if key is None:
            return _error(401, "Invalid API key.", code="invalid_api_key")
        found = groups.get(request.path_params["id"])
        delay = habits.completion_delay if habits.group_delay is None else habits.group_delay
        if found is None or found[0] != key or time.time() - found[2] < delay:
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
    app = Starlette(routes=routes)
    app.state.sent = sent
    if not habits.front_proxy:
        return app
    proxied = _FrontProxy(app)
    proxied.state = app.state
    return proxied  # type: ignore[return-value]


class _FrontProxy:
    """What an nginx in front of the API does with oversized requests: refuse them in HTML, never reaching it."""

    HEADERS, BODY = 16 * 1024, 1024 * 1024

    def __init__(self, app: Starlette) -> None:
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            headers = dict(scope["headers"])
            declared = headers.get(b"content-length", b"0")
            if sum(len(k) + len(v) for k, v in scope["headers"]) > self.HEADERS:
                return await self._refuse(431, "Request Header Or Cookie Too Large", receive, send)
            if declared.isdigit() and int(declared) > self.BODY:
                return await self._refuse(413, "Request Entity Too Large", receive, send)
        await self.app(scope, receive, send)

    @staticmethod
    async def _refuse(status: int, reason: str, receive: Any, send: Any) -> None:
        more = True
        while more:  # read what was sent, as nginx's lingering close lets clients that write it all read this
            message = await receive()
            more = message.get("more_body", False) and message["type"] == "http.request"
        page = f"<html><head><title>{status} {reason}</title></head><body><h1>{reason}</h1></body></html>".encode()
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [(b"content-type", b"text/html"), (b"content-length", str(len(page)).encode())],
            }
        )
        await send({"type": "http.response.body", "body": page})


def _completion(generation: _Generation) -> dict[str, Any]:
    body = generation.request
    limit = body.get("max_completion_tokens") or body.get("max_tokens") or 16
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
    cancelled_at: float | None = None
    files: dict[str, str] = field(default_factory=dict)


def create_batch_app(habits: Habits) -> Starlette:
    """The Batch API as its own host (``batch.inference.net``), from the OpenAI batch guide and inference.net's
    batch pages only: ids without a ``batch_`` prefix, statuses that follow the clock (validating a quarter of
    the completion delay, then in progress, finalizing briefly), output lines in an order of their own, no poll
    hint, content served as ``application/octet-stream``. A repeated ``custom_id`` fails the batch."""
    files: dict[str, tuple[str, str, bytes, int]] = {}  # id -> key, purpose, content, created
    batches: dict[str, _Batch] = {}
    delay = habits.completion_delay

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
        files[file_id] = (batch.key, "batch_output", content, int(time.time()))
        return file_id

    def batch_object(batch: _Batch) -> dict[str, Any]:
        now, start = time.time(), batch.created
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
        out |= {"status": "in_progress", "in_progress_at": int(start + delay / 4),
                "request_counts": {"total": total, "completed": done, "failed": 0}}  # fmt: skip
        if now - start < delay:
            return out
        if "output" not in batch.files:
            results = [{"id": "batch_req_" + new_id(), "custom_id": line["custom_id"], "response": {"status_code": 200,
                        "request_id": new_id(), "body": _completion(_Generation(batch.key, "chat", line["body"], 0))},
                        "error": None} for line in batch.lines]  # fmt: skip
            batch.files["output"] = write(batch, results) or ""
        return out | {"status": "completed", "finalizing_at": int(start + delay), "completed_at": int(start + delay),
                      "output_file_id": batch.files["output"],
                      "request_counts": {"total": total, "completed": total, "failed": 0}}  # fmt: skip

    async def upload(request: Request) -> Response:
        key = key_of(request)
        if key is None:
            return _error(401, "Invalid API key.", code="invalid_api_key")
        async with request.form() as form:
            upload, purpose = form.get("file"), form.get("purpose")
            if purpose != "batch" or isinstance(upload, str) or upload is None:
                return _error(400, "Expected a file and purpose=batch.", "purpose")
            content = await upload.read()
        file_id = "file-" + new_id()
        files[file_id] = (key, "batch", content, int(time.time()))
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
        batch = _Batch(key, new_id(), file_id, body["endpoint"], body.get("metadata"), time.time(), lines, problems)
        batches[batch.id] = batch
        return JSONResponse(batch_object(batch))

    async def get_batch(request: Request) -> Response:
        batch = batches.get(request.path_params["id"])
        if batch is None or batch.key != key_of(request):
            return _error(404, "No such batch.")
        return JSONResponse(batch_object(batch))

    async def cancel(request: Request) -> Response:
        batch = batches.get(request.path_params["id"])
        if batch is None or batch.key != key_of(request):
            return _error(404, "No such batch.")
        if batch_object(batch)["status"] in ("completed", "failed", "expired", "cancelled"):
            return _error(400, "The batch has ended.")
        batch.cancelled_at = batch.cancelled_at or time.time()
        return JSONResponse(batch_object(batch))

    return Starlette(
        routes=[
            Route("/v1/files", upload, methods=["POST"]),
            Route("/v1/files/{id}", get_file, methods=["GET"]),
            Route("/v1/files/{id}/content", file_content, methods=["GET"]),
            Route("/v1/batches", batches_root, methods=["GET", "POST"]),
            Route("/v1/batches/{id}", get_batch, methods=["GET"]),
            Route("/v1/batches/{id}/cancel", cancel, methods=["POST"]),
        ]
    )
