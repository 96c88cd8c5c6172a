"""Anthropic Messages as an inbound format (/v1/messages): request schema, translation to and from the
canonical OpenAI body, the SSE encoder and error envelopes; golden files in tests/golden/anthropic.
Where the official `anthropic` SDK is installed, it parses what we emit, end to end."""

from __future__ import annotations

import copy
import json
from functools import cache
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from gateway.canonical import Usage
from gateway.dialects.anthropic import error_body, sse
from gateway.errors import InvalidRequest, ProviderError
from gateway.formats.anthropic import MessagesRequest, to_openai, translated
from gateway.formats.anthropic_answers import StreamEncoder, from_openai_response, named
from gateway.providers.anthropic.request import chat_request

GOLDEN = Path(__file__).resolve().parents[2] / "golden" / "anthropic"
USER = [{"role": "user", "content": "Hello, Claude"}]
SDK_MODEL = "anthropic/claude-sonnet-4.5"  # a gateway model id (the SDK warns on ids it knows are deprecated)


@cache
def golden(name: str) -> Any:
    return json.loads((GOLDEN / name).read_text(encoding="utf-8"))


def ids(cases: list[dict[str, Any]]) -> list[str]:
    return [case["name"] for case in cases]


def body(**fields: Any) -> dict[str, Any]:
    return {"model": "claude-sonnet-4-5", "max_tokens": 1024, "messages": USER, **fields}


# ---------------------------------------------------------------- request schema


def test_a_full_anthropic_body_passes_through_unchanged() -> None:
    # Given a body with fields the schema models and some it does not
    request = golden("messages_request.json")["cases"][0]["anthropic"]
    # When it is validated, Then the wire body is what the client sent
    parsed = MessagesRequest.model_validate(request)
    assert parsed.wire_body() == request
    assert parsed.requested_output_tokens() == 1024


@pytest.mark.parametrize(
    "fields",
    [
        {"max_tokens": None},
        {"max_tokens": 0},
        {"messages": []},
        {"messages": [{"role": "tool", "content": "x"}]},
        {"messages": [{"role": "user"}]},
        {"model": ""},
        {"temperature": 1.5},
        {"messages": [{"role": "user", "content": "\ud800"}]},
    ],
)
def test_a_body_anthropic_would_refuse_is_refused_before_credits(fields: dict[str, Any]) -> None:
    request = {key: value for key, value in body(**fields).items() if value is not None}
    with pytest.raises(ValidationError):
        MessagesRequest.model_validate(request)


def test_a_system_turn_mid_conversation_is_a_system_message_in_its_place() -> None:
    # Given Claude Code's mid-conversation system turn (with the request's own output_config)
    environment = {"type": "text", "text": "# Environment", "cache_control": {"type": "ephemeral"}}
    turns: list[dict[str, Any]] = [
        {"role": "user", "content": "Say hi"},
        {"role": "system", "content": [environment], "output_config": {"effort": "medium"}},
    ]
    request = MessagesRequest.model_validate(body(messages=turns, output_config={"effort": "medium"}))
    # When it is translated, Then the system turn stays where it was, its cache marker with it
    canonical, native_only, _ = translated(request.wire_body())
    assert [message["role"] for message in canonical["messages"]] == ["user", "system"]
    assert canonical["messages"][1]["content"] == [
        {"type": "text", "text": "# Environment", "cache_control": {"type": "ephemeral"}}
    ]
    assert native_only == ()
    # But a turn asking for another effort than the request's is Anthropic's own
    turns[1]["output_config"] = {"effort": "high"}
    _, native_only, _ = translated(body(messages=turns, output_config={"effort": "medium"}))
    assert [part.param for part in native_only] == ["messages[1].output_config"]


def test_model_and_max_tokens_are_required() -> None:
    with pytest.raises(ValidationError):
        MessagesRequest.model_validate({"messages": USER})


# ---------------------------------------------------------------- request -> OpenAI


REQUESTS = golden("messages_request.json")["cases"]


@pytest.mark.parametrize("case", REQUESTS, ids=ids(REQUESTS))
def test_an_anthropic_request_becomes_the_golden_openai_body(case: dict[str, Any]) -> None:
    assert to_openai(case["anthropic"]) == case["openai"]


@pytest.mark.parametrize("case", REQUESTS, ids=ids(REQUESTS))
def test_translating_leaves_the_clients_body_untouched(case: dict[str, Any]) -> None:
    client = copy.deepcopy(case["anthropic"])
    to_openai(client)
    assert client == case["anthropic"]


def test_top_k_is_refused_unless_the_route_takes_it() -> None:
    with pytest.raises(InvalidRequest) as raised:
        to_openai(body(top_k=40))
    assert raised.value.param == "top_k"
    assert to_openai(body(top_k=40), allow_top_k=True)["top_k"] == 40


@pytest.mark.parametrize(
    ("fields", "param"),
    [
        ({"mcp_servers": [{"type": "url", "url": "https://mcp.example", "name": "x"}]}, "mcp_servers"),
        ({"container": "container_011"}, "container"),
        ({"context_management": {"edits": [{"type": "clear_tool_uses_20250919"}]}}, "context_management"),
        ({"tools": [{"type": "web_search_20250305", "name": "web_search"}]}, "tools[0]"),
        ({"tool_choice": {"type": "sometimes"}}, "tool_choice"),
        ({"thinking": {"type": "maybe"}}, "thinking"),
        ({"system": [{"type": "image", "source": {"type": "url", "url": "https://a/b.png"}}]}, "system"),
        (
            {
                "messages": [
                    {"role": "user", "content": [{"type": "image", "source": {"type": "file", "file_id": "f"}}]}
                ]
            },
            "messages[0].content[0]",
        ),
        (
            {"messages": [{"role": "user", "content": [{"type": "search_result", "source": "x", "title": "t"}]}]},
            "messages[0].content[0]",
        ),
        (
            {"messages": [{"role": "assistant", "content": [{"type": "server_tool_use", "id": "s", "name": "x"}]}]},
            "messages[0].content[0]",
        ),
    ],
)
def test_anthropic_features_the_gateway_cannot_carry_are_refused_by_name(fields: dict[str, Any], param: str) -> None:
    with pytest.raises(InvalidRequest) as raised:
        to_openai(body(**fields))
    assert raised.value.param == param


def test_a_tool_result_marked_as_error_keeps_its_text() -> None:
    result = {"type": "tool_result", "tool_use_id": "toolu_1", "content": "Error: no such file", "is_error": True}
    messages = to_openai(body(messages=[{"role": "user", "content": [result]}]))["messages"]
    assert messages == [{"role": "tool", "tool_call_id": "toolu_1", "content": "Error: no such file"}]


# ---------------------------------------------------------------- round trips


def normalised(request: dict[str, Any]) -> dict[str, Any]:
    """A Messages body with equivalent spellings made equal: strings as text blocks, adjacent texts joined."""

    def blocks(content: Any) -> Any:
        if content is None:
            return None
        items = [{"type": "text", "text": content}] if isinstance(content, str) else content
        merged: list[dict[str, Any]] = []
        for item in items:
            item = {key: value for key, value in item.items() if key != "is_error"}
            if item["type"] == "tool_result":
                item = {**item, "content": blocks(item.get("content"))}
            if merged and item["type"] == "text" and merged[-1].keys() == item.keys() == {"type", "text"}:
                merged[-1] = {"type": "text", "text": merged[-1]["text"] + item["text"]}
            else:
                merged.append(item)
        return merged

    kept = ("max_tokens", "temperature", "top_p", "stop_sequences", "stream", "metadata", "tool_choice", "thinking")
    result = {key: request[key] for key in kept if key in request}
    result["system"] = blocks(request.get("system"))
    result["messages"] = [{"role": m["role"], "content": blocks(m["content"])} for m in request["messages"]]
    result["tools"] = [{key: t[key] for key in sorted(t) if key != "type"} for t in request.get("tools") or []]
    return result


# Not round trips: plain-text documents arrive back as text, images inside tool results move beside them,
# and structured output (output_config.format) has no Anthropic upstream mapping (see the next test).
ROUND_TRIPS = [case for case in REQUESTS if "images" not in case["name"] and "output_config" not in case["anthropic"]]
ROUND_TRIPS.append(
    {
        "name": "images_and_a_pdf",
        "anthropic": body(
            messages=[
                {
                    "role": "user",
                    "content": [
                        {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "iVBORw=="}},
                        {"type": "image", "source": {"type": "url", "url": "https://example.com/cat.jpg"}},
                        {
                            "type": "document",
                            "title": "report.pdf",
                            "source": {"type": "base64", "media_type": "application/pdf", "data": "JVBERi0x"},
                        },
                        {"type": "text", "text": "Describe these."},
                    ],
                }
            ]
        ),
    }
)


@pytest.mark.parametrize("case", ROUND_TRIPS, ids=ids(ROUND_TRIPS))
def test_an_anthropic_request_survives_the_trip_through_the_canonical_body(case: dict[str, Any]) -> None:
    # Given an Anthropic request, When it goes to the canonical body and on to an Anthropic upstream
    original = case["anthropic"]
    upstream = chat_request(to_openai(original), original["model"])
    # Then text, system, tools, tool calls and results, images and signed thinking are unchanged
    assert normalised(upstream) == normalised(original)


def test_structured_output_bound_for_an_anthropic_upstream_is_refused_not_dropped() -> None:
    case = next(case for case in REQUESTS if "output_config" in case["anthropic"])
    with pytest.raises(InvalidRequest) as raised:
        chat_request(to_openai(case["anthropic"]), "claude-opus-4-5")
    assert raised.value.param == "response_format"


# ---------------------------------------------------------------- OpenAI answer -> Anthropic


COMPLETIONS = golden("chat_completion_response.json")


@pytest.mark.parametrize("case", COMPLETIONS["cases"], ids=ids(COMPLETIONS["cases"]))
def test_an_openai_completion_becomes_the_golden_anthropic_message(case: dict[str, Any]) -> None:
    assert from_openai_response(case["response"], COMPLETIONS["model"]) == case["expected"]


@pytest.mark.parametrize("arguments", ["{", "[1, 2]", '"text"'])
def test_tool_arguments_that_are_not_a_json_object_are_a_provider_error(arguments: str) -> None:
    call = {"id": "call_1", "type": "function", "function": {"name": "f", "arguments": arguments}}
    completion = {"choices": [{"message": {"role": "assistant", "tool_calls": [call]}, "finish_reason": "tool_calls"}]}
    with pytest.raises(ProviderError):
        from_openai_response(completion, "m")


def test_tool_arguments_cut_by_the_output_cap_are_an_empty_input() -> None:
    call = {"id": "call_1", "type": "function", "function": {"name": "f", "arguments": '{"city": "Par'}}
    completion = {"choices": [{"message": {"role": "assistant", "tool_calls": [call]}, "finish_reason": "length"}]}
    message = from_openai_response(completion, "m")
    assert message["content"] == [{"type": "tool_use", "id": "call_1", "name": "f", "input": {}}]
    assert message["stop_reason"] == "max_tokens"


def test_an_empty_completion_is_an_empty_message() -> None:
    message = from_openai_response({"id": "x", "choices": []}, "m")
    assert message["content"] == []
    assert message["stop_reason"] == "end_turn"
    assert message["usage"] == {
        "input_tokens": 0,
        "output_tokens": 0,
        "cache_creation_input_tokens": 0,
        "cache_read_input_tokens": 0,
    }


# ---------------------------------------------------------------- stream encoder


ENCODE = golden("chat_stream_encode.json")


def encode(chunks: list[dict[str, Any]], usage: Usage | None = None, **options: Any) -> list[list[Any]]:
    encoder = StreamEncoder(ENCODE["model"], **options)
    events = [event for chunk in chunks for event in encoder.feed(chunk)]
    return [list(event) for event in events + encoder.finish(usage)]


def test_each_openai_chunk_becomes_the_golden_anthropic_events() -> None:
    encoder = StreamEncoder(ENCODE["model"])
    for case in ENCODE["chunks"]:
        assert [list(event) for event in encoder.feed(case["chunk"])] == case["expected"]
    assert [list(event) for event in encoder.finish()] == ENCODE["expected_finish"]


def test_block_indexes_count_up_and_every_started_block_stops() -> None:
    events = encode([case["chunk"] for case in ENCODE["chunks"]])
    names = [name for name, _ in events]
    assert names[0] == "message_start"
    assert names[-2:] == ["message_delta", "message_stop"]
    starts = [data["index"] for name, data in events if name == "content_block_start"]
    stops = [data["index"] for name, data in events if name == "content_block_stop"]
    assert starts == stops == list(range(4))


def test_usage_given_at_finish_wins_and_a_known_input_count_is_sent_at_start() -> None:
    events = encode(
        [{"id": "chatcmpl-1", "choices": [{"index": 0, "delta": {"content": "Hi"}}]}],
        Usage(prompt_tokens=30, completion_tokens=5, cached_tokens=10),
        input_tokens=30,
        message_id="msg_fixed",
    )
    assert events[0][1]["message"]["usage"] == {"input_tokens": 30, "output_tokens": 0}
    assert events[0][1]["message"]["id"] == "msg_fixed"
    assert events[-2][1] == {
        "type": "message_delta",
        "delta": {"stop_reason": "end_turn", "stop_sequence": None},
        "usage": {
            "input_tokens": 20,
            "cache_creation_input_tokens": 0,
            "cache_read_input_tokens": 10,
            "output_tokens": 5,
        },
    }


def test_a_streams_final_usage_counts_cache_writes_apart_as_a_whole_answers_does() -> None:
    """Claude on Bedrock through the canonical form: 3,512 prompt tokens, 3,000 read from a cache and
    500 written to it, leave 12 uncached input tokens (Claude Code prices each kind apart)."""
    usage = Usage(prompt_tokens=3512, completion_tokens=7, cached_tokens=3000, cache_write_tokens=500)
    events = encode([{"id": "chatcmpl-1", "choices": [{"index": 0, "delta": {"content": "Hi"}}]}], usage)
    assert events[-2][1]["usage"] == {
        "input_tokens": 12, "cache_creation_input_tokens": 500, "cache_read_input_tokens": 3000, "output_tokens": 7,
    }  # fmt: skip


def test_an_empty_stream_is_still_a_whole_message() -> None:
    assert [name for name, _ in encode([])] == ["message_start", "message_delta", "message_stop"]


def test_signed_and_redacted_thinking_from_an_anthropic_upstream_are_passed_on() -> None:
    # Given chunks as providers.anthropic.StreamTranslator makes them from Anthropic's thinking events
    def chunk(delta: dict[str, Any]) -> dict[str, Any]:
        return {"id": "msg_1", "choices": [{"index": 0, "delta": delta, "finish_reason": None}]}

    events = encode(
        [
            chunk({"reasoning_content": "Let me think."}),
            chunk({"thinking_blocks": [{"type": "thinking", "thinking": "", "signature": "EqQB"}]}),
            chunk({"thinking_blocks": [{"type": "redacted_thinking", "data": "EmwK"}]}),
            chunk({"content": "Done."}),
        ]
    )
    # Then the thinking block gets its signature, the redacted block is whole, and the text follows
    assert events[1:9] == [
        ["content_block_start", {"type": "content_block_start", "index": 0, "content_block": thinking_start()}],
        delta_event(0, {"type": "thinking_delta", "thinking": "Let me think."}),
        delta_event(0, {"type": "signature_delta", "signature": "EqQB"}),
        ["content_block_stop", {"type": "content_block_stop", "index": 0}],
        [
            "content_block_start",
            {"type": "content_block_start", "index": 1, "content_block": {"type": "redacted_thinking", "data": "EmwK"}},
        ],
        ["content_block_stop", {"type": "content_block_stop", "index": 1}],
        [
            "content_block_start",
            {"type": "content_block_start", "index": 2, "content_block": {"type": "text", "text": ""}},
        ],
        delta_event(2, {"type": "text_delta", "text": "Done."}),
    ]


def thinking_start() -> dict[str, Any]:
    return {"type": "thinking", "thinking": "", "signature": ""}


def delta_event(index: int, delta: dict[str, Any]) -> list[Any]:
    return ["content_block_delta", {"type": "content_block_delta", "index": index, "delta": delta}]


def test_a_tool_call_without_an_id_gets_one() -> None:
    call = {"index": 0, "function": {"name": "f", "arguments": "{}"}}
    events = encode([{"id": "chatcmpl-9", "choices": [{"index": 0, "delta": {"tool_calls": [call]}}]}])
    block = events[1][1]["content_block"]
    assert block["type"] == "tool_use"
    assert block["id"].startswith("toolu_")


def test_an_error_is_a_terminal_event_in_anthropics_envelope() -> None:
    assert StreamEncoder("m").error("Overloaded", "overloaded_error") == (
        "error",
        {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}},
    )


def test_sse_frames_an_event_as_anthropic_does() -> None:
    assert sse("message_stop", {"type": "message_stop"}) == b'event: message_stop\ndata: {"type":"message_stop"}\n\n'


# ---------------------------------------------------------------- error envelopes


ENVELOPES = golden("errors.json")["envelopes"]


@pytest.mark.parametrize("case", ENVELOPES, ids=[str(case["status"]) for case in ENVELOPES])
def test_each_status_answers_with_anthropics_error_type(case: dict[str, Any]) -> None:
    assert error_body(case["status"], case["message"]) == case["expected"]


def test_an_error_body_can_carry_the_request_id() -> None:
    assert error_body(404, "x", request_id="trace-1")["request_id"] == "trace-1"


@pytest.mark.parametrize(
    ("error", "message"),
    [
        (InvalidRequest("`stop` is not supported by Gemini models.", param="stop"), "`stop_sequences` is not"),
        (InvalidRequest("Only json_schema is supported.", param="response_format"), "(`output_config.format`)"),
        (InvalidRequest("`max_tokens` must be larger.", param="max_tokens"), "`max_tokens` must be larger."),
    ],
)
def test_a_refusal_names_the_field_as_the_anthropic_client_sent_it(error: InvalidRequest, message: str) -> None:
    assert message in named(error)


# ---------------------------------------------------------------- the official anthropic SDK


def http_library() -> Any:
    """The HTTP library the installed anthropic SDK is built on (httpx2 from anthropic 2.x, httpx before)."""
    pytest.importorskip("anthropic")
    try:
        import httpx2 as http
    except ImportError:
        import httpx as http
    return http


def sdk_client(status: int, content: bytes, content_type: str) -> Any:
    """An anthropic SDK client whose requests are all answered in-process with this response (no network)."""
    import anthropic

    http = http_library()

    def answer(request: Any) -> Any:
        return http.Response(status, content=content, headers={"content-type": content_type})

    client = http.Client(transport=http.MockTransport(answer))
    return anthropic.Anthropic(api_key="sk-test", base_url="http://gateway.test", max_retries=0, http_client=client)


@pytest.mark.parametrize("case", COMPLETIONS["cases"], ids=ids(COMPLETIONS["cases"]))
def test_the_sdk_validates_every_translated_message(case: dict[str, Any]) -> None:
    types = pytest.importorskip("anthropic.types")
    message = types.Message.model_validate(case["expected"])
    assert message.stop_reason == case["expected"]["stop_reason"]


def test_the_sdk_validates_every_encoded_event() -> None:
    anthropic = pytest.importorskip("anthropic")
    from pydantic import TypeAdapter

    adapter = TypeAdapter(anthropic.types.RawMessageStreamEvent)
    chunks = [case["chunk"] for case in ENCODE["chunks"]]
    for name, data in encode(chunks, Usage(10, 2, 0), input_tokens=10):
        event = adapter.validate_python(data)
        assert event.type == name


def test_the_sdk_streams_our_events_into_the_final_message() -> None:
    # Given the gateway's encoded stream served as text/event-stream
    chunks = [case["chunk"] for case in ENCODE["chunks"]]
    stream = b"".join(sse(name, data) for name, data in encode(chunks))
    client = sdk_client(200, stream, "text/event-stream")
    # When the anthropic SDK streams it
    with client.messages.stream(model=SDK_MODEL, max_tokens=100, messages=USER) as events:
        message = events.get_final_message()
    # Then it assembles thinking, text and both tool calls with parsed inputs, and the usage
    assert [block.type for block in message.content] == ["thinking", "text", "tool_use", "tool_use"]
    assert message.content[1].text == "Checking both."
    assert [block.input for block in message.content[2:]] == [{"location": "Paris"}, {"location": "Tokyo"}]
    assert message.stop_reason == "tool_use"
    assert (message.usage.input_tokens, message.usage.cache_read_input_tokens) == (86, 1920)
    assert message.usage.output_tokens == 51


def test_the_sdk_reads_a_translated_message() -> None:
    expected = COMPLETIONS["cases"][1]["expected"]
    client = sdk_client(200, json.dumps(expected).encode(), "application/json")
    message = client.messages.create(model=SDK_MODEL, max_tokens=100, messages=USER)
    assert [block.input for block in message.content] == [
        {"location": "Paris", "unit": "celsius"},
        {"location": "Tokyo"},
    ]


@pytest.mark.parametrize(
    ("status", "exception"),
    [
        (400, "BadRequestError"),
        (401, "AuthenticationError"),
        (402, "APIStatusError"),
        (403, "PermissionDeniedError"),
        (404, "NotFoundError"),
        (409, "ConflictError"),
        (413, "APIStatusError"),
        (429, "RateLimitError"),
        (500, "InternalServerError"),
        (502, "InternalServerError"),
        (503, "InternalServerError"),
        (504, "InternalServerError"),
        (529, "InternalServerError"),
    ],
)
def test_the_sdk_raises_its_own_error_for_each_error_body(status: int, exception: str) -> None:
    anthropic = pytest.importorskip("anthropic")
    envelope = error_body(status, "something went wrong", request_id="trace-1")
    client = sdk_client(status, json.dumps(envelope).encode(), "application/json")
    with pytest.raises(getattr(anthropic, exception)) as raised:
        client.messages.create(model=SDK_MODEL, max_tokens=100, messages=USER)
    assert raised.value.status_code == status
    assert raised.value.body == envelope


def test_the_sdk_raises_a_terminal_error_event_mid_stream() -> None:
    anthropic = pytest.importorskip("anthropic")
    encoder = StreamEncoder("claude-sonnet-4-5")
    events = encoder.feed({"id": "chatcmpl-1", "choices": [{"index": 0, "delta": {"content": "Hel"}}]})
    events.append(encoder.error("the provider stopped sending", "api_error"))
    client = sdk_client(200, b"".join(sse(name, data) for name, data in events), "text/event-stream")
    with pytest.raises(anthropic.APIStatusError, match="the provider stopped sending"):
        for _ in client.messages.create(model=SDK_MODEL, max_tokens=100, messages=USER, stream=True):
            pass


# request_too_large (413) and conflict_error (409) are on Anthropic's errors page but not (yet) in the SDK's
# ErrorObject union; the SDK still raises by status for them (above).
SDK_KNOWN = [
    case for case in ENVELOPES if case["expected"]["error"]["type"] not in ("request_too_large", "conflict_error")
]


@pytest.mark.parametrize("case", SDK_KNOWN, ids=[str(case["status"]) for case in SDK_KNOWN])
def test_the_sdk_error_model_accepts_each_error_type_it_knows(case: dict[str, Any]) -> None:
    shared = pytest.importorskip("anthropic.types.shared")
    assert shared.ErrorResponse.model_validate(case["expected"]).error.type == case["expected"]["error"]["type"]
