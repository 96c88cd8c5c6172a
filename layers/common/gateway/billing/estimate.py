"""Upper bounds for a request's cost, so a reservation always covers the real charge."""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from gateway.catalog.registry import ModelEntry

# An image costs tokens its bytes do not show (a URL is short; a flat PNG compresses to little).
# OpenAI's largest high-detail image is ~1,100 tokens; patch-based models go to ~2,500 with
# their multiplier. Every image part is allowed this much on top of its bytes.
IMAGE_TOKEN_ALLOWANCE = 3_000
# Used only when an upstream reports no usage: about four bytes of text per token.
BYTES_PER_TOKEN_GUESS = 4


def request_bytes(body: dict[str, Any]) -> int:
    return len(json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode("utf-8"))


def prompt_token_bound(body: dict[str, Any]) -> int:
    """At most one token per byte of the serialised request (byte-level BPE never does worse)."""
    messages = body.get("messages")
    return request_bytes(body) + IMAGE_TOKEN_ALLOWANCE * _images(messages if isinstance(messages, list) else [])


def completion_token_bound(entry: ModelEntry, requested: int | None, choices: int) -> int:
    limit = entry.max_output_tokens if requested is None else min(requested, entry.max_output_tokens)
    return limit * max(choices, 1)


def reservation_amount(entry: ModelEntry, prompt_bound: int, completion_bound: int) -> int:
    return entry.pricing.cost_bound(prompt_bound, completion_bound)


def guess_tokens(text_bytes: int) -> int:
    return -(-text_bytes // BYTES_PER_TOKEN_GUESS)


def _images(messages: Iterable[Any]) -> int:
    return sum(
        1
        for message in messages
        if isinstance(message, dict) and isinstance(message.get("content"), list)
        for part in message["content"]
        if isinstance(part, dict) and part.get("type") in ("image_url", "input_image", "image")
    )
