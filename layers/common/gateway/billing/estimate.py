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
# Parts that carry no media of their own.
_TEXT_PARTS = frozenset({"text", "input_text", "output_text", "refusal", "thinking", "redacted_thinking"})
_IMAGE_PARTS = frozenset({"image_url", "input_image", "image"})


def request_bytes(body: Mapping[str, Any]) -> int:
    return len(json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode("utf-8"))


def prompt_token_bound(body: Mapping[str, Any], context_tokens: int) -> int:
    """At most one token per byte of the serialised request (byte-level BPE never does worse), plus
    an allowance per image, plus `context_tokens` when any document, audio, video or other file part
    is present: a 30-page PDF is a few kilobytes and tens of thousands of tokens, and only the
    model's context window bounds what such parts can cost."""
    images = files = 0
    for kind in _part_kinds(body.get("messages")):
        if kind in _IMAGE_PARTS:
            images += 1
        elif kind not in _TEXT_PARTS:
            files += 1
    return request_bytes(body) + IMAGE_TOKEN_ALLOWANCE * images + (context_tokens if files else 0)


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
