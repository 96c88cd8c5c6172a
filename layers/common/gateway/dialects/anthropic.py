"""Anthropic's wire vocabulary, shared by both directions: the gateway calling Anthropic
(providers.anthropic) and clients calling the gateway in Anthropic's format (formats.anthropic).
Pure data and framing, no I/O."""

from __future__ import annotations

import json
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
