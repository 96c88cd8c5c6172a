"""Upper bounds for a request's cost, so a reservation always covers the real charge, and the
covering estimate charged when an upstream reports no usage."""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from typing import Any

from gateway.catalog.registry import ModelEntry

# An image costs tokens its bytes do not show (a URL is short; a flat PNG compresses to little).
# OpenAI's largest high-detail image is ~1,100 tokens; patch-based models go to ~2,500 with
# their multiplier. Every image part is allowed this much on top of its bytes.
IMAGE_TOKEN_ALLOWANCE = 3_000
# Tool use costs input tokens the request's bytes do not show. Anthropic bills its tool-use system
# prompt (313-346 tokens) on every request that declares a tool; a provider-defined tool (Anthropic's
# computer, bash or text editor; OpenAI's and Gemini's built-in tools) is a few bytes naming a
# definition, and often a system prompt, of 245 to ~1,200 tokens.
TOOL_USE_ALLOWANCE = 500
PROVIDER_TOOL_ALLOWANCE = 2_000
# Parts that carry no media of their own.
_TEXT_PARTS = frozenset({"text", "input_text", "output_text", "refusal", "thinking", "redacted_thinking"})
_IMAGE_PARTS = frozenset({"image_url", "input_image", "image"})


def request_bytes(body: Mapping[str, Any]) -> int:
    return len(json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode("utf-8"))


def prompt_token_bound(body: Mapping[str, Any], context_tokens: int) -> int:
    """At most one token per byte of the serialised request (byte-level BPE never does worse), plus
    what its media cost beyond their bytes (`media_allowance`)."""
    return request_bytes(body) + media_allowance(body, context_tokens)


def media_allowance(body: Mapping[str, Any], context_tokens: int) -> int:
    """The parts of a canonical body's messages beyond their bytes: an allowance per image, plus
    `context_tokens` when any document, audio, video or other file part is present: a 30-page PDF
    is a few kilobytes and tens of thousands of tokens, and only the model's context window bounds
    what such parts can cost."""
    images = files = 0
    for kind in _part_kinds(body.get("messages")):
        if kind in _IMAGE_PARTS:
            images += 1
        elif kind not in _TEXT_PARTS:
            files += 1
    return IMAGE_TOKEN_ALLOWANCE * images + (context_tokens if files else 0)


def tool_allowance(body: Mapping[str, Any]) -> int:
    """Tokens of tool use the request's bytes do not show (see TOOL_USE_ALLOWANCE), for the tools of
    `body` in any client format: OpenAI's and the Responses API's `function` (and `custom`) tools,
    Anthropic's tools with an `input_schema`, and Gemini's function declarations are defined by their
    bytes; any other entry is a provider-defined tool."""
    tools = body.get("tools")
    if not isinstance(tools, list) or not tools:
        return 0
    defined_elsewhere = sum(1 for tool in tools if not _defined_by_its_bytes(tool))
    return TOOL_USE_ALLOWANCE + PROVIDER_TOOL_ALLOWANCE * defined_elsewhere


def _defined_by_its_bytes(tool: Any) -> bool:
    if not isinstance(tool, dict):
        return False
    if tool.get("type") in ("function", "custom"):
        return True
    if "input_schema" in tool and tool.get("type") in (None, "custom"):
        return True
    declared = ("functionDeclarations", "function_declarations")
    return any(name in tool for name in declared) and set(tool) <= set(declared)


def output_cap(entry: ModelEntry, requested: int | None) -> int:
    """The output tokens one choice may produce: what was asked, never above the model's cap."""
    return entry.max_output_tokens if requested is None else min(requested, entry.max_output_tokens)


def completion_token_bound(entry: ModelEntry, requested: int | None, choices: int) -> int:
    return output_cap(entry, requested) * max(choices, 1)


def reservation_amount(entry: ModelEntry, prompt_bound: int, completion_bound: int) -> int:
    return entry.pricing.cost_bound(prompt_bound, completion_bound)


def covering_tokens(text_bytes: int) -> int:
    """Tokens that surely cover this much text: a token is at least one byte of it."""
    return max(text_bytes, 0)


def _part_kinds(messages: Any) -> Iterator[str]:
    for message in messages if isinstance(messages, list) else []:
        content = message.get("content") if isinstance(message, dict) else None
        for part in content if isinstance(content, list) else []:
            yield str(part.get("type")) if isinstance(part, dict) else "text"
