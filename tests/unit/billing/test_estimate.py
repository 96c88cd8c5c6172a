"""Reservations are upper bounds: a request can never cost more than was reserved for it."""

from __future__ import annotations

from typing import Any

import pytest

from gateway.billing.estimate import (
    IMAGE_TOKEN_ALLOWANCE,
    PROVIDER_TOOL_ALLOWANCE,
    TOOL_USE_ALLOWANCE,
    completion_token_bound,
    prompt_token_bound,
    request_bytes,
    reservation_amount,
    tool_allowance,
)
from gateway.catalog.registry import ModelEntry

ENTRY = ModelEntry.model_validate(
    {
        "id": "openai/gpt-4o-mini",
        "display_name": "GPT-4o mini",
        "owned_by": "openai",
        "context_length": 128_000,
        "max_output_tokens": 16_384,
        "pricing": {"input": "0.15", "output": "0.60", "cached_input": "0.075"},
        "providers": [{"provider": "openai", "model": "gpt-4o-mini"}],
    }
)
CONTEXT = ENTRY.context_length
PNG_DATA_URL = (  # a 1x1 PNG
    "data:image/png;base64,"
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="
)


def chat(*messages: dict[str, Any], **fields: Any) -> dict[str, Any]:
    return {"model": "gpt-4o-mini", "messages": list(messages), **fields}


def text_bytes(body: dict[str, Any]) -> int:
    """UTF-8 bytes of every piece of text in the messages: what a byte-level BPE tokenises."""
    total = 0
    for message in body["messages"]:
        content = message.get("content")
        parts = [content] if isinstance(content, str) else [p.get("text", "") for p in content or []]
        total += sum(len(part.encode("utf-8")) for part in parts)
    return total


TEXTS = {
    "ascii": "What's the weather in Paris today? Answer in one short sentence.",
    "french": "Répondez en français, s'il vous plaît : où est la gare ?",
    "japanese": "東京の天気を一文で教えてください。",
    "emoji": "👩‍👩‍👧‍👦 family 🇫🇷 flag 🧑🏽‍💻 coder",
    "arabic": "ما هو الطقس في باريس اليوم؟",
    "escapes": 'quotes " backslash \\ newline \n tab \t nul \x00 bell \x07',
    "long_cjk": "漢字" * 5_000,
}


@pytest.mark.parametrize("name", list(TEXTS))
def test_the_prompt_bound_covers_every_utf8_byte_of_the_messages(name: str) -> None:
    # Given a conversation whose text is ASCII or not (a byte-level BPE never makes more tokens than bytes)
    text = TEXTS[name]
    body = chat(
        {"role": "system", "content": "You are terse. " + text},
        {"role": "user", "content": [{"type": "text", "text": text}, {"type": "text", "text": text[::-1]}]},
        {"role": "assistant", "content": text},
        {"role": "user", "content": text},
    )
    # When the prompt is bounded
    bound = prompt_token_bound(body, CONTEXT)
    # Then the bound is at least the number of UTF-8 bytes of all message text
    assert bound >= text_bytes(body)
    assert bound >= len(text.encode("utf-8")) * 5


def test_non_ascii_text_is_bounded_by_its_bytes_not_its_characters() -> None:
    # Given a prompt of 3-byte characters
    text = "東" * 1_000
    # When bounded, Then the bound is at least 3 bytes per character
    assert prompt_token_bound(chat({"role": "user", "content": text}), CONTEXT) >= 3_000


def test_longer_prompts_reserve_at_least_one_token_per_added_byte() -> None:
    short = prompt_token_bound(chat({"role": "user", "content": "hi"}), CONTEXT)
    longer = prompt_token_bound(chat({"role": "user", "content": "hi" + "é" * 100}), CONTEXT)
    assert longer - short >= 200


def test_tools_and_other_request_fields_count_towards_the_prompt_bound() -> None:
    # Given a request whose tool definitions are sent to the model as part of the prompt
    tool = {"type": "function", "function": {"name": "lookup", "description": "x" * 3_000, "parameters": {}}}
    without = prompt_token_bound(chat({"role": "user", "content": "hi"}), CONTEXT)
    with_tools = prompt_token_bound(chat({"role": "user", "content": "hi"}, tools=[tool]), CONTEXT)
    # Then the tool text is covered too
    assert with_tools - without >= 3_000


def test_an_image_by_url_adds_the_image_allowance() -> None:
    # Given an image referenced by URL (its tokens are not visible in the URL's bytes)
    body = chat(
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "What is in this image?"},
                {"type": "image_url", "image_url": {"url": "https://example.com/cat.jpg", "detail": "high"}},
            ],
        }
    )
    # When bounded, Then the image allowance is reserved on top of the request's bytes
    assert prompt_token_bound(body, CONTEXT) == request_bytes(body) + IMAGE_TOKEN_ALLOWANCE
    assert IMAGE_TOKEN_ALLOWANCE >= 2_500  # a high-detail image on patch-based models


def test_each_image_url_adds_its_own_allowance_across_messages() -> None:
    image = {"type": "image_url", "image_url": {"url": "https://example.com/a.png"}}
    body = chat(
        {"role": "user", "content": [image, image]},
        {"role": "assistant", "content": "Two cats."},
        {"role": "user", "content": [{"type": "text", "text": "And this one?"}, image]},
    )
    assert prompt_token_bound(body, CONTEXT) == request_bytes(body) + 3 * IMAGE_TOKEN_ALLOWANCE


def test_an_inline_data_url_image_gets_the_allowance_too() -> None:
    # Given an image sent inline as a data URL: a flat image compresses to far fewer bytes than its tokens
    body = chat({"role": "user", "content": [{"type": "image_url", "image_url": {"url": PNG_DATA_URL}}]})
    # When bounded, Then its bytes and the image allowance are both reserved
    assert prompt_token_bound(body, CONTEXT) == request_bytes(body) + IMAGE_TOKEN_ALLOWANCE
    assert prompt_token_bound(body, CONTEXT) >= len(PNG_DATA_URL)


@pytest.mark.parametrize(
    "messages",
    [[], None, "not a list", [None, 1, "text", {"role": "user", "content": None}]],
    ids=["empty", "null", "string", "odd-items"],
)
def test_malformed_messages_do_not_break_the_bound(messages: Any) -> None:
    body = {"model": "m", "messages": messages}
    assert prompt_token_bound(body, CONTEXT) == request_bytes(body)


# ---------------------------------------------------------------- completion bound


@pytest.mark.parametrize(
    ("requested", "choices", "bound"),
    [
        (100, 1, 100),
        (100, 3, 300),
        (16_384, 1, 16_384),
        (1_000_000, 1, 16_384),  # more than the model can write: the model's cap
        (1_000_000, 2, 32_768),
        (None, 1, 16_384),  # nothing requested: the model's cap
        (None, 4, 65_536),
        (50, 0, 50),  # n is at least 1
    ],
)
def test_the_completion_bound_is_the_requested_or_model_cap_times_n(
    requested: int | None, choices: int, bound: int
) -> None:
    assert completion_token_bound(ENTRY, requested, choices) == bound


# ---------------------------------------------------------------- reservation


def test_the_reservation_is_the_price_of_the_bounds() -> None:
    # Given bounds of 1,000 prompt tokens and the model's full 16,384 output tokens
    # When the reservation is computed at 0.15 / 0.60 per 1M tokens
    amount = reservation_amount(ENTRY, 1_000, 16_384)
    # Then it is 150 + 9,830.4 = 9,980.4 -> 9,981 micro-credits, the cost of those bounds
    assert amount == 9_981
    assert amount == ENTRY.pricing.cost(1_000, 16_384)


def test_the_reservation_covers_any_actual_usage_within_the_bounds() -> None:
    prompt_bound, completion_bound = 2_000, 500
    reserved = reservation_amount(ENTRY, prompt_bound, completion_bound)
    for prompt, completion, cached in [(2_000, 500, 0), (1_999, 500, 1_024), (10, 1, 0), (2_000, 0, 2_000)]:
        assert ENTRY.pricing.cost(prompt, completion, cached) <= reserved


def test_a_whole_request_reserves_enough_for_its_worst_case() -> None:
    # Given a real-looking request with a system prompt, French text and max_tokens
    body = chat(
        {"role": "system", "content": TEXTS["french"]},
        {"role": "user", "content": TEXTS["japanese"]},
        max_tokens=256,
        n=2,
    )
    # When the reservation is computed from the request
    reserved = reservation_amount(ENTRY, prompt_token_bound(body, CONTEXT), completion_token_bound(ENTRY, 256, 2))
    # Then it covers one token per byte of text and 2 x 256 output tokens
    assert reserved >= ENTRY.pricing.cost(text_bytes(body), 512)


# ---------------------------------------------------------------- documents, audio, files


@pytest.mark.parametrize(
    "part",
    [
        {"type": "file", "file": {"filename": "a.pdf", "file_data": "data:application/pdf;base64,JVBERi0="}},
        {"type": "file", "file": {"file_id": "file-abc"}},
        {"type": "input_audio", "input_audio": {"data": "UklGRg==", "format": "wav"}},
        {"type": "video_url", "video_url": {"url": "https://example.com/a.mp4"}},
    ],
    ids=["pdf", "file-id", "audio", "unknown-kind"],
)
def test_a_document_audio_or_unknown_part_is_held_at_the_whole_context_window(part: dict[str, Any]) -> None:
    # Given a part whose bytes say nothing of its tokens (a 30-page PDF is a few kilobytes)
    body = chat({"role": "user", "content": [{"type": "text", "text": "summarise"}, part]})
    # Then the bound holds the whole context window for it (only the window bounds what it can cost)
    assert prompt_token_bound(body, CONTEXT) == request_bytes(body) + CONTEXT


def test_text_parts_get_no_allowance() -> None:
    body = chat({"role": "user", "content": [{"type": "text", "text": "a"}, {"type": "text", "text": "b"}]})
    assert prompt_token_bound(body, CONTEXT) == request_bytes(body)


FUNCTION = {"name": "f", "parameters": {"type": "object"}}


@pytest.mark.parametrize(
    "tools",
    [
        [{"type": "function", "function": FUNCTION}],  # OpenAI chat
        [{"type": "function", **FUNCTION}],  # the Responses API
        [{"type": "custom", "name": "grammar"}],  # OpenAI's custom tool
        [{"name": "f", "input_schema": {"type": "object"}}],  # Anthropic's own definition
        [{"functionDeclarations": [FUNCTION, FUNCTION]}],  # Gemini
        [{"function_declarations": [FUNCTION]}],
    ],
)
def test_tools_defined_by_their_bytes_add_the_tool_use_prompt_once(tools: list[Any]) -> None:
    assert tool_allowance({"tools": tools}) == TOOL_USE_ALLOWANCE
    assert tool_allowance({"tools": tools * 3}) == TOOL_USE_ALLOWANCE


@pytest.mark.parametrize(
    "tool",
    [
        {"type": "bash_20250124", "name": "bash"},  # Anthropic's: a definition of hundreds of tokens
        {"type": "computer_20250124", "name": "computer", "display_width_px": 1024, "display_height_px": 768},
        {"type": "text_editor_20250728", "name": "str_replace_based_edit_tool"},
        {"type": "code_interpreter", "container": {"type": "auto"}},  # the Responses API's built-ins
        {"codeExecution": {}},  # Gemini's
        {"functionDeclarations": [FUNCTION], "googleSearch": {}},
        "bash",  # not a tool at all: held as the worst
    ],
)
def test_each_provider_defined_tool_adds_its_own_allowance(tool: Any) -> None:
    assert tool_allowance({"tools": [tool]}) == TOOL_USE_ALLOWANCE + PROVIDER_TOOL_ALLOWANCE
    assert tool_allowance({"tools": [tool, tool]}) == TOOL_USE_ALLOWANCE + 2 * PROVIDER_TOOL_ALLOWANCE


@pytest.mark.parametrize("body", [{}, {"tools": None}, {"tools": []}, {"tools": {"type": "function"}}])
def test_a_request_without_tools_has_no_tool_allowance(body: dict[str, Any]) -> None:
    assert tool_allowance(body) == 0
