"""The Responses API's objects as the gateway builds them: a `response` (with what it echoes of its
request), its output items (messages, function calls, reasoning), its usage, and an upstream's
response made the gateway's. Pure."""

from __future__ import annotations

import json
import secrets
from collections.abc import Mapping
from typing import Any

from gateway.canonical import Usage
from gateway.formats.responses import ResponseContext
from gateway.formats.responses_thinking import encoded_thinking

TERMINAL = ("response.completed", "response.incomplete", "response.failed")
LIFECYCLE = ("response.created", "response.in_progress", "response.queued", *TERMINAL)
INCOMPLETE = {"length": "max_output_tokens", "content_filter": "content_filter"}


def new_id(prefix: str) -> str:
    return f"{prefix}_{secrets.token_hex(24)}"


def _obj(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def response_object(
    context: ResponseContext,
    model: str,
    status: str,
    output: list[dict[str, Any]],
    usage: dict[str, Any] | None = None,
    incomplete: str | None = None,
) -> dict[str, Any]:
    """A `response` object: the answer so far, with the request it echoes."""
    echo = context.echo
    return {
        "id": context.id,
        "object": "response",
        "created_at": context.created_at,
        "status": status,
        "background": False,
        "error": None,
        "incomplete_details": {"reason": incomplete} if incomplete else None,
        "instructions": echo.get("instructions"),
        "max_output_tokens": echo.get("max_output_tokens"),
        "max_tool_calls": echo.get("max_tool_calls"),
        "model": model,
        "output": output,
        "parallel_tool_calls": echo.get("parallel_tool_calls", True),
        "previous_response_id": echo.get("previous_response_id"),
        "reasoning": {"effort": None, "summary": None, **_obj(echo.get("reasoning"))},
        "store": context.store,
        "temperature": echo.get("temperature", 1.0),
        "text": echo.get("text") or {"format": {"type": "text"}},
        "tool_choice": echo.get("tool_choice", "auto"),
        "tools": echo.get("tools") or [],
        "top_p": echo.get("top_p", 1.0),
        "truncation": echo.get("truncation", "disabled"),
        "usage": usage,
        "user": echo.get("user"),
        "metadata": echo.get("metadata") or {},
    }


def usage_object(usage: Usage | None, reasoning_tokens: int = 0) -> dict[str, Any] | None:
    if usage is None:
        return None
    return {
        "input_tokens": usage.prompt_tokens,
        "input_tokens_details": {"cached_tokens": usage.cached_tokens},
        "output_tokens": usage.completion_tokens,
        "output_tokens_details": {"reasoning_tokens": reasoning_tokens},
        "total_tokens": usage.prompt_tokens + usage.completion_tokens,
    }


def reasoning_tokens(usage: Any) -> int:
    details = _obj(_obj(usage).get("completion_tokens_details"))
    count = details.get("reasoning_tokens")
    return count if isinstance(count, int) and count > 0 else 0


def reasoning_item(item_id: str, text: str, blocks: list[dict[str, Any]]) -> dict[str, Any]:
    item: dict[str, Any] = {
        "type": "reasoning",
        "id": item_id,
        "summary": [{"type": "summary_text", "text": text}] if text else [],
    }
    if blocks:
        item["encrypted_content"] = encoded_thinking(blocks)
    return item


def message_item(item_id: str, text: str, status: str = "completed") -> dict[str, Any]:
    content = [{"type": "output_text", "text": text, "annotations": [], "logprobs": []}] if text else []
    return {"type": "message", "id": item_id, "status": status, "role": "assistant", "content": content}


def call_item(item_id: str, call_id: Any, name: Any, arguments: str, status: str = "completed") -> dict[str, Any]:
    return {
        "type": "function_call",
        "id": item_id,
        "call_id": str(call_id or item_id),
        "name": str(name or ""),
        "arguments": arguments,
        "status": status,
    }


def own(response: Mapping[str, Any], context: ResponseContext) -> dict[str, Any]:
    """An upstream's response object as the gateway's: its id, and what the client asked of it."""
    echo = context.echo
    return {
        **response,
        "id": context.id,
        "store": context.store,
        "previous_response_id": echo.get("previous_response_id"),
        "metadata": echo.get("metadata") or {},
    }


def sse(payload: dict[str, Any]) -> bytes:
    return f"event: {payload['type']}\ndata: {json.dumps(payload, separators=(',', ':'))}\n\n".encode()
