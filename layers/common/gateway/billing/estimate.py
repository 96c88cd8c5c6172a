"""Upper bounds for a request's cost, so a reservation always covers the real charge."""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from gateway.catalog.registry import ModelEntry

# An image referenced by URL costs tokens the URL's length does not show. OpenAI's largest
# high-detail image is ~1,100 tokens; newer patch-based models go to ~1,600.
IMAGE_TOKEN_ALLOWANCE = 2_000
# Used only when an upstream reports no usage: about four bytes of text per token.
BYTES_PER_TOKEN_GUESS = 4


def request_bytes(body: dict[str, Any]) -> int:
    return len(json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode("utf-8"))


def prompt_token_bound(body: dict[str, Any]) -> int:
    """At most one token per byte of the serialised request (byte-level BPE never does worse)."""
    return request_bytes(body) + IMAGE_TOKEN_ALLOWANCE * _image_urls(body.get("messages") or [])


def completion_token_bound(entry: ModelEntry, requested: int | None, choices: int) -> int:
    limit = entry.max_output_tokens if requested is None else min(requested, entry.max_output_tokens)
    return limit * max(choices, 1)


def reservation_amount(entry: ModelEntry, prompt_bound: int, completion_bound: int) -> int:
    return entry.pricing.cost(prompt_bound, completion_bound)


def guess_tokens(text_bytes: int) -> int:
    return -(-text_bytes // BYTES_PER_TOKEN_GUESS)


def _image_urls(messages: Iterable[Any]) -> int:
    count = 0
    for message in messages:
        content = message.get("content") if isinstance(message, dict) else None
        if isinstance(content, list):
            for part in content:
                if isinstance(part, dict) and part.get("type") == "image_url":
                    url = (
                        (part.get("image_url") or {}).get("url", "") if isinstance(part.get("image_url"), dict) else ""
                    )
                    if not str(url).startswith("data:"):
                        count += 1
    return count
