"""Anthropic's wire vocabulary, shared by both directions: the gateway calling Anthropic
(providers.anthropic) and clients calling the gateway in Anthropic's format (formats.anthropic).
Pure data and framing, no I/O."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

# Anthropic's error type for each HTTP status (its API errors page); other 4xx are invalid_request_error.
ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    402: "billing_error",
    403: "permission_error",
    404: "not_found_error",
    409: "conflict_error",
    413: "request_too_large",
    429: "rate_limit_error",
    500: "api_error",
    504: "timeout_error",
    529: "overloaded_error",
}
# The status each error type stands for (an error event mid-stream carries no status of its own).
ERROR_STATUS = {error_type: status for status, error_type in ERROR_TYPES.items()}

# Anthropic stop_reason -> OpenAI finish_reason, and back.
FINISH_REASONS = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "pause_turn": "stop",
    "max_tokens": "length",
    "model_context_window_exceeded": "length",
    "tool_use": "tool_calls",
    "refusal": "content_filter",
}
STOP_REASONS = {
    "stop": "end_turn",
    "length": "max_tokens",
    "tool_calls": "tool_use",
    "function_call": "tool_use",
    "content_filter": "refusal",
}


def error_type_for(status: int) -> str:
    return ERROR_TYPES.get(status) or ("api_error" if status >= 500 else "invalid_request_error")


def error_body(status: int, message: str, *, request_id: str | None = None) -> dict[str, Any]:
    """Anthropic's error envelope {"type": "error", "error": {"type", "message"}} (+ request_id)."""
    body: dict[str, Any] = {"type": "error", "error": {"type": error_type_for(status), "message": message}}
    if request_id:
        body["request_id"] = request_id
    return body


def message(
    identifier: str, model: str, content: list[dict[str, Any]], stop_reason: str | None, usage: dict[str, int]
) -> dict[str, Any]:
    """A Messages API response object (also the `message` of a message_start event, with no content yet)."""
    return {
        "id": identifier,
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": content,
        "stop_reason": stop_reason,
        "stop_sequence": None,
        "usage": usage,
    }


def sse(event: str, data: dict[str, Any]) -> bytes:
    """One server-sent event as Anthropic frames it: `event: X\\ndata: {...}\\n\\n`."""
    return f"event: {event}\ndata: {json.dumps(data, separators=(',', ':'))}\n\n".encode()


def thinking_block(block: dict[str, Any]) -> dict[str, Any]:
    """A thinking block with only the fields Anthropic takes back (signed thinking, or redacted)."""
    if block.get("type") == "redacted_thinking":
        return {"type": "redacted_thinking", "data": str(block.get("data") or "")}
    thinking, signature = str(block.get("thinking") or ""), str(block.get("signature") or "")
    return {"type": "thinking", "thinking": thinking, "signature": signature}


# Anthropic's signed thinking carried through another vendor's opaque field (a Responses reasoning
# item's encrypted_content, a Gemini thoughtSignature), so a client that sends it back gives Claude its
# thinking again: CARRIED + the blocks as JSON, each carrier wrapping it in the encoding its field takes.
CARRIED = "gw1."


def carried_blocks(blocks: list[dict[str, Any]]) -> bytes:
    """Thinking blocks as the JSON a carrier wraps."""
    return json.dumps(blocks, separators=(",", ":"), ensure_ascii=False).encode()


def blocks_carried(data: bytes) -> list[dict[str, Any]] | None:
    """The thinking blocks of a carrier's JSON; None when it is not a list of blocks."""
    try:
        blocks = json.loads(data)
    except (ValueError, RecursionError):  # RecursionError: nested past the parser's limit
        return None
    if not isinstance(blocks, list) or not all(isinstance(block, dict) for block in blocks):
        return None
    return blocks


class ThinkingBlocks:
    """Signed thinking blocks assembled from a canonical stream's deltas, as Anthropic takes them back:
    reasoning text accumulates until a thinking block's signature closes it (a block that brings its
    own text keeps that); redacted blocks as they come."""

    def __init__(self) -> None:
        self.blocks: list[dict[str, Any]] = []
        self._text = ""  # reasoning text since the last block closed

    def feed(self, delta: Mapping[str, Any]) -> int:
        """Takes a delta's reasoning text and blocks; returns how many blocks it closed."""
        reasoning = delta.get("reasoning_content") or delta.get("reasoning")
        if isinstance(reasoning, str):
            self._text += reasoning
        closed = 0
        for block in delta.get("thinking_blocks") or []:
            if isinstance(block, dict) and block.get("type") == "thinking":
                text = block.get("thinking") or self._text
                self.blocks.append({"type": "thinking", "thinking": text, "signature": block.get("signature") or ""})
                self._text, closed = "", closed + 1
            elif isinstance(block, dict) and block.get("type") == "redacted_thinking":
                self.blocks.append({"type": "redacted_thinking", "data": block.get("data") or ""})
                closed += 1
        return closed
