"""Coding agents' loops across vendors, through the official SDKs against the test gateway: a client
speaking one vendor's API (Responses, Messages, Gemini, chat completions) to a model another vendor
serves, its tool calls and thinking carried from turn to turn. Each upstream plays a scripted answer
(a route put in front of the session's fake for the test), so the stream is exactly a real one."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import pytest
from google.genai import types
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from tests.support.control import AdminApi, eventually, unique
from tests.support.control import operator as operator  # a fixture
from tests.support.sdks import anthropic_sdk, gemini_sdk, openai_sdk

WEATHER = {
    "name": "get_weather",
    "description": "Weather of a city",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
}


# ---------------------------------------------------------------- scripted upstreams


class Scripted:
    """Answers queued for the next requests to one path of a fake; every request body is kept."""

    def __init__(self) -> None:
        self.answers: list[Callable[[dict[str, Any]], Response]] = []
        self.requests: list[dict[str, Any]] = []

    async def handle(self, request: Request) -> Response:
        body = await request.json()
        self.requests.append(body)
        return self.answers.pop(0)(body)


@contextmanager
def scripted(fake: Any, path: str) -> Iterator[Scripted]:
    """A route in front of the fake's own for `path`, while the test runs."""
    script = Scripted()
    route = Route(path, script.handle, methods=["POST"])
    fake.app.router.routes.insert(0, route)
    try:
        yield script
    finally:
        fake.app.router.routes.remove(route)


def sse_stream(events: list[tuple[str | None, dict[str, Any]]]) -> Callable[[dict[str, Any]], Response]:
    def answer(body: dict[str, Any]) -> Response:
        async def frames() -> Any:
            for name, data in events:
                head = f"event: {name}\n" if name else ""
                yield f"{head}data: {json.dumps(data)}\n\n".encode()

        return StreamingResponse(frames(), media_type="text/event-stream")

    return answer


def anthropic_events(blocks: list[dict[str, Any]], stop: str, usage: dict[str, int]) -> list[tuple[str, dict]]:
    """An Anthropic message stream, as Anthropic sends one: thinking with its signature, text, tool_use
    with its input in fragments."""
    start = {
        "id": "msg_script", "type": "message", "role": "assistant", "model": "claude-x", "content": [],
        "stop_reason": None, "stop_sequence": None,
        "usage": {"input_tokens": usage["input_tokens"], "output_tokens": 1},
    }  # fmt: skip
    events: list[tuple[str, dict]] = [("message_start", {"type": "message_start", "message": start})]
    for index, block in enumerate(blocks):
        if block["type"] == "thinking":
            opening: dict[str, Any] = {"type": "thinking", "thinking": "", "signature": ""}
            deltas = [
                {"type": "thinking_delta", "thinking": block["thinking"]},
                {"type": "signature_delta", "signature": block["signature"]},
            ]
        elif block["type"] == "text":
            opening, deltas = {"type": "text", "text": ""}, [{"type": "text_delta", "text": block["text"]}]
        else:
            opening = {**block, "input": {}}
            arguments = json.dumps(block["input"])
            deltas = [{"type": "input_json_delta", "partial_json": p} for p in (arguments[:4], arguments[4:])]
        events.append(
            ("content_block_start", {"type": "content_block_start", "index": index, "content_block": opening})
        )
        for delta in deltas:
            events.append(("content_block_delta", {"type": "content_block_delta", "index": index, "delta": delta}))
        events.append(("content_block_stop", {"type": "content_block_stop", "index": index}))
    final = {k: v for k, v in usage.items() if k != "input_tokens"}
    events.append(
        (
            "message_delta",
            {"type": "message_delta", "delta": {"stop_reason": stop, "stop_sequence": None}, "usage": final},
        )
    )
    events.append(("message_stop", {"type": "message_stop"}))
    return events


# ---------------------------------------------------------------- clients


# ---------------------------------------------------------------- Responses API (Codex) -> Claude

RESPONSES_TOOLS = [{"type": "function", **WEATHER}]
THINKING = {"type": "thinking", "thinking": "Two cities: call twice.", "signature": "sig-A"}
TWO_CALLS = [
    THINKING,
    {"type": "text", "text": "Checking both."},
    {"type": "tool_use", "id": "toolu_1", "name": "get_weather", "input": {"city": "Paris"}},
    {"type": "tool_use", "id": "toolu_2", "name": "get_weather", "input": {"city": "Rome"}},
]


def test_responses_stream_from_claude_parallel_calls_then_store_false_turn(
    gateway_url, upstream, fake_servers, make_tenant
):
    tenant = make_tenant("10")
    client = openai_sdk(gateway_url, tenant.key)
    with scripted(fake_servers["anthropic"], "/v1/messages") as claude:
        claude.answers.append(
            sse_stream(anthropic_events(TWO_CALLS, "tool_use", {"input_tokens": 20, "output_tokens": 30}))
        )
        claude.answers.append(
            sse_stream(
                anthropic_events(
                    [{"type": "text", "text": "Sunny both."}], "end_turn", {"input_tokens": 40, "output_tokens": 3}
                )
            )
        )
        with client.responses.stream(
            model="test/claude",
            input="weather in Paris and Rome?",
            tools=RESPONSES_TOOLS,
            store=False,
            include=["reasoning.encrypted_content"],
        ) as events:
            seen = list(events)
            first = events.get_final_response()
        numbers = [event.sequence_number for event in seen]
        assert numbers == sorted(numbers)
        assert len(set(numbers)) == len(numbers)
        kinds = [item.type for item in first.output]
        assert kinds == ["reasoning", "message", "function_call", "function_call"], kinds
        calls = [item for item in first.output if item.type == "function_call"]
        assert [(c.call_id, json.loads(c.arguments)) for c in calls] == [
            ("toolu_1", {"city": "Paris"}),
            ("toolu_2", {"city": "Rome"}),
        ]
        # Codex: store false, the whole conversation sent back with the calls' outputs
        items = [{"role": "user", "content": "weather in Paris and Rome?"}]
        items += [item.model_dump(exclude_none=True) for item in first.output]
        items += [{"type": "function_call_output", "call_id": c.call_id, "output": "sunny"} for c in calls]
        with client.responses.stream(model="test/claude", input=items, tools=RESPONSES_TOOLS, store=False) as events:
            second = events.get_final_response()
        assert second.output_text == "Sunny both."
        sent = claude.requests[-1]["messages"]
        assert [m["role"] for m in sent] == ["user", "assistant", "user"]
        assert [b["type"] for b in sent[1]["content"]] == ["thinking", "text", "tool_use", "tool_use"]
        assert sent[1]["content"][0] == THINKING
        assert [b["type"] for b in sent[2]["content"]] == ["tool_result", "tool_result"]


# ---------------------------------------------------------------- Gemini API (Gemini CLI, google-genai) -> Claude


@pytest.fixture
def roomy_claude(operator: AdminApi, gateway_url: str, make_tenant: Any) -> Iterator[str]:
    """A Claude model with room for extended thinking (the test catalog's caps output at 1,000 tokens,
    below Anthropic's smallest thinking budget)."""
    model = unique("test/claude-roomy")
    operator.post(
        "/models",
        {
            "id": model, "display_name": "Roomy Claude", "owned_by": "test", "context_length": 200000,
            "max_output_tokens": 16000, "pricing": {"input": "0.5", "output": "1.5"},
            "providers": [{"provider": "fake-anthropic", "model": "claude-roomy"}],
        },
    )  # fmt: skip
    probe = make_tenant("1")
    eventually(
        lambda: any(m["id"] == model for m in openai_sdk(gateway_url, probe.key).models.list().model_dump()["data"])
    )
    yield model
    operator.delete(f"/models/{model}")


def test_gemini_sdk_tool_loop_with_claude_thinking_gives_claude_its_signed_thinking_back(
    gateway_url, upstream, fake_servers, make_tenant, roomy_claude
):
    # Given a google-genai client (as Gemini CLI is) asking a Claude model to think, with a function tool
    tenant = make_tenant("10")
    client = gemini_sdk(gateway_url, tenant.key)
    config = types.GenerateContentConfig(
        tools=[
            types.Tool(
                function_declarations=[
                    types.FunctionDeclaration(
                        name="get_weather", description="Weather", parameters_json_schema=WEATHER["parameters"]
                    )
                ]
            )
        ],
        thinking_config=types.ThinkingConfig(thinking_budget=2048, include_thoughts=True),
        max_output_tokens=4096,
    )
    asked = types.Content(role="user", parts=[types.Part(text="weather in Paris?")])
    with scripted(fake_servers["anthropic"], "/v1/messages") as claude:
        call = {"type": "tool_use", "id": "toolu_1", "name": "get_weather", "input": {"city": "Paris"}}
        claude.answers.append(
            sse_stream(anthropic_events([THINKING, call], "tool_use", {"input_tokens": 9, "output_tokens": 20}))
        )
        claude.answers.append(
            sse_stream(
                anthropic_events(
                    [{"type": "text", "text": "Sunny."}], "end_turn", {"input_tokens": 30, "output_tokens": 2}
                )
            )
        )
        parts: list[types.Part] = []
        for chunk in client.models.generate_content_stream(model=roomy_claude, contents=[asked], config=config):
            parts += chunk.candidates[0].content.parts or []
        assert claude.requests[0]["thinking"] == {"type": "enabled", "budget_tokens": 2048}
        (function_call,) = [part.function_call for part in parts if part.function_call]
        assert function_call.name == "get_weather"
        # When it sends the model's turn back with the function's response, as Gemini CLI does
        answered = types.Content(
            role="user",
            parts=[
                types.Part(
                    function_response=types.FunctionResponse(
                        id=function_call.id, name="get_weather", response={"output": "sunny"}
                    )
                )
            ],
        )
        history = [asked, types.Content(role="model", parts=parts), answered]
        text = "".join(
            chunk.text or ""
            for chunk in client.models.generate_content_stream(model=roomy_claude, contents=history, config=config)
        )
        assert text == "Sunny."
        # Then Claude, still thinking, gets its signed thinking back before its tool_use, as Anthropic requires
        # ("a final assistant message must start with a thinking block" when thinking is enabled)
        sent = claude.requests[1]
        assert sent["thinking"]["type"] == "enabled"
        assistant = sent["messages"][1]
        assert assistant["role"] == "assistant"
        assert assistant["content"][0] == THINKING, assistant["content"]


# ---------------------------------------------------------------- Messages API (Claude Code) -> Bedrock

CACHED_USAGE = {"inputTokens": 12, "outputTokens": 7, "cacheReadInputTokens": 3000, "cacheWriteInputTokens": 500}


def test_claude_code_streamed_usage_from_bedrock_counts_cache_writes_as_the_whole_answer_does(
    gateway_url, upstream, fake_servers, make_tenant
):
    # Given Claude Code's prompt caching through a Claude model on Bedrock (Converse), which reports
    # 3,000 tokens read from the cache, 500 written to it and 12 uncached
    tenant = make_tenant("10")
    client = anthropic_sdk(gateway_url, tenant.key)
    bedrock = fake_servers["bedrock"]
    text = [{"contentBlockDelta": {"delta": {"text": "Hi."}, "contentBlockIndex": 0}}]
    bedrock.answer_json(
        {"output": {"message": {"role": "assistant", "content": [{"text": "Hi."}]}}, "stopReason": "end_turn",
         "usage": CACHED_USAGE, "metrics": {"latencyMs": 5}}, request_id="req-1")  # fmt: skip
    bedrock.answer_stream(
        [{"messageStart": {"role": "assistant"}}, *text, {"contentBlockStop": {"contentBlockIndex": 0}},
         {"messageStop": {"stopReason": "end_turn"}},
         {"metadata": {"usage": CACHED_USAGE, "metrics": {"latencyMs": 5}}}],
        request_id="req-2",
    )  # fmt: skip
    asked = {"model": "test/bedrock", "max_tokens": 100, "messages": [{"role": "user", "content": "hi"}]}
    whole = client.messages.create(**asked).usage
    # Then the whole answer's usage counts them apart, as Anthropic does
    assert (whole.input_tokens, whole.cache_read_input_tokens, whole.cache_creation_input_tokens) == (12, 3000, 500)
    # And so does the streamed answer's, as the SDK accumulates it (Claude Code streams)
    with client.messages.stream(**asked) as stream:
        streamed = stream.get_final_message().usage
    assert (streamed.input_tokens, streamed.cache_read_input_tokens, streamed.cache_creation_input_tokens) == (
        12,
        3000,
        500,
    )


# ---------------------------------------------------------------- Messages API (Claude Code) -> OpenAI, Gemini

ANTHROPIC_TOOLS = [
    {"name": WEATHER["name"], "description": WEATHER["description"], "input_schema": WEATHER["parameters"]}
]


def openai_chunks(deltas: list[dict[str, Any]], finish: str, usage: dict[str, Any]) -> list[tuple[None, dict]]:
    base = {"id": "chatcmpl-s", "object": "chat.completion.chunk", "created": 1, "model": "agent"}
    chunks: list[tuple[None, dict]] = [
        (
            None,
            {**base, "choices": [{"index": 0, "delta": {"role": "assistant", "content": ""}, "finish_reason": None}]},
        )
    ]
    chunks += [(None, {**base, "choices": [{"index": 0, "delta": d, "finish_reason": None}]}) for d in deltas]
    chunks.append((None, {**base, "choices": [{"index": 0, "delta": {}, "finish_reason": finish}]}))
    chunks.append((None, {**base, "choices": [], "usage": usage}))
    return chunks


def openai_stream(deltas: list[dict[str, Any]], finish: str, usage: dict[str, Any]) -> Callable[[dict], Response]:
    events = openai_chunks(deltas, finish, usage)

    def answer(body: dict[str, Any]) -> Response:
        async def frames() -> Any:
            for _, data in events:
                yield f"data: {json.dumps(data)}\n\n".encode()
            yield b"data: [DONE]\n\n"

        return StreamingResponse(frames(), media_type="text/event-stream")

    return answer


def parallel_openai_calls() -> list[dict[str, Any]]:
    def call(index: int, call_id: str, arguments: list[str]) -> list[dict[str, Any]]:
        first = {
            "index": index,
            "id": call_id,
            "type": "function",
            "function": {"name": "get_weather", "arguments": ""},
        }
        return [{"tool_calls": [first]}] + [
            {"tool_calls": [{"index": index, "function": {"arguments": a}}]} for a in arguments
        ]

    return call(0, "call_A", ['{"ci', 'ty": "Paris"}']) + call(1, "call_B", ['{"city"', ': "Rome"}'])


def test_claude_code_streams_parallel_tool_calls_from_an_openai_model(gateway_url, upstream, make_tenant):
    tenant = make_tenant("10")
    client = anthropic_sdk(gateway_url, tenant.key)
    with scripted(upstream, "/v1/chat/completions") as gpt:
        usage = {
            "prompt_tokens": 20,
            "completion_tokens": 10,
            "total_tokens": 30,
            "prompt_tokens_details": {"cached_tokens": 8},
        }
        gpt.answers.append(sse_stream(openai_chunks(parallel_openai_calls(), "tool_calls", usage)))
        with client.messages.stream(
            model="claude-opus-5",
            max_tokens=500,
            tools=ANTHROPIC_TOOLS,
            messages=[{"role": "user", "content": "weather in Paris and Rome?"}],
        ) as stream:
            events = list(stream)
            message = stream.get_final_message()
    assert message.stop_reason == "tool_use"
    assert [(b.type, b.id, b.input) for b in message.content] == [
        ("tool_use", "call_A", {"city": "Paris"}),
        ("tool_use", "call_B", {"city": "Rome"}),
    ]
    assert (message.usage.input_tokens, message.usage.cache_read_input_tokens, message.usage.output_tokens) == (
        12,
        8,
        10,
    )
    kinds = [e.type for e in events]
    assert kinds[0] == "message_start"
    assert kinds[-1] == "message_stop"


def gemini_stream(chunks: list[dict[str, Any]]) -> Callable[[dict], Response]:
    return sse_stream([(None, chunk) for chunk in chunks])


GEMINI_TWO_CALLS = [
    {"candidates": [{"content": {"role": "model", "parts": [{"text": "Planning.", "thought": True}]}, "index": 0}],
     "responseId": "r1", "usageMetadata": {"promptTokenCount": 20}},
    {"candidates": [{"content": {"role": "model", "parts": [
        {"functionCall": {"name": "get_weather", "args": {"city": "Paris"}}, "thoughtSignature": "c2lnLTE="},
        {"functionCall": {"name": "get_weather", "args": {"city": "Rome"}}},
    ]}, "finishReason": "STOP", "index": 0}],
     "responseId": "r1",
     "usageMetadata": {"promptTokenCount": 20, "candidatesTokenCount": 10, "thoughtsTokenCount": 5,
                       "totalTokenCount": 35}},
]  # fmt: skip


GEMINI_SUNNY = [
    {
        "candidates": [
            {"content": {"role": "model", "parts": [{"text": "Sunny both."}]}, "finishReason": "STOP", "index": 0}
        ],
        "usageMetadata": {"promptTokenCount": 40, "candidatesTokenCount": 3, "totalTokenCount": 43},
    }
]


def test_claude_code_streams_parallel_function_calls_from_a_gemini_model(
    gateway_url, upstream, fake_servers, make_tenant
):
    tenant = make_tenant("10")
    client = anthropic_sdk(gateway_url, tenant.key)
    with scripted(fake_servers["gemini"], "/v1beta/models/{target}") as gemini:
        gemini.answers.append(gemini_stream(GEMINI_TWO_CALLS))
        gemini.answers.append(gemini_stream(GEMINI_SUNNY))
        asked = [{"role": "user", "content": "weather in Paris and Rome?"}]
        with client.messages.stream(
            model="claude-sonnet-5", max_tokens=500, tools=ANTHROPIC_TOOLS, messages=asked
        ) as stream:
            message = stream.get_final_message()
        assert message.stop_reason == "tool_use"
        calls = [b for b in message.content if b.type == "tool_use"]
        assert [b.input for b in calls] == [{"city": "Paris"}, {"city": "Rome"}]
        assert len({b.id for b in calls}) == 2
        assert message.usage.output_tokens == 15
        history = [
            *asked,
            {"role": "assistant", "content": [b.model_dump(exclude_none=True) for b in message.content]},
            {
                "role": "user",
                "content": [{"type": "tool_result", "tool_use_id": b.id, "content": "sunny"} for b in calls],
            },
        ]
        with client.messages.stream(
            model="claude-sonnet-5", max_tokens=500, tools=ANTHROPIC_TOOLS, messages=history
        ) as stream:
            assert stream.get_final_message().content[0].text == "Sunny both."
        target, _sent = gemini.requests[-1]["contents"], gemini.requests[-1]
        roles = [c["role"] for c in target]
        assert roles == ["user", "model", "user"], roles
        assert [list(p) for p in target[2]["parts"]] == [["functionResponse"], ["functionResponse"]]


def test_responses_stream_from_gemini_parallel_function_calls_round_trip(
    gateway_url, upstream, fake_servers, make_tenant
):
    tenant = make_tenant("10")
    client = openai_sdk(gateway_url, tenant.key)
    with scripted(fake_servers["gemini"], "/v1beta/models/{target}") as gemini:
        gemini.answers.append(gemini_stream(GEMINI_TWO_CALLS))
        gemini.answers.append(gemini_stream(GEMINI_SUNNY))
        with client.responses.stream(
            model="test/gemini", input="weather in Paris and Rome?", tools=RESPONSES_TOOLS, store=False
        ) as events:
            first = events.get_final_response()
        calls = [item for item in first.output if item.type == "function_call"]
        assert [json.loads(c.arguments) for c in calls] == [{"city": "Paris"}, {"city": "Rome"}]
        assert first.usage.output_tokens == 15
        assert first.usage.output_tokens_details.reasoning_tokens == 5
        items = [{"role": "user", "content": "weather in Paris and Rome?"}]
        items += [item.model_dump(exclude_none=True) for item in first.output]
        items += [{"type": "function_call_output", "call_id": c.call_id, "output": "sunny"} for c in calls]
        with client.responses.stream(model="test/gemini", input=items, tools=RESPONSES_TOOLS, store=False) as events:
            assert events.get_final_response().output_text == "Sunny both."
        contents = gemini.requests[-1]["contents"]
        assert [c["role"] for c in contents] == ["user", "model", "user"]
        # the first call's thoughtSignature came back with it (the model keeps its reasoning), not Google's skip
        assert [part.get("thoughtSignature") for part in contents[1]["parts"]] == ["c2lnLTE=", None]


# ---------------------------------------------------------------- Gemini API (Gemini CLI) -> OpenAI reasoning model


REASONED = {"prompt_tokens": 20, "completion_tokens": 50, "total_tokens": 70,
            "completion_tokens_details": {"reasoning_tokens": 40}}  # fmt: skip


def test_gemini_streamed_usage_from_an_openai_reasoning_model_splits_thoughts_as_the_whole_answer_does(
    gateway_url, upstream, make_tenant
):
    # Given an OpenAI reasoning model that thought 40 of its 50 output tokens
    tenant = make_tenant("10")
    client = gemini_sdk(gateway_url, tenant.key)
    with scripted(upstream, "/v1/chat/completions") as gpt:
        whole = {"id": "chatcmpl-w", "object": "chat.completion", "created": 1, "model": "echo",
                 "choices": [{"index": 0, "message": {"role": "assistant", "content": "Hi."}, "finish_reason": "stop"}],
                 "usage": REASONED}  # fmt: skip
        gpt.answers.append(lambda body: JSONResponse(whole))
        gpt.answers.append(openai_stream([{"content": "Hi."}], "stop", REASONED))
        # When Gemini's generateContent asks it: the whole answer splits thoughts from the answer's tokens
        meta = client.models.generate_content(model="echo", contents="hi").usage_metadata
        assert (meta.candidates_token_count, meta.thoughts_token_count) == (10, 40)
        # Then so does the stream Gemini CLI reads
        chunks = list(client.models.generate_content_stream(model="echo", contents="hi"))
        meta = chunks[-1].usage_metadata
        assert (meta.candidates_token_count, meta.thoughts_token_count) == (10, 40)


# ---------------------------------------------------------------- Responses API (Codex) -> OpenAI, cut short


def test_responses_stream_cut_by_openai_ends_with_an_error_numbered_after_the_events_before_it(
    gateway_url, upstream, make_tenant
):
    # Given OpenAI's Responses stream, cut after some text (no terminal event)
    tenant = make_tenant("10")
    opening = {"id": "resp_up", "object": "response", "created_at": 1, "status": "in_progress", "model": "echo",
               "output": [], "usage": None}  # fmt: skip
    item = {"type": "message", "id": "msg_up", "status": "in_progress", "role": "assistant", "content": []}
    part = {"type": "output_text", "text": "", "annotations": []}
    events = [
        {"type": "response.created", "response": opening},
        {"type": "response.in_progress", "response": opening},
        {"type": "response.output_item.added", "output_index": 0, "item": item},
        {
            "type": "response.content_part.added",
            "item_id": "msg_up",
            "output_index": 0,
            "content_index": 0,
            "part": part,
        },
        {
            "type": "response.output_text.delta",
            "item_id": "msg_up",
            "output_index": 0,
            "content_index": 0,
            "delta": "Hel",
        },
    ]
    events = [(event["type"], {**event, "sequence_number": n}) for n, event in enumerate(events)]
    with scripted(upstream, "/v1/responses") as gpt:
        gpt.answers.append(sse_stream(events))
        body = {"model": "test/responses", "input": "hi", "stream": True, "store": False}
        with httpx.stream("POST", f"{gateway_url}/v1/responses", json=body, timeout=20,
                          headers={"Authorization": f"Bearer {tenant.key}"}) as answer:  # fmt: skip
            received = [json.loads(line[5:]) for line in answer.iter_lines() if line.startswith("data:")]
    # Then the client reads the events, then an error event numbered after them (sequence_number is monotonic)
    assert [event["type"] for event in received][-1] == "error"
    numbers = [event["sequence_number"] for event in received]
    assert numbers == sorted(numbers), numbers
    assert len(set(numbers)) == len(numbers), numbers


# ---------------------------------------------------------------- Claude Code's effort levels on other vendors' models


@pytest.mark.parametrize("effort", ["xhigh", "max"])
@pytest.mark.parametrize("model", ["claude-sonnet-5"])  # served by Gemini (Bedrock's budgets: its unit tests)
def test_claude_codes_effort_levels_reach_models_of_other_vendors(
    gateway_url, upstream, fake_servers, make_tenant, model, effort
):
    # Given Claude Code at one of the effort levels it offers (`/effort`), with adaptive thinking, as it
    # sends them to a Claude model, and an upstream that answers
    tenant = make_tenant("10")
    if model == "test/bedrock":
        fake_servers["bedrock"].answer_json(
            {"output": {"message": {"role": "assistant", "content": [{"text": "Hi."}]}}, "stopReason": "end_turn",
             "usage": {"inputTokens": 3, "outputTokens": 2}, "metrics": {"latencyMs": 5}},
            request_id="req-e")  # fmt: skip
    answer = httpx.post(
        f"{gateway_url}/v1/messages",
        headers={"x-api-key": tenant.key, "anthropic-version": "2023-06-01"},
        json={"model": model, "max_tokens": 1000, "thinking": {"type": "adaptive"}, "output_config": {"effort": effort},
              "messages": [{"role": "user", "content": "hi"}]},
        timeout=20,
    )  # fmt: skip
    # Then the request is answered (the effort translated to the model's own thinking), not refused
    assert answer.status_code == 200, answer.text
