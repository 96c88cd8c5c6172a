"""The OpenAI chat request schema: checks what billing needs, passes everything else through."""

from __future__ import annotations

import json
from typing import Any

import pytest
from pydantic import ValidationError

from gateway.billing.estimate import prompt_token_bound
from gateway.formats.openai import ChatCompletionRequest

MESSAGES = [{"role": "user", "content": "Hello"}]


def parse(**fields: Any) -> ChatCompletionRequest:
    return ChatCompletionRequest.model_validate({"model": "gpt-4o", "messages": MESSAGES, **fields})


def test_a_full_client_body_passes_through_unchanged() -> None:
    # Given a body using many OpenAI fields the gateway does not model
    body = {
        "model": "openai/gpt-4o",
        "messages": [
            {"role": "developer", "content": "Answer in JSON."},
            {
                "role": "user",
                "name": "ana",
                "content": [
                    {"type": "text", "text": "What is in this image?"},
                    {"type": "image_url", "image_url": {"url": "https://example.com/cat.jpg", "detail": "low"}},
                ],
            },
            {
                "role": "assistant",
                "content": None,
                "tool_calls": [
                    {"id": "call_1", "type": "function", "function": {"name": "lookup", "arguments": '{"q":"cat"}'}}
                ],
            },
            {"role": "tool", "tool_call_id": "call_1", "content": "a tabby cat"},
        ],
        "stream": True,
        "stream_options": {"include_usage": True, "continuous_usage_stats": False},
        "temperature": 0.2,
        "top_p": 1,
        "max_completion_tokens": 512,
        "n": 2,
        "tools": [{"type": "function", "function": {"name": "lookup", "parameters": {"type": "object"}}}],
        "tool_choice": {"type": "function", "function": {"name": "lookup"}},
        "response_format": {"type": "json_schema", "json_schema": {"name": "x", "schema": {"type": "object"}}},
        "reasoning_effort": "low",
        "seed": 7,
        "logit_bias": {"50256": -100},
        "metadata": {"team": "search"},
        "user": "user-1234",
        "provider": {"order": ["openai"], "allow_fallbacks": False},
    }
    # When it is validated and turned back into the wire body
    # Then every field, known or not, reaches the upstream exactly as sent
    assert ChatCompletionRequest.model_validate(body).wire_body() == body


def test_fields_the_client_did_not_send_stay_absent() -> None:
    # Given a minimal body
    body = {"model": "gpt-4o", "messages": [{"role": "user", "content": "Hello"}]}
    # When turned into the wire body, Then no defaults (stream, n, max_tokens, content=None...) are added
    assert ChatCompletionRequest.model_validate(body).wire_body() == body


def test_a_message_without_content_gets_no_content_field() -> None:
    body = {"model": "gpt-4o", "messages": [{"role": "assistant", "tool_calls": []}]}
    assert ChatCompletionRequest.model_validate(body).wire_body() == body


def test_explicit_nulls_are_kept_as_sent() -> None:
    body = {"model": "gpt-4o", "messages": MESSAGES, "max_tokens": None, "stream_options": None}
    assert ChatCompletionRequest.model_validate(body).wire_body() == body


def test_the_wire_body_is_plain_json() -> None:
    wire = parse(stream=True, stream_options={"include_usage": True}, temperature=0.5).wire_body()
    assert json.loads(json.dumps(wire)) == wire


def test_defaults_apply_to_what_the_gateway_reads() -> None:
    request = ChatCompletionRequest.model_validate({"model": "gpt-4o", "messages": MESSAGES})
    assert (request.stream, request.n, request.stream_options) == (False, 1, None)
    assert request.requested_output_tokens() is None


@pytest.mark.parametrize("n", [1, 2, 128])
def test_n_between_1_and_128_is_accepted(n: int) -> None:
    assert parse(n=n).n == n


@pytest.mark.parametrize("n", [0, -1, 129, 10_000])
def test_n_outside_1_to_128_is_refused(n: int) -> None:
    with pytest.raises(ValidationError):
        parse(n=n)


@pytest.mark.parametrize("field", ["max_tokens", "max_completion_tokens"])
@pytest.mark.parametrize("value", [0, -5, 10_000_001])
def test_output_token_limits_below_1_or_absurdly_large_are_refused(field: str, value: int) -> None:
    with pytest.raises(ValidationError):
        parse(**{field: value})


@pytest.mark.parametrize("field", ["max_tokens", "max_completion_tokens"])
def test_an_output_token_limit_of_1_is_accepted(field: str) -> None:
    assert parse(**{field: 1}).requested_output_tokens() == 1


@pytest.mark.parametrize(
    ("fields", "requested"),
    [
        ({"max_tokens": 100, "max_completion_tokens": 300}, 300),
        ({"max_tokens": 300, "max_completion_tokens": 100}, 100),
        ({"max_completion_tokens": 64}, 64),
        ({"max_tokens": 256}, 256),
        ({}, None),
        ({"max_tokens": None, "max_completion_tokens": None}, None),
    ],
)
def test_requested_output_tokens_prefers_max_completion_tokens(fields: dict[str, Any], requested: int | None) -> None:
    assert parse(**fields).requested_output_tokens() == requested


@pytest.mark.parametrize(
    "body",
    [
        {"messages": MESSAGES},
        {"model": "", "messages": MESSAGES},
        {"model": "m" * 257, "messages": MESSAGES},
        {"model": "gpt-4o"},
        {"model": "gpt-4o", "messages": []},
        {"model": "gpt-4o", "messages": [{"content": "no role"}]},
        {"model": "gpt-4o", "messages": [{"role": "robot", "content": "hi"}]},
        {"model": "gpt-4o", "messages": [{"role": "user", "content": 42}]},
        {"model": "gpt-4o", "messages": MESSAGES, "stream_options": {"include_usage": "sometimes"}},
    ],
)
def test_bodies_billing_cannot_rely_on_are_refused(body: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        ChatCompletionRequest.model_validate(body)


@pytest.mark.parametrize("role", ["system", "developer", "user", "assistant", "tool", "function"])
def test_every_openai_role_is_accepted(role: str) -> None:
    assert parse(messages=[{"role": role, "content": "x"}]).wire_body()["messages"][0]["role"] == role


UNENCODABLE = [
    {"model": "gpt-4o", "messages": [{"role": "user", "content": "\ud800"}]},
    {"model": "gpt-4o", "messages": [{"role": "user", "content": [{"type": "text", "text": "a\udfffb"}]}]},
    {"model": "gpt-4o", "messages": MESSAGES, "user": "\udc00"},
]


@pytest.mark.parametrize("body", UNENCODABLE, ids=["content", "text-part", "extra-field"])
def test_text_that_cannot_be_sent_as_utf8_is_refused_as_bad_input(body: dict[str, Any]) -> None:
    # Given a JSON body whose text holds a lone surrogate: `"\ud800"` parses (json.loads, as FastAPI does)
    parsed = json.loads(json.dumps(body))
    # When it is validated
    try:
        request = ChatCompletionRequest.model_validate(parsed)
    except ValidationError:
        return  # Then it is refused as bad input (a 400)
    # (today it is accepted, and the cost estimate crashes with UnicodeEncodeError: a 500)
    prompt_token_bound(request.wire_body())
    pytest.fail("text that cannot be encoded as UTF-8 was accepted, yet it cannot be sent upstream")
