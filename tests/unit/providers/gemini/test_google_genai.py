"""The official google-genai SDK against the Gemini format, in process: what the SDK sends is read
by `formats.gemini.to_openai`, and what the gateway answers (whole, streamed, or as an error) is
parsed by the SDK. No network: an httpx MockTransport stands in for the gateway's route."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from functools import cache
from pathlib import Path
from typing import Any

import httpx
import pytest

from gateway.formats.gemini import GenerateContentRequest, to_openai
from gateway.formats.gemini_answers import StreamEncoder, error_body, from_openai_response, sse

genai = pytest.importorskip("google.genai")
from google.genai import errors, types  # noqa: E402

GOLDEN = Path(__file__).resolve().parents[3] / "golden" / "gemini"
MODEL = "gemini-2.5-flash"


@cache
def golden(name: str) -> Any:
    return json.loads((GOLDEN / name).read_text(encoding="utf-8"))


Handler = Callable[[dict[str, Any], bool], httpx.Response]


class Gateway:
    """Plays the gateway's /v1beta route: validates and translates each request, records it."""

    def __init__(self, answer: Handler) -> None:
        self.answer = answer
        self.requests: list[dict[str, Any]] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        assert request.headers["x-goog-api-key"] == "sk-test"
        path = request.url.path
        assert path.startswith(f"/v1beta/models/{MODEL}:")
        stream = path.endswith(":streamGenerateContent")
        assert not stream or request.url.params.get("alt") == "sse"
        body = GenerateContentRequest.model_validate(json.loads(request.content)).wire_body()
        canonical = to_openai(body, MODEL, stream)
        self.requests.append(canonical)
        return self.answer(canonical, stream)

    def client(self) -> Any:
        options = types.HttpOptions(
            base_url="http://gateway.test",
            api_version="v1beta",
            httpx_client=httpx.Client(transport=httpx.MockTransport(self)),
            retry_options=types.HttpRetryOptions(attempts=1),
        )
        return genai.Client(api_key="sk-test", http_options=options)


def answer_with(openai: dict[str, Any]) -> Handler:
    return lambda canonical, stream: httpx.Response(200, json=from_openai_response(openai, MODEL))


def stream_of(chunks: list[dict[str, Any]], *, error: tuple[int, str] | None = None) -> Handler:
    def answer(canonical: dict[str, Any], stream: bool) -> httpx.Response:
        encoder = StreamEncoder(MODEL)
        events = [event for chunk in chunks for event in encoder.feed(chunk)]
        events += [encoder.error_event(*error)] if error else encoder.finish()
        body = b"".join(sse(event) for event in events)
        return httpx.Response(200, content=body, headers={"content-type": "text/event-stream"})

    return answer


def get_weather(city: str) -> str:
    """Current weather for a city."""
    return "sunny"


# ---------------------------------------------------------------- the SDK's types accept what we emit


@pytest.mark.parametrize("case", golden("inbound_response.json")["cases"], ids=lambda c: c["name"])
def test_the_sdk_types_accept_each_answer_we_send(case: dict[str, Any]) -> None:
    response = types.GenerateContentResponse.model_validate(case["gemini"])  # extra="forbid": no stray field
    assert response.usage_metadata is not None
    assert response.candidates is not None


def test_the_sdk_types_accept_each_streamed_chunk_we_send() -> None:
    stream = golden("inbound_stream.json")
    chunks = [chunk for event in stream["events"] for chunk in event["gemini"]] + stream["finish"]
    parsed = [types.GenerateContentResponse.model_validate(chunk) for chunk in chunks]
    assert [p.candidates[0].finish_reason for p in parsed if p.candidates] == [None] * (len(parsed) - 1) + [
        types.FinishReason.STOP
    ]
    assert parsed[-1].usage_metadata == types.GenerateContentResponseUsageMetadata(
        prompt_token_count=120,
        candidates_token_count=36,
        total_token_count=161,
        cached_content_token_count=64,
        thoughts_token_count=5,
    )


# ---------------------------------------------------------------- whole answers


def test_generate_content_with_config_tools_and_thinking() -> None:
    case = next(c for c in golden("inbound_response.json")["cases"] if c["name"] == "text_with_reasoning")
    gateway = Gateway(answer_with(case["openai"]))
    config = types.GenerateContentConfig(
        system_instruction="Be terse.",
        temperature=0.3,
        top_k=20,
        max_output_tokens=300,
        stop_sequences=["END"],
        tools=[get_weather],
        automatic_function_calling=types.AutomaticFunctionCallingConfig(disable=True),
        thinking_config=types.ThinkingConfig(thinking_budget=512, include_thoughts=True),
        safety_settings=[types.SafetySetting(category="HARM_CATEGORY_HARASSMENT", threshold="BLOCK_NONE")],
    )
    # When the SDK asks for content
    response = gateway.client().models.generate_content(model=MODEL, contents="Capital of France?", config=config)
    # Then the gateway read every setting the SDK sent (the SDK nests some fields in snake_case)
    assert gateway.requests == [
        {
            "model": MODEL,
            "messages": [{"role": "system", "content": "Be terse."}, {"role": "user", "content": "Capital of France?"}],
            "stream": False,
            "tools": [
                {
                    "type": "function",
                    "function": {
                        "name": "get_weather",
                        "description": "Current weather for a city.",
                        "parameters": {
                            "type": "object",
                            "properties": {"city": {"type": "string"}},
                            "required": ["city"],
                        },
                    },
                }
            ],
            "temperature": 0.3,
            "top_k": 20,
            "max_completion_tokens": 300,
            "stop": ["END"],
            "reasoning": {"max_tokens": 512, "exclude": False},
        }
    ]
    # And the SDK reads our answer: text without thoughts, the thought summary, the usage
    assert response.text == "Paris."
    assert [p.text for p in response.candidates[0].content.parts if p.thought] == ["Capital of France."]
    assert response.usage_metadata.thoughts_token_count == 384
    assert response.usage_metadata.cached_content_token_count == 1024
    assert response.response_id == case["openai"]["id"]


def test_function_calls_reach_the_sdk_and_their_results_come_back_as_tool_messages() -> None:
    case = next(c for c in golden("inbound_response.json")["cases"] if c["name"] == "tool_calls")
    gateway = Gateway(answer_with(case["openai"]))
    config = types.GenerateContentConfig(
        tools=[get_weather], automatic_function_calling=types.AutomaticFunctionCallingConfig(disable=True)
    )
    chat = gateway.client().chats.create(model=MODEL, config=config)
    # When the model calls functions
    response = chat.send_message("Weather and time in Paris?")
    calls = response.function_calls
    assert [(c.id, c.name, c.args) for c in calls] == [
        ("call_1", "get_weather", {"city": "Paris"}),
        ("call_2", "get_time", {}),
    ]
    assert response.candidates[0].content.parts[0].thought_signature is not None  # bytes, base64 on the wire
    # And the client answers them in the same chat
    gateway.answer = answer_with(golden("inbound_response.json")["cases"][0]["openai"])
    chat.send_message([types.Part.from_function_response(name=c.name, response={"output": "ok"}) for c in calls])
    # Then the gateway sees the calls (signature kept) followed by one tool message per call
    messages = gateway.requests[-1]["messages"]
    assert messages[1]["tool_calls"][0]["id"] == "call_1"
    # (the SDK holds signatures as bytes and sends them back URL-safe base64, which Google also reads)
    sent = case["openai"]["choices"][0]["message"]["tool_calls"][0]["extra_content"]["google"]["thought_signature"]
    replayed = messages[1]["tool_calls"][0]["extra_content"]["google"]["thought_signature"]
    assert base64.urlsafe_b64decode(replayed) == base64.b64decode(sent)
    assert messages[2:] == [
        {"role": "tool", "tool_call_id": "call_1", "content": "ok"},
        {"role": "tool", "tool_call_id": "call_2", "content": "ok"},
    ]


# ---------------------------------------------------------------- streams


def test_a_streamed_answer_reads_as_text_then_function_calls_then_usage() -> None:
    chunks = [event["openai"] for event in golden("inbound_stream.json")["events"]]
    gateway = Gateway(stream_of(chunks))
    parts = list(gateway.client().models.generate_content_stream(model=MODEL, contents="Weather?"))
    assert gateway.requests[0]["stream"] is True
    assert gateway.requests[0]["stream_options"] == {"include_usage": True}
    assert "".join(p.text or "" for p in parts) == "Je vérifie la météo."
    assert [(c.name, c.args) for p in parts for c in p.function_calls or []] == [
        ("get_weather", {"city": "Paris"}),
        ("get_time", {}),
    ]
    assert parts[-1].candidates[0].finish_reason == types.FinishReason.STOP
    assert parts[-1].usage_metadata.prompt_token_count == 120


def test_a_streamed_chat_turn_is_kept_in_the_sdk_history_and_replayed_as_one_assistant_message() -> None:
    chunks = [event["openai"] for event in golden("inbound_stream.json")["events"]]
    gateway = Gateway(stream_of(chunks))
    chat = gateway.client().chats.create(model=MODEL)
    calls = [c for p in chat.send_message_stream("Weather?") for c in p.function_calls or []]
    # Then the SDK judged every chunk valid and kept the turn
    assert len(chat.get_history(curated=True)) == len(chat.get_history(curated=False)) > 1
    # And replaying it with the function results gives the upstream a well-formed history
    list(
        chat.send_message_stream(
            [types.Part.from_function_response(name=c.name, response={"output": "x"}) for c in calls]
        )
    )
    messages = gateway.requests[-1]["messages"]
    assert [m["role"] for m in messages] == ["user", "assistant", "tool", "tool"]
    assert messages[1]["content"] == "Je vérifie la météo."
    assert [m["tool_call_id"] for m in messages[2:]] == ["call_Qb1xZ", "call_Rt2yW"]


def test_an_error_event_ends_the_stream_with_the_sdks_api_error() -> None:
    chunks = [event["openai"] for event in golden("inbound_stream.json")["events"][:4]]
    gateway = Gateway(stream_of(chunks, error=(502, "The provider failed to answer.")))
    received: list[str] = []

    def read() -> None:
        for part in gateway.client().models.generate_content_stream(model=MODEL, contents="Weather?"):
            received.append(part.text or "")

    with pytest.raises(errors.APIError) as raised:
        read()
    assert "".join(received) == "Je vérifie la météo."
    assert (raised.value.code, raised.value.status, raised.value.message) == (
        502,
        "UNAVAILABLE",
        "The provider failed to answer.",
    )


@pytest.mark.parametrize(
    ("status", "kind", "name"),
    [
        (400, errors.ClientError, "INVALID_ARGUMENT"),
        (402, errors.ClientError, "FAILED_PRECONDITION"),
        (429, errors.ClientError, "RESOURCE_EXHAUSTED"),
        (503, errors.ServerError, "UNAVAILABLE"),
    ],
)
def test_error_answers_raise_the_sdks_error_with_code_and_status(status: int, kind: type[Exception], name: str) -> None:
    gateway = Gateway(lambda canonical, stream: httpx.Response(status, json=error_body(status, "nope")))
    with pytest.raises(kind) as raised:
        gateway.client().models.generate_content(model=MODEL, contents="Hi")
    assert (raised.value.code, raised.value.status, raised.value.message) == (status, name, "nope")  # type: ignore[attr-defined]


# ---------------------------------------------------------------- what we send a Gemini upstream


@pytest.mark.parametrize("case", golden("chat_request.json")["cases"], ids=lambda c: c["name"])
def test_each_upstream_body_uses_only_fields_of_the_sdks_types(case: dict[str, Any]) -> None:
    # The SDK's request types forbid unknown fields, so a misspelt field name fails here
    body = case["gemini"]
    for content in [*body["contents"], *([body["systemInstruction"]] if "systemInstruction" in body else [])]:
        types.Content.model_validate(content)
    for tool in body.get("tools", []):
        types.Tool.model_validate(tool)
    if "toolConfig" in body:
        types.ToolConfig.model_validate(body["toolConfig"])
    if "generationConfig" in body:
        types.GenerationConfig.model_validate(body["generationConfig"])
    assert set(body) <= {"contents", "systemInstruction", "tools", "toolConfig", "generationConfig"}
