"""The submit bodies: every valid OpenAI request passes, what OpenAI rejects does not, with a readable path."""

from __future__ import annotations

from typing import Any

import pytest

from slowcheck.schemas import SchemaSet

MODEL = "google/gemma-3-27b-instruct/bf-16"


def chat(*messages: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {"model": MODEL, "messages": list(messages), **extra}


USER = {"role": "user", "content": "What is the capital of France?"}
TOOL_CALL = {"id": "call_1", "type": "function", "function": {"name": "get_weather", "arguments": '{"city":"Paris"}'}}
WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Current weather for a city",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
        "strict": True,
    },
}

VALID_CHAT = [
    pytest.param(chat(USER), id="minimal"),
    pytest.param(
        chat(
            {"role": "developer", "content": [{"type": "text", "text": "Be brief."}]},
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "What is in this picture, and what is said?"},
                    {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo=", "detail": "low"}},
                    {"type": "input_audio", "input_audio": {"data": "UklGRiQAAABXQVZF", "format": "wav"}},
                    {"type": "file", "file": {"file_data": "JVBERi0x", "filename": "doc.pdf"}},
                ],
            },
        ),
        id="multimodal",
    ),
    pytest.param(
        chat(
            {"role": "system", "content": "You call tools."},
            {"role": "user", "content": "Weather in Paris?"},
            {"role": "assistant", "content": None, "tool_calls": [TOOL_CALL]},
            {"role": "tool", "tool_call_id": "call_1", "content": '{"temp_c": 21}'},
            {"role": "assistant", "content": "21 °C in Paris."},
            tools=[WEATHER_TOOL],
            tool_choice={"type": "function", "function": {"name": "get_weather"}},
            parallel_tool_calls=False,
        ),
        id="tools-round-trip",
    ),
    pytest.param(
        chat(
            {"role": "user", "content": "Weather?"},
            {"role": "assistant", "tool_calls": [TOOL_CALL]},
            {"role": "tool", "tool_call_id": "call_1", "content": [{"type": "text", "text": "sunny"}]},
            tools=[WEATHER_TOOL],
            tool_choice="required",
        ),
        id="assistant-without-content-key",
    ),
    pytest.param(
        chat(
            USER,
            response_format={
                "type": "json_schema",
                "json_schema": {
                    "name": "capital",
                    "strict": True,
                    "schema": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
                },
            },
        ),
        id="json-schema-output",
    ),
    pytest.param(chat(USER, response_format={"type": "json_object"}), id="json-object-output"),
    pytest.param(
        chat(*[{"role": "user" if i % 2 == 0 else "assistant", "content": f"turn {i}"} for i in range(400)]),
        id="long-conversation",
    ),
    pytest.param(
        chat(
            {"role": "user", "content": "Ünïcödé ✓ 日本語 — emoji 🚀, RTL עברית, NUL-free \u2028 line sep"},
            user="ユーザー",
        ),
        id="unicode",
    ),
    pytest.param(
        chat(
            USER,
            temperature=0,
            top_p=1,
            n=128,
            stop=["\n", "END", "###", "."],
            seed=-(2**63),
            logprobs=True,
            top_logprobs=20,
            frequency_penalty=-2,
            presence_penalty=2,
            logit_bias={"50256": -100, "198": 100},
            max_completion_tokens=4096,
            metadata={"webhook_id": "AhALzdz8S", "custom_id": "req-001"},
            stream=False,
            user="team-a",
            service_tier="flex",
            reasoning_effort="low",
        ),
        id="every-sampling-bound",
    ),
    pytest.param(
        chat(USER, top_k=40, min_p=0.05, repetition_penalty=1.1, min_tokens=1, ignore_eos=False, stop_token_ids=[2]),
        id="backend-extension-keys",
    ),
    pytest.param(chat(USER, some_future_parameter={"x": 1}), id="unknown-top-level-key"),
    pytest.param(
        chat(
            USER,
            {"role": "assistant", "content": None, "function_call": {"name": "lookup", "arguments": "{}"}},
            {"role": "function", "name": "lookup", "content": "42"},
            functions=[{"name": "lookup", "parameters": {"type": "object"}}],
            function_call="auto",
        ),
        id="legacy-functions",
    ),
    pytest.param(chat(USER, stop="\n", max_tokens=1, n=None, temperature=None), id="nulls-and-single-stop"),
    pytest.param(
        chat({"role": "assistant", "content": [{"type": "refusal", "refusal": "No."}], "reasoning_content": "…"}),
        id="assistant-refusal-part",
    ),
]

INVALID_CHAT = [
    pytest.param({"messages": [USER]}, "$", "'model' is a required property", id="missing-model"),
    pytest.param({"model": MODEL}, "$", "'messages' is a required property", id="missing-messages"),
    pytest.param(chat(), "$.messages", "should be non-empty", id="empty-messages"),
    pytest.param(
        chat({"role": "robot", "content": "hi"}),
        "$.messages[0].role",
        '"robot" is not one of "developer"',
        id="unknown-role",
    ),
    pytest.param(chat({"content": "hi"}), "$.messages[0]", "", id="message-without-role"),
    pytest.param(chat({"role": "user"}), "$.messages[0]", "'content' is a required property", id="user-no-content"),
    pytest.param(chat({"role": "user", "content": 42}), "$.messages[0].content", "not of type", id="content-number"),
    pytest.param(chat({"role": "user", "content": []}), "$.messages[0].content", "non-empty", id="content-empty"),
    pytest.param(
        chat({"role": "user", "content": [{"type": "video", "video": {}}]}),
        "$.messages[0].content[0].type",
        '"video" is not one of "text"',
        id="bad-part",
    ),
    pytest.param(chat({"role": "assistant"}), "$.messages[0]", "needs one of", id="assistant-empty"),
    pytest.param(
        chat({"role": "assistant", "tool_calls": []}),
        "$.messages[0].tool_calls",
        "non-empty",
        id="assistant-empty-tool-calls",
    ),
    pytest.param(
        chat({"role": "tool", "content": "x"}),
        "$.messages[0]",
        "'tool_call_id' is a required property",
        id="tool-no-id",
    ),
    pytest.param(chat(USER, temperature=2.5), "$.temperature", "maximum of 2", id="temperature-high"),
    pytest.param(chat(USER, temperature=-0.1), "$.temperature", "minimum of 0", id="temperature-negative"),
    pytest.param(chat(USER, top_p=1.01), "$.top_p", "maximum of 1", id="top-p"),
    pytest.param(chat(USER, n=0), "$.n", "minimum of 1", id="n-zero"),
    pytest.param(chat(USER, n=129), "$.n", "maximum of 128", id="n-too-big"),
    pytest.param(chat(USER, n=1.5), "$.n", "not of type", id="n-float"),
    pytest.param(chat(USER, stop=["a", "b", "c", "d", "e"]), "$.stop", "", id="stop-five"),
    pytest.param(chat(USER, stop=[]), "$.stop", "", id="stop-empty-list"),
    pytest.param(chat(USER, top_logprobs=21), "$.top_logprobs", "maximum of 20", id="top-logprobs"),
    pytest.param(chat(USER, presence_penalty=3), "$.presence_penalty", "maximum of 2", id="presence-penalty"),
    pytest.param(chat(USER, max_tokens=0), "$.max_tokens", "minimum of 1", id="max-tokens-zero"),
    pytest.param(chat(USER, max_tokens="100"), "$.max_tokens", "not of type", id="max-tokens-string"),
    pytest.param(chat(USER, stream="yes"), "$.stream", "not of type", id="stream-string"),
    pytest.param(chat(USER, metadata={"k": 1}), "$.metadata.k", "not of type", id="metadata-non-string"),
    pytest.param(
        chat(USER, metadata={str(i): "v" for i in range(17)}),
        "$.metadata",
        "too many properties",
        id="metadata-17-keys",
    ),
    pytest.param(chat(USER, metadata={"k" * 65: "v"}), "$.metadata", "too long", id="metadata-long-key"),
    pytest.param(
        chat(USER, response_format={"type": "yaml"}), "$.response_format.type", "json_schema", id="response-format"
    ),
    pytest.param(chat(USER, tool_choice="sometimes"), "$.tool_choice", "", id="tool-choice"),
    pytest.param(
        chat(USER, tools=[{"type": "function", "function": {"name": "has space"}}]),
        "$.tools[0].function.name",
        "does not match",
        id="tool-name",
    ),
    pytest.param(chat(USER, logit_bias={"1": 101}), '$.logit_bias["1"]', "maximum of 100", id="logit-bias"),
    pytest.param([USER], "$", "not of type 'object'", id="array-body"),
    pytest.param(chat(USER, model=""), "$.model", "", id="empty-model"),
]


@pytest.mark.parametrize("body", VALID_CHAT)
def test_valid_chat_requests_are_accepted(body: dict[str, Any], schemas: SchemaSet) -> None:
    assert schemas.errors("chat-completion-request", body) == []
    assert schemas.is_valid("chat-completion-request", body)


@pytest.mark.parametrize(("body", "path", "says"), INVALID_CHAT)
def test_invalid_chat_requests_are_rejected_at_the_right_place(
    body: Any, path: str, says: str, schemas: SchemaSet
) -> None:
    assert not schemas.is_valid("chat-completion-request", body)
    errors = schemas.errors("chat-completion-request", body)
    assert errors, "jsonschema and the fast validator disagree"
    assert any(e.path == path and says in e.message for e in errors), errors


def completion(**extra: Any) -> dict[str, Any]:
    return {"model": MODEL, "prompt": "Once upon a time", **extra}


@pytest.mark.parametrize(
    "body",
    [
        pytest.param(completion(), id="string"),
        pytest.param(completion(prompt=["a", "b"]), id="strings"),
        pytest.param(completion(prompt=[1, 2, 3]), id="tokens"),
        pytest.param(completion(prompt=[[1, 2], [3]]), id="token-arrays"),
        pytest.param(completion(prompt=None), id="null-prompt"),
        pytest.param(completion(prompt=""), id="empty-string"),
        pytest.param(
            completion(max_tokens=0, echo=True, logprobs=5, best_of=20, suffix="END", n=3, stop=["\n"]),
            id="scoring-bounds",
        ),
        pytest.param(completion(metadata={"custom_id": "c-1"}, top_k=20), id="metadata-and-extension"),
    ],
)
def test_valid_completion_requests_are_accepted(body: dict[str, Any], schemas: SchemaSet) -> None:
    assert schemas.errors("completion-request", body) == []
    assert schemas.is_valid("completion-request", body)


@pytest.mark.parametrize(
    ("body", "path"),
    [
        pytest.param({"model": MODEL}, "$", id="missing-prompt"),
        pytest.param({"prompt": "x"}, "$", id="missing-model"),
        pytest.param(completion(prompt=5), "$.prompt", id="number-prompt"),
        pytest.param(completion(prompt=[[1], []]), "$.prompt", id="empty-inner-token-list"),
        pytest.param(completion(prompt=[1, "a"]), "$.prompt", id="mixed-prompt"),
        pytest.param(completion(logprobs=6), "$.logprobs", id="logprobs-six"),
        pytest.param(completion(best_of=21), "$.best_of", id="best-of"),
        pytest.param(completion(max_tokens=-1), "$.max_tokens", id="negative-max-tokens"),
        pytest.param(completion(temperature=9), "$.temperature", id="temperature"),
    ],
)
def test_invalid_completion_requests_are_rejected(body: dict[str, Any], path: str, schemas: SchemaSet) -> None:
    assert not schemas.is_valid("completion-request", body)
    assert any(e.path == path for e in schemas.errors("completion-request", body))
