"""Gemini as an upstream, checked against the golden payloads in tests/golden/gemini (input + expected)."""

from __future__ import annotations

import copy
import json
from functools import cache
from pathlib import Path
from typing import Any

import pytest

from gateway.canonical import Usage, chunk_info
from gateway.dialects.gemini import SKIP_SIGNATURE
from gateway.errors import InvalidRequest
from gateway.providers.errors import UpstreamFailure
from gateway.providers.gemini.request import chat_request, endpoint, headers
from gateway.providers.gemini.response import StreamTranslator, chat_response, error_from, usage_from

GOLDEN = Path(__file__).resolve().parents[3] / "golden" / "gemini"


@cache
def golden(name: str) -> Any:
    return json.loads((GOLDEN / name).read_text(encoding="utf-8"))


def ids(cases: list[dict[str, Any]]) -> list[str]:
    return [case["name"] for case in cases]


def chat(**fields: Any) -> dict[str, Any]:
    return {"model": "gemini-2.5-flash", "messages": [{"role": "user", "content": "Hi"}], **fields}


# ---------------------------------------------------------------- request

REQUESTS = golden("chat_request.json")["cases"]


@pytest.mark.parametrize("case", REQUESTS, ids=ids(REQUESTS))
def test_an_openai_request_becomes_the_golden_gemini_body(case: dict[str, Any]) -> None:
    # Given an OpenAI chat request, When the upstream body is built, Then it is the golden one
    assert chat_request(case["openai"]) == case["gemini"]


@pytest.mark.parametrize("case", REQUESTS, ids=ids(REQUESTS))
def test_building_the_gemini_body_leaves_the_clients_body_untouched(case: dict[str, Any]) -> None:
    body = copy.deepcopy(case["openai"])
    chat_request(body)
    assert body == case["openai"]


def test_the_model_and_stream_flags_stay_out_of_the_body() -> None:
    body = chat_request(chat(stream=True, stream_options={"include_usage": True}))
    assert body == {"contents": [{"role": "user", "parts": [{"text": "Hi"}]}]}


@pytest.mark.parametrize(
    ("fields", "param"),
    [
        ({"logprobs": True}, "logprobs"),
        ({"top_logprobs": 3}, "top_logprobs"),
        ({"logit_bias": {"50256": -100}}, "logit_bias"),
        ({"audio": {"voice": "alloy", "format": "mp3"}}, "audio"),
        ({"modalities": ["text", "audio"]}, "modalities"),
        ({"prediction": {"type": "content", "content": "x"}}, "prediction"),
        ({"parallel_tool_calls": False}, "parallel_tool_calls"),
        ({"functions": [{"name": "f"}]}, "functions"),
        ({"web_search_options": {}}, "web_search_options"),
        ({"verbosity": "low"}, "verbosity"),
        ({"some_future_knob": 1}, "some_future_knob"),
        ({"response_format": {"type": "grammar"}}, "response_format"),
        ({"reasoning_effort": "maximal"}, "reasoning_effort"),
        ({"tools": [{"type": "custom", "custom": {"name": "x"}}]}, "tools[0]"),
        ({"tool_choice": "required"}, "tool_choice"),
    ],
)
def test_parameters_gemini_cannot_honour_are_refused_by_name(fields: dict[str, Any], param: str) -> None:
    # Given a request with a parameter that would change the answer and Gemini has no equivalent for
    with pytest.raises(InvalidRequest) as raised:
        chat_request(chat(**fields))
    # Then it is refused before anything is sent, naming the parameter
    assert raised.value.param == param
    assert raised.value.status == 400


@pytest.mark.parametrize(
    ("messages", "param"),
    [
        (
            [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": "file:///etc/passwd"}}]}],
            "messages[0].content[0].image_url",
        ),
        ([{"role": "user", "content": [{"type": "file", "file": {"file_id": "file-abc"}}]}], "messages[0].content[0]"),
        ([{"role": "tool", "tool_call_id": "call_nowhere", "content": "42"}], "messages[0].tool_call_id"),
        ([{"role": "function", "name": "f", "content": "42"}], "messages[0].role"),
        (
            [{"role": "system", "content": [{"type": "image_url", "image_url": {"url": "https://x/y.png"}}]}],
            "messages[0].content",
        ),
        (
            [
                {
                    "role": "assistant",
                    "tool_calls": [{"id": "c", "type": "function", "function": {"name": "f", "arguments": "{oops"}}],
                }
            ],
            "messages[0].tool_calls[0].function.arguments",
        ),
        (
            [
                {
                    "role": "assistant",
                    "tool_calls": [{"id": "c", "type": "function", "function": {"name": "f", "arguments": "[1]"}}],
                }
            ],
            "messages[0].tool_calls[0].function.arguments",
        ),
    ],
)
def test_messages_gemini_cannot_read_are_refused_by_path(messages: list[dict[str, Any]], param: str) -> None:
    with pytest.raises(InvalidRequest) as raised:
        chat_request({"model": "gemini-2.5-flash", "messages": messages})
    assert raised.value.param == param


def test_a_tool_result_that_is_a_json_array_is_wrapped_as_content() -> None:
    call = {"id": "c1", "type": "function", "function": {"name": "list", "arguments": ""}}
    body = chat_request(
        {
            "model": "gemini-2.5-flash",
            "messages": [
                {"role": "assistant", "content": None, "tool_calls": [call]},
                {"role": "tool", "tool_call_id": "c1", "content": "[1, 2]"},
            ],
        }
    )
    # Then empty arguments are an empty object, and a non-object result is wrapped as {"content": ...}
    assert body["contents"][0]["parts"] == [
        {"functionCall": {"name": "list", "args": {}}, "thoughtSignature": SKIP_SIGNATURE}
    ]
    assert body["contents"][1]["parts"] == [{"functionResponse": {"name": "list", "response": {"content": "[1, 2]"}}}]


def test_reasoning_can_be_turned_off_or_its_thoughts_excluded() -> None:
    assert chat_request(chat(reasoning={"enabled": False}))["generationConfig"] == {
        "thinkingConfig": {"thinkingBudget": 0}
    }
    config = chat_request(chat(reasoning={"effort": "high", "exclude": True}))["generationConfig"]
    assert config == {"thinkingConfig": {"thinkingBudget": 24576}}
    assert chat_request(chat(reasoning={}))["generationConfig"] == {"thinkingConfig": {"includeThoughts": True}}


def test_allowed_tools_keeps_only_the_named_functions() -> None:
    tools = [{"type": "function", "function": {"name": name}} for name in ("a", "b", "c")]
    choice = {
        "type": "allowed_tools",
        "allowed_tools": {"mode": "required", "tools": [{"type": "function", "function": {"name": "b"}}]},
    }
    body = chat_request(chat(tools=tools, tool_choice=choice))
    assert body["tools"] == [{"functionDeclarations": [{"name": "b"}]}]
    assert body["toolConfig"] == {"functionCallingConfig": {"mode": "ANY"}}


# ---------------------------------------------------------------- answers

RESPONSES = golden("chat_response.json")["cases"]
CREATED = golden("chat_response.json")["created"]


@pytest.mark.parametrize("case", RESPONSES, ids=ids(RESPONSES))
def test_a_gemini_answer_becomes_the_golden_chat_completion(case: dict[str, Any]) -> None:
    assert chat_response(case["gemini"], case["model"], created=CREATED) == case["openai"]


def test_generated_tool_call_ids_are_stable_and_distinct() -> None:
    # Given an answer with two function calls and no Gemini ids
    case = next(c for c in RESPONSES if c["name"] == "parallel_function_calls")
    first = chat_response(case["gemini"], "m")["choices"][0]["message"]["tool_calls"]
    again = chat_response(case["gemini"], "m")["choices"][0]["message"]["tool_calls"]
    # Then each call has its own `call_` id, and the same answer always gets the same ids
    assert [call["id"] for call in first] == [call["id"] for call in again]
    assert len({call["id"] for call in first}) == 2
    assert all(call["id"].startswith("call_") for call in first)


def test_usage_is_read_from_usage_metadata_with_thoughts_as_completion_tokens() -> None:
    case = next(c for c in RESPONSES if c["name"] == "text_with_thoughts")
    assert usage_from(case["gemini"]) == Usage(prompt_tokens=1210, completion_tokens=8 + 94, cached_tokens=1024)
    assert usage_from({"candidates": []}) is None


def answer(parts: list[dict[str, object]], **usage: int) -> dict[str, object]:
    return {
        "candidates": [{"content": {"role": "model", "parts": parts}, "finishReason": "STOP"}],
        "usageMetadata": usage,
    }


def test_a_count_left_out_is_zero_unless_the_answer_shows_it_produced_tokens() -> None:
    # Google leaves a zero count out: an answer with nothing in it (blocked) has no candidatesTokenCount
    assert usage_from(answer([], promptTokenCount=7)) == Usage(7, 0, 0)
    # But an answer with output or thoughts lacking their count is no report (the estimate is charged)
    assert usage_from(answer([{"text": "Hello"}], promptTokenCount=7)) is None
    assert usage_from(answer([{"functionCall": {"name": "f", "args": {}}}], promptTokenCount=7)) is None
    thinking = [{"text": "hm", "thought": True}, {"text": "Hello"}]
    assert usage_from(answer(thinking, promptTokenCount=7, candidatesTokenCount=2)) is None
    assert usage_from(answer(thinking, promptTokenCount=7, candidatesTokenCount=2, thoughtsTokenCount=3)) == Usage(
        7, 5, 0
    )
    assert "usage" not in chat_response(answer([{"text": "Hello"}], promptTokenCount=7), "m")


def test_a_streams_last_usage_lacking_the_output_count_is_no_report() -> None:
    # Given a stream whose first chunk counted its output, and whose last one leaves the count out
    translator = StreamTranslator("m")
    translator.feed(answer([{"text": "Hello"}], promptTokenCount=7, candidatesTokenCount=1))
    assert translator.usage == Usage(7, 1, 0)
    translator.feed(answer([{"text": " there, a long answer"}], promptTokenCount=7))
    # Then the stream has no usage report (not the first chunk's count)
    assert translator.usage is None
    assert not any(chunk.get("usage") for chunk in translator.finish())


def test_a_replayed_answer_keeps_its_thought_signature() -> None:
    # Given Gemini's function-call answer, turned into an OpenAI message and sent back as history
    case = next(c for c in RESPONSES if c["name"] == "parallel_function_calls")
    message = chat_response(case["gemini"], "m")["choices"][0]["message"]
    results = [{"role": "tool", "tool_call_id": call["id"], "content": "ok"} for call in message["tool_calls"]]
    body = chat_request({"model": "m", "messages": [{"role": "user", "content": "Go"}, message, *results]})
    # Then the model turn is the one Gemini sent, signature included
    assert body["contents"][1] == {"role": "model", "parts": case["gemini"]["candidates"][0]["content"]["parts"]}


# ---------------------------------------------------------------- streams

STREAMS = golden("chat_stream.json")


@pytest.mark.parametrize("name", list(STREAMS["streams"]))
def test_each_streamed_chunk_becomes_the_golden_openai_chunks(name: str) -> None:
    stream = STREAMS["streams"][name]
    translator = StreamTranslator(STREAMS["model"], created=STREAMS["created"])
    for event in stream["events"]:
        assert translator.feed(event["gemini"]) == event["openai"]
    assert translator.finish() == stream["finish"]
    assert translator.usage == Usage(**stream["usage"])


def test_the_translated_stream_reads_as_an_openai_stream() -> None:
    # Given the chunks made of a recorded Gemini stream, serialised as the gateway relays them
    stream = STREAMS["streams"]["text_thoughts_and_function_call"]
    chunks = [chunk for event in stream["events"] for chunk in event["openai"]] + stream["finish"]
    infos = [chunk_info(json.dumps(chunk)) for chunk in chunks]
    # Then only the last is the usage-only chunk, and it carries the stream's usage
    assert [info.usage_only for info in infos] == [False] * (len(infos) - 1) + [True]
    assert infos[-1].usage == Usage(83, 94, 0)
    assert chunks[0]["choices"][0]["delta"] == {"role": "assistant", "content": ""}


def test_an_error_in_the_stream_is_seen_as_an_error_event() -> None:
    stream = STREAMS["streams"]["error_mid_stream"]
    translator = StreamTranslator("m")
    translated = [chunk for event in stream["events"] for chunk in translator.feed(event["gemini"])]
    assert chunk_info(json.dumps(translated[-1])).error == translated[-1]["error"]


def test_a_stream_without_usage_ends_with_its_finish_chunk_only() -> None:
    translator = StreamTranslator("m")
    translator.feed({"candidates": [{"content": {"parts": [{"text": "hi"}]}, "finishReason": "MAX_TOKENS"}]})
    assert [chunk["choices"] for chunk in translator.finish()] == [
        [{"index": 0, "delta": {}, "logprobs": None, "finish_reason": "length"}]
    ]
    assert translator.usage is None


def test_a_finish_reason_on_every_chunk_still_ends_the_stream_once_after_all_text() -> None:
    # Given an older Gemini stream that puts finishReason STOP on every chunk
    translator = StreamTranslator("m")
    chunks = [
        {"candidates": [{"content": {"parts": [{"text": text}], "role": "model"}, "finishReason": "STOP", "index": 0}]}
        for text in ("def", " f():", " pass")
    ]
    fed = [chunk for gemini in chunks for chunk in translator.feed(gemini)]
    ended = translator.finish()
    # Then no finish_reason comes before the last text, and exactly one comes at the end
    assert all(chunk["choices"][0]["finish_reason"] is None for chunk in fed)
    assert "".join(chunk["choices"][0]["delta"].get("content", "") for chunk in fed) == "def f(): pass"
    assert [chunk["choices"][0]["finish_reason"] for chunk in ended] == ["stop"]


# ---------------------------------------------------------------- errors and HTTP

ERRORS = golden("errors.json")["upstream"]


@pytest.mark.parametrize("case", ERRORS, ids=ids(ERRORS))
def test_gemini_error_bodies_are_read_as_message_status_and_field(case: dict[str, Any]) -> None:
    if "fails_as_credentials" in case:  # Google's 400 for a bad key: the gateway's credentials, not the request
        with pytest.raises(UpstreamFailure) as raised:
            error_from(case["status"], case["body"].encode("utf-8"))
        assert raised.value.status == case["fails_as_credentials"]
        return
    assert list(error_from(case["status"], case["body"].encode("utf-8"))) == case["expected"]


def test_a_non_utf8_error_body_is_tolerated() -> None:
    assert error_from(500, b"\xff\xfe\x00garbage") == ("upstream answered HTTP 500", None, None)


@pytest.mark.parametrize(
    ("base", "model", "stream", "url"),
    [
        (
            "https://generativelanguage.googleapis.com/v1beta",
            "gemini-2.5-flash",
            False,
            "https://generativelanguage.googleapis.com/v1beta/models/gemini-2.5-flash:generateContent",
        ),
        (
            "https://generativelanguage.googleapis.com/v1beta/",
            "models/gemini-2.5-pro",
            True,
            "https://generativelanguage.googleapis.com/v1beta/models/gemini-2.5-pro:streamGenerateContent?alt=sse",
        ),
        (
            "http://127.0.0.1:9000/v1beta",
            "tunedModels/my-model-7",
            False,
            "http://127.0.0.1:9000/v1beta/tunedModels/my-model-7:generateContent",
        ),
    ],
)
def test_the_endpoint_names_the_model_and_the_method(base: str, model: str, stream: bool, url: str) -> None:
    assert endpoint(base, model, stream) == url


def test_the_key_goes_in_the_google_header_never_the_url() -> None:
    assert headers("AIza-test") == {"x-goog-api-key": "AIza-test", "content-type": "application/json"}
    assert "AIza" not in endpoint("https://generativelanguage.googleapis.com/v1beta", "gemini-2.5-flash", True)


# ---------------------------------------------------------------- the openai SDK reads what we make


def test_the_openai_sdk_types_accept_each_completion_and_chunk() -> None:
    from openai.types.chat import ChatCompletion, ChatCompletionChunk

    for case in RESPONSES:
        completion = ChatCompletion.model_validate(chat_response(case["gemini"], case["model"], created=CREATED))
        assert completion.choices
    for stream in STREAMS["streams"].values():
        for chunk in [c for event in stream["events"] for c in event["openai"]] + stream["finish"]:
            if "error" not in chunk:
                ChatCompletionChunk.model_validate(chunk)


@pytest.mark.parametrize(("effort", "budget"), [("low", 1024), ("high", 24576), ("xhigh", 24576), ("max", 24576)])
def test_every_effort_claude_code_offers_is_a_thinking_budget(effort: str, budget: int) -> None:
    """Claude Code's `/effort` goes up to `max`: for a Gemini model, the largest budget every 2.5 model takes."""
    config = chat_request(chat(reasoning_effort=effort))["generationConfig"]
    assert config["thinkingConfig"]["thinkingBudget"] == budget
