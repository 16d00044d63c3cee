"""Deterministic results: the same request always yields the same completion.

Seeded by the request body, the generator honours ``n``, ``max_tokens`` / ``max_completion_tokens``,
``stop``, tools and ``response_format``, and counts tokens with one tokenizer for prompt and completion,
so ``usage`` adds up and ``finish_reason`` tells the truth. Embeddings are unit vectors seeded by each input,
so the same text always embeds the same way, with ``dimensions`` honoured and ``encoding_format`` base64 as
OpenAI encodes it (little-endian float32).
"""

from __future__ import annotations

import base64
import hashlib
import math
import random
import re
import struct
from typing import Any

from slowcheck import _json
from slowcheck.mock.records import Generation
from slowcheck.types import JSONObject

__all__ = ["CANARY", "MAX_NUMBERS", "complete", "count_tokens", "embed", "numbers", "token_bounds", "work_tokens"]

_TOKEN = re.compile(r"\w+|[^\w\s]", re.UNICODE)
_WORDS = (
    "the a of to and in is it that for on as with was by this be are from at or an which one all can will "
    "time model answer request result queue token batch async slow latency worker state success window "
    "paris france capital meaning life question data value system response generation simple example"
).split()
# Chat templates add a few tokens per message; a fixed count keeps the arithmetic checkable.
_PER_MESSAGE = 4
CANARY = re.compile(r"Reply with exactly: ([^\n]+)")
"""An instruction the generator obeys, as a model at temperature 0 would: load runs mix such canaries into the
traffic and check each answer is its own request's."""
_DEFAULT_TEXT_MAX = 16  # OpenAI's default max_tokens for legacy completions


def count_tokens(text: str) -> int:
    return len(_TOKEN.findall(text))


def complete(generation: Generation) -> JSONObject:
    """The answer of a generation that succeeds: a completion object, or an embedding list."""
    if generation.kind == "embedding":
        return embed(generation.request)
    request = generation.request
    rng = random.Random(hashlib.sha256(_json.dumps(request)).digest())
    n = _whole(request.get("n")) or 1
    choices = [_choice(generation, random.Random(rng.random()), index) for index in range(n)]
    completion_tokens = sum(tokens for _, tokens in choices)
    prompt_tokens = _prompt_tokens(generation)
    response: JSONObject = {
        "id": generation.id,
        "object": "chat.completion" if generation.kind == "chat" else "text_completion",
        "created": int(generation.finished_at or generation.created),
        "model": request["model"],
        "choices": [choice for choice, _ in choices],
        "usage": {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens,
        },
        "system_fingerprint": "slowcheck-mock",
    }
    return response


def work_tokens(generation: Generation) -> int:
    """The tokens a worker spends on a generation (its completion, or an embedding's input), at least one."""
    usage = complete(generation).get("usage") or {}
    return max(1, int(usage.get("prompt_tokens" if generation.kind == "embedding" else "completion_tokens") or 0))


def token_bounds(generation: Generation) -> tuple[int, int]:
    """The prompt tokens ``usage`` will report, and the most completion tokens the generator writes (``n`` x
    the token limit, its defaults included; none for an embedding): what a cost is estimated from."""
    request = generation.request
    if generation.kind == "embedding":
        return _embedding_tokens(_inputs(request)), 0
    return _prompt_tokens(generation), (_whole(request.get("n")) or 1) * _limit(request, generation.kind)


def _instruction(request: JSONObject, kind: str) -> str | None:
    """The text a canary asks for: in the last user message, or the prompt."""
    if kind == "chat":
        users = [m for m in request.get("messages") or [] if isinstance(m, dict) and m.get("role") == "user"]
        text = _message_text(users[-1]) if users else ""
    else:
        text = _prompt_text(request.get("prompt"))
    match = CANARY.search(text)
    return match.group(1).strip() if match else None


def _limit(request: JSONObject, kind: str) -> int:
    for key in ("max_completion_tokens", "max_tokens"):
        limit = _whole(request.get(key))
        if limit is not None:
            return limit
    return _DEFAULT_TEXT_MAX if kind == "text" else 256


def _whole(value: Any) -> int | None:
    """JSON Schema counts 2.0 as an integer, so the generator must too."""
    if isinstance(value, bool) or not isinstance(value, int | float) or value != int(value):
        return None
    return int(value)


def _choice(generation: Generation, rng: random.Random, index: int) -> tuple[JSONObject, int]:
    request, kind = generation.request, generation.kind
    limit = _limit(request, kind)
    if kind == "chat" and _wants_tool(request, rng):
        return _tool_choice(request, rng, index), 0
    natural = [rng.choice(_WORDS) for _ in range(rng.randint(3, 48))]
    asked = _instruction(request, kind)
    if asked is not None:
        text = asked
    elif _json_format(request):
        text = _json.dumps(_instance(_format_schema(request), rng, natural)).decode()
    else:
        text = " ".join(natural)
    text, finish, matched = _apply_stop(text, request.get("stop"))
    tokens = _TOKEN.findall(text)
    if len(tokens) > limit:
        text, finish, matched = _truncate(text, limit), "length", None
    used = count_tokens(text)
    if kind == "chat":
        message = {"role": "assistant", "content": text, "reasoning_content": None, "tool_calls": None}
        choice: JSONObject = {"index": index, "message": message, "logprobs": None, "finish_reason": finish}
    else:
        prefix = _prompt_text(request.get("prompt")) if request.get("echo") else ""
        choice = {"text": prefix + text, "index": index, "logprobs": None, "finish_reason": finish}
    choice["matched_stop"] = matched
    return choice, used


def _truncate(text: str, limit: int) -> str:
    if limit <= 0:
        return ""
    match = list(_TOKEN.finditer(text))[limit - 1]
    return text[: match.end()]


def _apply_stop(text: str, stop: Any) -> tuple[str, str, str | None]:
    stops = [stop] if isinstance(stop, str) else [s for s in stop or [] if isinstance(s, str) and s]
    hits = [(text.find(s), s) for s in stops if s and s in text]
    if not hits:
        return text, "stop", None
    position, matched = min(hits)
    return text[:position], "stop", matched


def _wants_tool(request: JSONObject, rng: random.Random) -> bool:
    tools = [t for t in request.get("tools") or [] if isinstance(t, dict) and t.get("type") == "function"]
    choice = request.get("tool_choice", "auto")
    if not tools or choice == "none":
        return False
    return choice == "required" or isinstance(choice, dict) or rng.random() < 0.5


def _tool_choice(request: JSONObject, rng: random.Random, index: int) -> JSONObject:
    tools = [t["function"] for t in request["tools"] if t.get("type") == "function"]
    forced = request.get("tool_choice")
    function = next(
        (f for f in tools if isinstance(forced, dict) and f["name"] == forced.get("function", {}).get("name")),
        rng.choice(tools),
    )
    arguments = _instance(function.get("parameters") or {"type": "object"}, rng, ["value"])
    call = {
        "id": f"call_{rng.getrandbits(64):016x}",
        "type": "function",
        "function": {"name": function["name"], "arguments": _json.dumps(arguments).decode()},
    }
    message = {"role": "assistant", "content": None, "reasoning_content": None, "tool_calls": [call]}
    return {"index": index, "message": message, "logprobs": None, "finish_reason": "tool_calls", "matched_stop": None}


def _json_format(request: JSONObject) -> bool:
    fmt = request.get("response_format")
    return isinstance(fmt, dict) and fmt.get("type") in ("json_object", "json_schema")


def _format_schema(request: JSONObject) -> Any:
    fmt = request["response_format"]
    if fmt["type"] == "json_schema":
        return fmt["json_schema"].get("schema") or {"type": "object"}
    return {"type": "object", "properties": {"answer": {"type": "string"}}, "required": ["answer"]}


def _instance(schema: Any, rng: random.Random, words: list[str]) -> Any:
    """A small value that satisfies the common shapes of a response schema (objects, enums, scalars)."""
    if not isinstance(schema, dict):
        return " ".join(words[:3])
    if "const" in schema:
        return schema["const"]
    if schema.get("enum"):
        return rng.choice(schema["enum"])
    for key in ("anyOf", "oneOf"):
        if schema.get(key):
            return _instance(schema[key][0], rng, words)
    kind = schema.get("type")
    kind = kind[0] if isinstance(kind, list) and kind else kind
    if kind == "object" or "properties" in schema:
        props = schema.get("properties") or {}
        return {name: _instance(sub, rng, words) for name, sub in props.items()}
    if kind == "array":
        return [_instance(schema.get("items"), rng, words) for _ in range(max(1, schema.get("minItems", 1)))]
    if kind == "integer":
        return int(schema.get("minimum", rng.randint(0, 100)))
    if kind == "number":
        return float(schema.get("minimum", round(rng.random() * 100, 2)))
    if kind == "boolean":
        return rng.random() < 0.5
    if kind == "null":
        return None
    return " ".join(words[: rng.randint(1, 6)])


def _prompt_tokens(generation: Generation) -> int:
    request = generation.request
    if generation.kind == "text":
        prompt = request.get("prompt")
        if isinstance(prompt, list) and prompt and isinstance(prompt[0], int):
            return len(prompt)
        if isinstance(prompt, list) and prompt and isinstance(prompt[0], list):
            return sum(len(p) for p in prompt)
        return count_tokens(_prompt_text(prompt))
    return sum(_PER_MESSAGE + count_tokens(_message_text(m)) for m in request["messages"])


def _prompt_text(prompt: Any) -> str:
    if isinstance(prompt, str):
        return prompt
    if isinstance(prompt, list):
        return " ".join(p for p in prompt if isinstance(p, str))
    return ""


def _message_text(message: JSONObject) -> str:
    content = message.get("content")
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return " ".join(
            str(part.get("text") or part.get("refusal") or "") for part in content if isinstance(part, dict)
        )
    return ""


MAX_NUMBERS = 1 << 20
"""An embedding answer's inputs x dimensions, the mock's own bound (2,048 inputs of 4,096 would be 8 M numbers,
150 MB of JSON, seconds of the event loop); more is refused with a 400."""
_DEFAULT_DIMENSIONS = 32
"""Small on purpose: real models answer 1,024 or more, which only makes stored records bigger."""


def _inputs(request: JSONObject) -> list[Any]:
    raw = request["input"]
    return [raw] if isinstance(raw, str) or (raw and isinstance(raw[0], int)) else list(raw)


def numbers(request: JSONObject) -> int:
    """How many numbers the answer to an embedding request holds: inputs x dimensions."""
    return len(_inputs(request)) * (_whole(request.get("dimensions")) or _DEFAULT_DIMENSIONS)


def embed(request: JSONObject) -> JSONObject:
    """An embedding list for an embedding request: one unit vector per input, seeded by that input."""
    inputs = _inputs(request)
    dimensions = _whole(request.get("dimensions")) or _DEFAULT_DIMENSIONS
    as_base64 = request.get("encoding_format") == "base64"
    data = []
    for index, item in enumerate(inputs):
        # Bytes of a hash seeded by the input, read as signed 16-bit numbers: C speed, so that 2,048 inputs of
        # 4,096 dimensions (the most a body may ask) do not hold the event loop for seconds.
        raw_vector = struct.unpack(f"<{dimensions}h", hashlib.shake_256(_json.dumps(item)).digest(2 * dimensions))
        norm = math.hypot(*raw_vector) or 1.0
        unit = [v / norm for v in raw_vector]
        encoded: Any = base64.b64encode(struct.pack(f"<{dimensions}f", *unit)).decode() if as_base64 else unit
        data.append({"object": "embedding", "index": index, "embedding": encoded})
    tokens = _embedding_tokens(inputs)
    usage = {"prompt_tokens": tokens, "total_tokens": tokens}
    return {"object": "list", "data": data, "model": request["model"], "usage": usage}


def _embedding_tokens(inputs: list[Any]) -> int:
    return sum(len(item) if isinstance(item, list) else count_tokens(str(item)) for item in inputs)
