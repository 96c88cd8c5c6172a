"""Pure translation between our OpenAI-format requests and an OpenAI-compatible upstream."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from gateway.providers.errors import error_member


@dataclass(frozen=True)
class Usage:
    prompt_tokens: int
    completion_tokens: int
    cached_tokens: int = 0  # read from a prompt cache (part of prompt_tokens)
    cache_write_tokens: int = 0  # written to a prompt cache (part of prompt_tokens; Anthropic, Bedrock)
    audio_tokens: int = 0  # prompt tokens of audio (part of prompt_tokens), dearer on some models
    cache_write_1h_tokens: int = 0  # of cache_write_tokens, those kept for an hour (Anthropic: dearer)


@dataclass(frozen=True)
class ChunkInfo:
    """What the gateway needs to know about one streamed chunk."""

    usage: Usage | None
    usage_only: bool  # the extra final chunk carrying usage and no choices
    text_bytes: int  # bytes of generated content in the chunk (for a usage guess if none comes)
    error: dict[str, Any] | None = None


def chat_request(body: dict[str, Any], upstream_model: str) -> dict[str, Any]:
    """The upstream body: the client's, with the upstream's model name; streams always report usage."""
    request = {**body, "model": upstream_model}
    if request.get("stream"):
        request["stream_options"] = {**(request.get("stream_options") or {}), "include_usage": True}
    else:
        request.pop("stream_options", None)
    return request


# Fields other formats' requests carry in the canonical body that OpenAI itself would refuse.
_EXTENSIONS = ("reasoning", "top_k")


def from_canonical(body: dict[str, Any]) -> dict[str, Any]:
    """A canonical body (translated from another format) as OpenAI takes it: the gateway's extensions
    mapped where OpenAI has an equivalent (reasoning effort) and otherwise left out."""
    request = {name: value for name, value in body.items() if name not in _EXTENSIONS}
    reasoning = body.get("reasoning")
    if isinstance(reasoning, dict) and isinstance(reasoning.get("effort"), str) and "reasoning_effort" not in body:
        request["reasoning_effort"] = reasoning["effort"]
    request["messages"] = [_plain_message(message) for message in body.get("messages") or []]
    if isinstance(body.get("tools"), list):
        request["tools"] = [_without(tool, "cache_control") for tool in body["tools"]]
    return request


def _plain_message(message: Any) -> Any:
    if not isinstance(message, dict):
        return message
    plain = _without(message, "thinking_blocks", "cache_control")
    if isinstance(plain.get("content"), list):
        plain["content"] = [_without(part, "cache_control") for part in plain["content"]]
    return plain


def _without(value: Any, *names: str) -> Any:
    return {k: v for k, v in value.items() if k not in names} if isinstance(value, dict) else value


def usage_from(payload: dict[str, Any]) -> Usage | None:
    usage = payload.get("usage")
    if not isinstance(usage, dict):
        return None
    prompt, completion = usage.get("prompt_tokens"), usage.get("completion_tokens")
    if not isinstance(prompt, int) or not isinstance(completion, int) or prompt < 0 or completion < 0:
        return None
    details = usage.get("prompt_tokens_details")
    details = details if isinstance(details, dict) else {}
    return Usage(
        prompt,
        completion,
        _positive(details.get("cached_tokens")),
        _positive(details.get("cache_write_tokens")),
        _positive(details.get("audio_tokens")),
        _positive(details.get("cache_write_1h_tokens")),
    )


def _positive(count: Any) -> int:
    return count if isinstance(count, int) and count > 0 else 0


def completion_text_bytes(payload: dict[str, Any]) -> int:
    """Bytes of generated text in a completion (message) or a chunk (delta)."""
    total = 0
    for choice in payload.get("choices") or []:
        if not isinstance(choice, dict):
            continue
        part = choice.get("message") or choice.get("delta") or {}
        if not isinstance(part, dict):
            continue
        for field in ("content", "reasoning_content", "reasoning", "refusal"):
            value = part.get(field)
            if isinstance(value, str):
                total += len(value.encode("utf-8"))
        calls = [*(part.get("tool_calls") or []), {"function": part.get("function_call")}]
        for call in calls:
            function = call.get("function") if isinstance(call, dict) else None
            if isinstance(function, dict):
                total += sum(len(str(function.get(k) or "").encode("utf-8")) for k in ("name", "arguments"))
    return total


def chunk_info(data: str) -> ChunkInfo:
    """Classify one SSE `data:` payload (not `[DONE]`)."""
    try:
        chunk = json.loads(data)
    except ValueError:
        return ChunkInfo(usage=None, usage_only=False, text_bytes=0)
    if not isinstance(chunk, dict):
        return ChunkInfo(usage=None, usage_only=False, text_bytes=0)
    if isinstance(chunk.get("error"), dict):
        return ChunkInfo(usage=None, usage_only=False, text_bytes=0, error=chunk["error"])
    usage = usage_from(chunk)
    return ChunkInfo(
        usage=usage,
        usage_only=usage is not None and not chunk.get("choices"),
        text_bytes=completion_text_bytes(chunk),
    )


def error_from(status: int, body: bytes) -> tuple[str, str | None, str | None]:
    """(message, code, param) from an OpenAI-style error body, or a plain description."""
    error = error_member(body)
    if isinstance(error, dict) and isinstance(error.get("message"), str):
        code = error.get("code") or error.get("type")
        param = error.get("param")
        return error["message"], str(code) if code else None, str(param) if param else None
    if isinstance(error, str):
        return error, None, None
    return f"upstream answered HTTP {status}", None, None


def error_chunk(message: str, code: str, error_type: str = "api_error") -> str:
    """A terminal SSE event in OpenAI's shape; the openai SDK raises APIError on it."""
    return json.dumps({"error": {"message": message, "type": error_type, "code": code, "param": None}})
