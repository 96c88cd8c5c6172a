"""Anthropic as an upstream: OpenAI-format requests out, Anthropic answers, streams and errors back,
checked against the golden payloads in tests/golden/anthropic (input + expected)."""

from __future__ import annotations

import copy
import json
from functools import cache
from pathlib import Path
from typing import Any

import pytest

from gateway.canonical import Usage, chunk_info
from gateway.errors import InvalidRequest
from gateway.providers.anthropic.request import ANTHROPIC_VERSION, chat_request, headers
from gateway.providers.anthropic.response import StreamTranslator, chat_response, error_from, usage_dict
from gateway.providers.errors import UpstreamFailure

GOLDEN = Path(__file__).resolve().parents[3] / "golden" / "anthropic"
MODEL = "claude-sonnet-4-5-20250929"
WEATHER_TOOL = {
    "type": "function",
    "function": {"name": "get_weather", "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}},
}


@cache
def golden(name: str) -> Any:
    return json.loads((GOLDEN / name).read_text(encoding="utf-8"))


def ids(cases: list[dict[str, Any]]) -> list[str]:
    return [case["name"] for case in cases]


def body(**fields: Any) -> dict[str, Any]:
    return {"model": "anthropic/claude-sonnet-4.5", "messages": [{"role": "user", "content": "Hi"}], **fields}


# ---------------------------------------------------------------- requests


REQUESTS = golden("chat_request.json")["cases"]


@pytest.mark.parametrize("case", REQUESTS, ids=ids(REQUESTS))
def test_an_openai_request_becomes_the_golden_anthropic_body(case: dict[str, Any]) -> None:
    # Given an OpenAI-format client body, When the Anthropic upstream body is built
    upstream = chat_request(case["client"], case["upstream_model"])
    # Then it is the golden Messages API body
    assert upstream == case["upstream"]


@pytest.mark.parametrize("case", REQUESTS, ids=ids(REQUESTS))
def test_building_the_upstream_body_leaves_the_clients_body_untouched(case: dict[str, Any]) -> None:
    client = copy.deepcopy(case["client"])
    chat_request(client, case["upstream_model"])
    assert client == case["client"]


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("n", 2),
        ("logprobs", True),
        ("top_logprobs", 3),
        ("presence_penalty", 0.5),
        ("frequency_penalty", -1),
        ("logit_bias", {"50256": -100}),
        ("seed", 7),
        ("audio", {"voice": "alloy", "format": "wav"}),
        ("modalities", ["text", "audio"]),
        ("web_search_options", {}),
        ("verbosity", "low"),
        ("functions", [{"name": "f", "parameters": {"type": "object"}}]),
        ("function_call", "auto"),
        ("response_format", {"type": "json_object"}),
        ("response_format", {"type": "json_schema", "json_schema": {"name": "x", "schema": {"type": "object"}}}),
    ],
)
def test_a_parameter_anthropic_cannot_honour_is_refused_by_name(name: str, value: Any) -> None:
    # Given a request using an OpenAI parameter that would change the answer and that Anthropic lacks
    # When it is translated, Then the client hears which parameter, before any credit is touched
    with pytest.raises(InvalidRequest, match="not supported by Anthropic") as raised:
        chat_request(body(**{name: value}), MODEL)
    assert raised.value.param == name
    assert raised.value.status == 400


@pytest.mark.parametrize(
    "fields",
    [
        {"n": 1},
        {"logprobs": False, "top_logprobs": 0},
        {"presence_penalty": 0, "frequency_penalty": 0.0, "logit_bias": {}},
        {"seed": None, "modalities": ["text"]},
        {"response_format": {"type": "text"}},
        {"stream_options": {"include_usage": True}, "store": True, "service_tier": "auto", "metadata": {"a": "b"}},
        {"prompt_cache_key": "k", "prediction": {"type": "content", "content": "x"}, "provider": {"order": ["x"]}},
    ],
)
def test_parameters_that_change_nothing_are_accepted_and_left_out(fields: dict[str, Any]) -> None:
    upstream = chat_request(body(**fields), MODEL)
    assert upstream == {"model": MODEL, "messages": [{"role": "user", "content": "Hi"}], "max_tokens": 4096}


def test_the_default_max_tokens_can_be_chosen_by_the_caller() -> None:
    assert chat_request(body(), MODEL, default_max_tokens=1000)["max_tokens"] == 1000
    assert chat_request(body(max_tokens=77), MODEL, default_max_tokens=1000)["max_tokens"] == 77


def test_max_completion_tokens_wins_over_max_tokens() -> None:
    assert chat_request(body(max_tokens=10, max_completion_tokens=20), MODEL)["max_tokens"] == 20


def test_a_temperature_above_anthropics_range_is_refused() -> None:
    with pytest.raises(InvalidRequest) as raised:
        chat_request(body(temperature=1.5), MODEL)
    assert raised.value.param == "temperature"


def test_top_p_is_kept_unless_it_is_the_no_op_value_1() -> None:
    assert chat_request(body(temperature=0.5, top_p=1), MODEL).get("top_p") is None
    assert chat_request(body(top_p=0.8), MODEL)["top_p"] == 0.8


# ---------------------------------------------------------------- thinking


@pytest.mark.parametrize(
    ("fields", "budget", "max_tokens"),
    [
        ({"reasoning_effort": "low"}, 2048, 4096 + 2048),
        ({"reasoning_effort": "medium", "max_tokens": 5000}, 4999, 5000),
        ({"reasoning": {"effort": "minimal"}}, 1024, 4096 + 1024),
        ({"reasoning": {"enabled": True}}, 8192, 4096 + 8192),
        ({"reasoning": {"max_tokens": 3000, "effort": "high"}, "max_tokens": 9000}, 3000, 9000),
    ],
)
def test_reasoning_becomes_a_thinking_budget_within_max_tokens(
    fields: dict[str, Any], budget: int, max_tokens: int
) -> None:
    upstream = chat_request(body(**fields), MODEL)
    assert upstream["thinking"] == {"type": "enabled", "budget_tokens": budget}
    assert upstream["max_tokens"] == max_tokens


@pytest.mark.parametrize(
    "fields", [{"reasoning_effort": "none"}, {"reasoning": {"enabled": False, "effort": "high"}}, {"reasoning": {}}]
)
def test_reasoning_turned_off_asks_for_no_thinking(fields: dict[str, Any]) -> None:
    assert "thinking" not in chat_request(body(**fields), MODEL)


@pytest.mark.parametrize(
    ("fields", "param"),
    [
        ({"reasoning_effort": "high", "max_tokens": 1000}, "reasoning_effort"),
        ({"reasoning": {"max_tokens": 500}}, "reasoning"),
        ({"reasoning": {"max_tokens": 4000}, "max_completion_tokens": 4000}, "reasoning"),
        ({"reasoning": {"max_tokens": "lots"}}, "reasoning"),
        ({"reasoning_effort": "extreme"}, "reasoning_effort"),
    ],
)
def test_a_thinking_budget_anthropic_would_refuse_is_refused_here(fields: dict[str, Any], param: str) -> None:
    with pytest.raises(InvalidRequest) as raised:
        chat_request(body(**fields), MODEL)
    assert raised.value.param == param


# ---------------------------------------------------------------- messages and tools


def test_consecutive_turns_of_one_role_are_merged_as_anthropic_requires() -> None:
    messages = [
        {"role": "user", "content": "First"},
        {"role": "user", "content": [{"type": "text", "text": "Second"}]},
        {"role": "assistant", "content": "A"},
        {"role": "assistant", "content": ""},
        {"role": "assistant", "content": "B"},
    ]
    upstream = chat_request(body(messages=messages), MODEL)
    assert upstream["messages"] == [
        {"role": "user", "content": [{"type": "text", "text": "First"}, {"type": "text", "text": "Second"}]},
        {"role": "assistant", "content": [{"type": "text", "text": "A"}, {"type": "text", "text": "B"}]},
    ]


def test_tool_choice_none_is_kept_and_parallel_calls_are_allowed_by_default() -> None:
    upstream = chat_request(body(tools=[WEATHER_TOOL], tool_choice="none", parallel_tool_calls=False), MODEL)
    assert upstream["tool_choice"] == {"type": "none"}
    assert "tool_choice" not in chat_request(body(tools=[WEATHER_TOOL]), MODEL)
    only_one = chat_request(body(tools=[WEATHER_TOOL], parallel_tool_calls=False), MODEL)
    assert only_one["tool_choice"] == {"type": "auto", "disable_parallel_tool_use": True}


@pytest.mark.parametrize(
    ("fields", "param"),
    [
        ({"tools": [{"type": "custom", "custom": {"name": "x"}}]}, "tools[0]"),
        ({"tools": [WEATHER_TOOL], "tool_choice": {"type": "allowed_tools", "allowed_tools": {}}}, "tool_choice"),
        ({"messages": [{"role": "function", "name": "f", "content": "x"}]}, "messages[0]"),
        (
            {"messages": [{"role": "user", "content": [{"type": "input_audio", "input_audio": {}}]}]},
            "messages[0].content[0]",
        ),
        (
            {"messages": [{"role": "system", "content": [{"type": "image_url", "image_url": {"url": "https://a/b"}}]}]},
            "messages[0].content[0]",
        ),
        (
            {"messages": [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": "ftp://a/b"}}]}]},
            "messages[0].content[0]",
        ),
        (
            {"messages": [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": "data:,abc"}}]}]},
            "messages[0].content[0]",
        ),
        (
            {
                "messages": [
                    {"role": "user", "content": [{"type": "file", "file": {"file_data": "data:text/csv;base64,YQ=="}}]}
                ]
            },
            "messages[0].content[0]",
        ),
        (
            {"messages": [{"role": "user", "content": [{"type": "file", "file": {"file_id": "file-abc"}}]}]},
            "messages[0].content[0]",
        ),
        (
            {
                "messages": [
                    {
                        "role": "assistant",
                        "tool_calls": [{"id": "c1", "type": "function", "function": {"name": "f", "arguments": "{"}}],
                    }
                ]
            },
            "messages[0].tool_calls[0].function.arguments",
        ),
        (
            {
                "messages": [
                    {
                        "role": "assistant",
                        "tool_calls": [{"id": "c1", "type": "function", "function": {"name": "f", "arguments": "[1]"}}],
                    }
                ]
            },
            "messages[0].tool_calls[0].function.arguments",
        ),
        ({"messages": [{"role": "tool", "content": "x"}]}, "messages[0].tool_call_id"),
        ({"messages": [{"role": "assistant", "thinking_blocks": [{"type": "thinking", "thinking": "x"}]}]}, None),
    ],
)
def test_content_anthropic_cannot_take_is_refused_naming_where_it_is(fields: dict[str, Any], param: str | None) -> None:
    with pytest.raises(InvalidRequest) as raised:
        chat_request(body(**fields), MODEL)
    if param is not None:
        assert raised.value.param == param


def test_empty_tool_call_arguments_mean_an_empty_input() -> None:
    call = {"id": "c1", "type": "function", "function": {"name": "now", "arguments": ""}}
    upstream = chat_request(body(messages=[{"role": "assistant", "content": None, "tool_calls": [call]}]), MODEL)
    assert upstream["messages"][0]["content"] == [{"type": "tool_use", "id": "c1", "name": "now", "input": {}}]


def test_the_user_field_or_safety_identifier_becomes_metadata_user_id() -> None:
    assert chat_request(body(safety_identifier="hash-1"), MODEL)["metadata"] == {"user_id": "hash-1"}


# ---------------------------------------------------------------- responses


RESPONSES = golden("message_response.json")


@pytest.mark.parametrize("case", RESPONSES["cases"], ids=ids(RESPONSES["cases"]))
def test_an_anthropic_message_becomes_the_golden_chat_completion(case: dict[str, Any]) -> None:
    completion = chat_response(case["response"], RESPONSES["model"], created=RESPONSES["created"])
    assert completion == case["expected"]


@pytest.mark.parametrize("case", RESPONSES["cases"], ids=ids(RESPONSES["cases"]))
def test_the_openai_sdk_accepts_every_translated_completion(case: dict[str, Any]) -> None:
    from openai.types.chat import ChatCompletion

    completion = ChatCompletion.model_validate(case["expected"])
    assert completion.choices[0].finish_reason == case["expected"]["choices"][0]["finish_reason"]


def test_cache_reads_are_cached_prompt_tokens_and_cache_writes_are_billed_prompt_tokens() -> None:
    # Given Anthropic's usage split into fresh input, cache writes and cache reads
    completion = chat_response(RESPONSES["cases"][0]["response"], "m")
    usage = completion["usage"]
    # Then OpenAI's prompt_tokens holds all three, cached_tokens the reads
    assert usage["prompt_tokens"] == 21 + 188 + 1600
    assert usage["prompt_tokens_details"] == {"cached_tokens": 1600, "cache_write_tokens": 188}
    assert usage["total_tokens"] == usage["prompt_tokens"] + 17


def test_a_compaction_step_is_counted_with_the_answer() -> None:
    # Given a usage whose compaction step (billed by Anthropic, but not in the top-level counts) wrote
    # to the cache with the 1-hour TTL
    compaction = {"type": "compaction", "input_tokens": 2300, "output_tokens": 300,
                  "cache_creation_input_tokens": 100, "cache_read_input_tokens": 0,
                  "cache_creation": {"ephemeral_1h_input_tokens": 100}}  # fmt: skip
    message = {"type": "message", "input_tokens": 500, "output_tokens": 50}
    usage = {"input_tokens": 500, "output_tokens": 50, "iterations": [compaction, message]}
    # Then both steps are charged, the message once
    counted = usage_dict(usage)
    assert counted is not None
    assert (counted["prompt_tokens"], counted["completion_tokens"]) == (500 + 2300 + 100, 50 + 300)
    assert counted["prompt_tokens_details"] == {
        "cached_tokens": 0,
        "cache_write_tokens": 100,
        "cache_write_1h_tokens": 100,
    }
    # And a step whose counts are not counts is no report, as a top-level one is not
    assert usage_dict({**usage, "iterations": [{**compaction, "output_tokens": -1}]}) is None


def test_a_stream_charges_the_compaction_its_final_usage_reports() -> None:
    translator = StreamTranslator("m")
    translator.feed("message_start", {"type": "message_start", "message": {"usage": {"input_tokens": 500}}})
    step = {"type": "compaction", "input_tokens": 2300, "output_tokens": 300}
    usage = {"output_tokens": 50, "iterations": [step, {"type": "message", "input_tokens": 500, "output_tokens": 50}]}
    translator.feed("message_delta", {"type": "message_delta", "delta": {"stop_reason": "end_turn"}, "usage": usage})
    assert translator.usage == Usage(prompt_tokens=2800, completion_tokens=350)


# ---------------------------------------------------------------- streams


STREAM = golden("message_stream.json")


def translate(events: list[dict[str, Any]]) -> tuple[StreamTranslator, list[list[dict[str, Any]]]]:
    translator = StreamTranslator(STREAM["model"], created=STREAM["created"])
    return translator, [translator.feed(event["event"], event["data"]) for event in events]


def test_each_stream_event_becomes_the_golden_chunks() -> None:
    _, outputs = translate(STREAM["events"])
    for event, chunks in zip(STREAM["events"], outputs, strict=True):
        assert chunks == event["expected"], event["event"]


def test_the_stream_reports_anthropics_usage_with_cache_reads_as_cached_tokens() -> None:
    translator, _ = translate(STREAM["events"])
    assert translator.usage == Usage(**STREAM["expected_usage"])


def test_the_usage_is_unknown_before_the_message_starts() -> None:
    assert StreamTranslator("m").usage is None


def test_the_chunks_add_up_to_the_streamed_message() -> None:
    # Given the golden stream, When its chunks are accumulated as an OpenAI client does
    _, outputs = translate(STREAM["events"])
    chunks = [chunk for chunks in outputs for chunk in chunks]
    deltas = [chunk["choices"][0]["delta"] for chunk in chunks if chunk["choices"]]
    # Then the role comes first, then text, reasoning and one tool call whose arguments parse
    assert deltas[0] == {"role": "assistant", "content": ""}
    assert "".join(d.get("content", "") for d in deltas) == "Okay, let's check the weather in Paris."
    assert "".join(d.get("reasoning_content", "") for d in deltas) == "The user wants Paris weather; call get_weather."
    calls = [call for d in deltas for call in d.get("tool_calls", [])]
    assert calls[0]["id"] == "toolu_01T1x1fJ34qAmk2tNTrN7Up6"
    assert {call["index"] for call in calls} == {0}
    arguments = "".join(call["function"]["arguments"] for call in calls)
    assert json.loads(arguments) == {"location": "Paris", "unit": "celsius"}
    # And the usage-only chunk is last, as chunk_info expects of an include_usage stream
    assert [chunk_info(json.dumps(chunk)).usage_only for chunk in chunks] == [False] * (len(chunks) - 1) + [True]


def test_the_openai_sdk_accepts_every_translated_chunk() -> None:
    from openai.types.chat import ChatCompletionChunk

    _, outputs = translate(STREAM["events"])
    for chunk in [chunk for chunks in outputs for chunk in chunks]:
        ChatCompletionChunk.model_validate(chunk)


def test_parallel_tool_calls_get_consecutive_indexes() -> None:
    translator = StreamTranslator("m")
    translator.feed("message_start", {"type": "message_start", "message": {"id": "msg_1", "usage": {}}})
    first = {"type": "tool_use", "id": "toolu_a", "name": "f", "input": {}}
    second = {"type": "tool_use", "id": "toolu_b", "name": "f", "input": {}}
    a = translator.feed("content_block_start", {"type": "content_block_start", "index": 1, "content_block": first})
    b = translator.feed("content_block_start", {"type": "content_block_start", "index": 2, "content_block": second})
    delta = {"type": "input_json_delta", "partial_json": "{}"}
    args = translator.feed("content_block_delta", {"type": "content_block_delta", "index": 2, "delta": delta})
    assert a[0]["choices"][0]["delta"]["tool_calls"][0]["index"] == 0
    assert b[0]["choices"][0]["delta"]["tool_calls"][0]["index"] == 1
    assert args[0]["choices"][0]["delta"]["tool_calls"][0] == {"index": 1, "function": {"arguments": "{}"}}


def test_an_error_event_mid_stream_fails_the_upstream_with_its_message() -> None:
    # Given a stream that breaks with Anthropic's overloaded error event
    translator, _ = translate(STREAM["events"][:3])
    error = {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}
    # When it is fed, Then the upstream failure carries the message and the status that error type stands for
    with pytest.raises(UpstreamFailure, match="Overloaded") as raised:
        translator.feed("error", error)
    assert raised.value.status == 529


@pytest.mark.parametrize("event", ["ping", "content_block_stop", "some_future_event"])
def test_events_without_content_produce_no_chunks(event: str) -> None:
    assert StreamTranslator("m").feed(event, {"type": event, "index": 0}) == []


def test_a_redacted_thinking_block_is_relayed_for_the_next_turn() -> None:
    block = {"type": "redacted_thinking", "data": "EmwKAhgB"}
    chunks = StreamTranslator("m").feed(
        "content_block_start", {"type": "content_block_start", "index": 0, "content_block": block}
    )
    assert chunks[0]["choices"][0]["delta"] == {"thinking_blocks": [block]}


# ---------------------------------------------------------------- errors and headers


ERRORS = golden("errors.json")["upstream"]


@pytest.mark.parametrize("case", ERRORS, ids=ids(ERRORS))
def test_error_bodies_give_message_and_error_type(case: dict[str, Any]) -> None:
    assert list(error_from(case["status"], case["body"].encode())) == case["expected"]


def test_a_body_that_is_not_utf8_is_tolerated() -> None:
    assert error_from(500, b"\xff\xfe") == ("upstream answered HTTP 500", None, None)


def test_requests_carry_the_key_and_the_api_version() -> None:
    assert headers("sk-ant-123") == {
        "x-api-key": "sk-ant-123",
        "anthropic-version": ANTHROPIC_VERSION,
        "content-type": "application/json",
    }
    assert ANTHROPIC_VERSION == "2023-06-01"
