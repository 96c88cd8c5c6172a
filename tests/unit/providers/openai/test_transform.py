"""OpenAI wire format, checked against the golden payloads in tests/golden/openai (input + expected)."""

from __future__ import annotations

import copy
import json
from functools import cache
from pathlib import Path
from typing import Any

import pytest

from gateway.canonical import ChunkInfo, Usage, chunk_info, completion_text_bytes, error_chunk, usage_from
from gateway.catalog.registry import Pricing
from gateway.providers.openai.request import chat_request
from gateway.providers.openai.response import error_from

GOLDEN = Path(__file__).resolve().parents[3] / "golden" / "openai"


@cache
def golden(name: str) -> Any:
    return json.loads((GOLDEN / name).read_text(encoding="utf-8"))


def as_expected(info: ChunkInfo) -> dict[str, Any]:
    usage = info.usage
    return {
        "usage": None
        if usage is None
        else {
            "prompt_tokens": usage.prompt_tokens,
            "completion_tokens": usage.completion_tokens,
            "cached_tokens": usage.cached_tokens,
        },
        "usage_only": info.usage_only,
        "text_bytes": info.text_bytes,
        "error": info.error,
    }


def case_ids(cases: list[dict[str, Any]]) -> list[str]:
    return [case["name"] for case in cases]


# ---------------------------------------------------------------- request


REQUESTS = golden("chat_request.json")["cases"]


@pytest.mark.parametrize("case", REQUESTS, ids=case_ids(REQUESTS))
def test_the_upstream_body_is_the_clients_with_the_upstream_model(case: dict[str, Any]) -> None:
    # Given a client body and the provider's name for the model
    # When the upstream body is built
    upstream = chat_request(case["client"], case["upstream_model"])
    # Then it is the golden upstream body: same fields, upstream model, usage forced on streams only
    assert upstream == case["upstream"]


@pytest.mark.parametrize("case", REQUESTS, ids=case_ids(REQUESTS))
def test_building_the_upstream_body_leaves_the_clients_body_untouched(case: dict[str, Any]) -> None:
    client = copy.deepcopy(case["client"])
    chat_request(client, case["upstream_model"])
    assert client == case["client"]


def test_a_stream_always_asks_the_upstream_for_usage_even_if_the_client_declined() -> None:
    body = {"model": "gpt-4o", "messages": [], "stream": True, "stream_options": {"include_usage": False}}
    assert chat_request(body, "gpt-4o")["stream_options"] == {"include_usage": True}
    assert body["stream_options"] == {"include_usage": False}


def test_a_null_stream_options_on_a_stream_still_asks_for_usage() -> None:
    body = {"model": "gpt-4o", "messages": [], "stream": True, "stream_options": None}
    assert chat_request(body, "gpt-4o")["stream_options"] == {"include_usage": True}


# ---------------------------------------------------------------- non-streaming completions


COMPLETIONS = ["chat_completion.json", "chat_completion_tool_calls.json"]


@pytest.mark.parametrize("name", COMPLETIONS)
def test_usage_is_read_from_a_completion(name: str) -> None:
    # Given a recorded completion, When its usage is read
    usage = usage_from(golden(name)["response"])
    # Then prompt, completion and cached prompt tokens are as the upstream reported them
    assert usage == Usage(**golden(name)["expected"]["usage"])


def test_reasoning_tokens_are_already_part_of_completion_tokens() -> None:
    # Given o4-mini's usage with 384 reasoning tokens inside 402 completion tokens
    payload = golden("chat_completion.json")
    usage = usage_from(payload["response"])
    # Then the billed completion tokens are 402, not 402 + 384
    assert usage is not None
    assert usage.completion_tokens == payload["response"]["usage"]["completion_tokens"] == 402


def test_a_recorded_completion_costs_what_its_usage_says() -> None:
    payload = golden("chat_completion.json")
    usage = usage_from(payload["response"])
    assert usage is not None
    pricing = Pricing.model_validate(payload["expected"]["pricing"])
    assert (
        pricing.cost(usage.prompt_tokens, usage.completion_tokens, usage.cached_tokens)
        == (payload["expected"]["cost_micro"])
    )


@pytest.mark.parametrize(
    "usage",
    [
        None,
        "12 tokens",
        {},
        {"prompt_tokens": 12},
        {"prompt_tokens": "12", "completion_tokens": 3},
        {"prompt_tokens": -1, "completion_tokens": 3},
        {"prompt_tokens": 12, "completion_tokens": 3.5},
    ],
)
def test_missing_or_malformed_usage_is_treated_as_no_usage(usage: Any) -> None:
    assert usage_from({"id": "chatcmpl-1", "choices": [], "usage": usage}) is None


@pytest.mark.parametrize("details", [None, {}, {"cached_tokens": None}, {"cached_tokens": -5}, "x"])
def test_absent_or_odd_cached_token_details_mean_no_cached_tokens(details: Any) -> None:
    usage = {"prompt_tokens": 10, "completion_tokens": 2, "prompt_tokens_details": details}
    assert usage_from({"usage": usage}) == Usage(10, 2, 0)


@pytest.mark.parametrize("name", COMPLETIONS)
def test_generated_text_bytes_of_a_completion(name: str) -> None:
    assert completion_text_bytes(golden(name)["response"]) == golden(name)["expected"]["text_bytes"]


@pytest.mark.parametrize(
    ("message", "expected"),
    [
        ({"role": "assistant", "content": "héllo"}, 6),
        ({"role": "assistant", "content": None, "refusal": "I can\u2019t help with that."}, 25),
        ({"role": "assistant", "content": "42", "reasoning_content": "6\u00d77=42"}, 2 + 7),
        ({"role": "assistant", "content": "", "reasoning": "think"}, 5),
        (
            {
                "role": "assistant",
                "content": None,
                "tool_calls": [{"id": "c1", "type": "function", "function": {"name": "f", "arguments": '{"a":"é"}'}}],
            },
            1 + 10,
        ),
        ({"role": "assistant", "content": None}, 0),
    ],
    ids=["content", "refusal", "reasoning_content", "reasoning", "tool_call", "nothing"],
)
def test_every_kind_of_generated_text_is_counted_in_utf8_bytes(message: dict[str, Any], expected: int) -> None:
    # Given a completion whose text comes as content, refusal, reasoning or a tool call
    payload = {"choices": [{"index": 0, "message": message, "finish_reason": "stop"}]}
    # Then its generated bytes are counted (used to guess usage when an upstream reports none)
    assert completion_text_bytes(payload) == expected


def test_text_of_every_choice_is_counted() -> None:
    payload = {"choices": [{"index": i, "message": {"role": "assistant", "content": "abc"}} for i in range(3)]}
    assert completion_text_bytes(payload) == 9


@pytest.mark.parametrize(
    "payload", [{}, {"choices": None}, {"choices": ["x", None]}, {"choices": [{"message": "text"}]}]
)
def test_odd_payloads_have_no_generated_text(payload: dict[str, Any]) -> None:
    assert completion_text_bytes(payload) == 0


# ---------------------------------------------------------------- streams


STREAM = golden("chat_stream.json")["events"]
BROKEN = golden("chat_stream_broken.json")["events"]
CLASSIFIED = [event for event in STREAM + BROKEN if event["expected"] != "done"]


@pytest.mark.parametrize("event", CLASSIFIED, ids=[f"{i}-{e['name']}" for i, e in enumerate(CLASSIFIED)])
def test_each_streamed_chunk_is_classified_as_the_golden_file_says(event: dict[str, Any]) -> None:
    assert as_expected(chunk_info(event["data"])) == event["expected"]


def test_only_the_final_usage_chunk_is_usage_only_and_the_stream_ends_with_done() -> None:
    # Given a recorded stream with include_usage
    infos = [chunk_info(event["data"]) for event in STREAM[:-1]]
    # Then exactly one chunk, the last before [DONE], is the usage-only chunk
    assert [info.usage_only for info in infos] == [False] * (len(infos) - 1) + [True]
    assert [info.usage is not None for info in infos] == [False] * (len(infos) - 1) + [True]
    assert STREAM[-1]["data"] == "[DONE]"


def test_the_bytes_relayed_from_a_stream_add_up_to_its_generated_text() -> None:
    total = sum(chunk_info(event["data"]).text_bytes for event in STREAM[:-1])
    assert total == golden("chat_stream.json")["expected_text_bytes_total"]


def test_a_chunk_carrying_usage_and_choices_is_not_usage_only() -> None:
    # Given a provider that puts usage on its finish chunk instead of a separate one
    chunk = {
        "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 5, "completion_tokens": 1},
    }
    info = chunk_info(json.dumps(chunk))
    # Then its usage is taken but the chunk is still relayed as a normal chunk
    assert info.usage == Usage(5, 1, 0)
    assert not info.usage_only


def test_an_error_event_in_a_stream_is_detected() -> None:
    error_event = next(event for event in BROKEN if event["name"] == "error")
    info = chunk_info(error_event["data"])
    assert info.error is not None
    assert info.error["type"] == "server_error"
    assert info.usage is None


@pytest.mark.parametrize("data", ["", "{", "data: {}", "null", "42", '"text"', "[DONE]", "\udcff"])
def test_unreadable_chunks_are_tolerated(data: str) -> None:
    assert chunk_info(data) == ChunkInfo(usage=None, usage_only=False, text_bytes=0)


# ---------------------------------------------------------------- errors


ERRORS = golden("errors.json")["cases"]


@pytest.mark.parametrize("case", ERRORS, ids=case_ids(ERRORS))
def test_upstream_error_bodies_are_read_as_message_code_and_param(case: dict[str, Any]) -> None:
    # Given an upstream error answer (JSON envelope, plain string, or a proxy's HTML page)
    # When it is read, Then (message, code, param) are as the golden file says
    assert list(error_from(case["status"], case["body"].encode("utf-8"))) == case["expected"]


def test_a_non_json_error_body_is_never_echoed_to_the_client() -> None:
    html = next(case for case in ERRORS if case["name"] == "html_from_a_proxy")
    message, _, _ = error_from(html["status"], html["body"].encode("utf-8"))
    assert "<html>" not in message
    assert "cloudflare" not in message


def test_an_error_body_that_is_not_utf8_is_tolerated() -> None:
    assert error_from(500, b"\xff\xfe\x00garbage") == ("upstream answered HTTP 500", None, None)


def test_the_terminal_error_event_has_openais_error_shape() -> None:
    # Given a stream that fails after it started
    data = error_chunk("Upstream timed out after 600 s.", "provider_timeout")
    # When the SDK parses the final event, Then it is valid JSON with the OpenAI error envelope
    assert json.loads(data) == {
        "error": {
            "message": "Upstream timed out after 600 s.",
            "type": "api_error",
            "code": "provider_timeout",
            "param": None,
        }
    }
    # And the gateway itself recognises it as an error event
    assert chunk_info(data).error == json.loads(data)["error"]


def test_an_error_event_keeps_non_ascii_messages_and_a_custom_type() -> None:
    data = error_chunk('Le fournisseur a échoué: "503"\n', "provider_error", "server_error")
    assert "\n" not in data
    assert json.loads(data)["error"] == {
        "message": 'Le fournisseur a échoué: "503"\n',
        "type": "server_error",
        "code": "provider_error",
        "param": None,
    }
