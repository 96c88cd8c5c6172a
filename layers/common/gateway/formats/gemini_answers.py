"""Canonical answers as Gemini answers, for clients of the Gemini format: a whole
GenerateContentResponse, the stream's chunks (and their SSE bytes), and Google's error envelope. Pure."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from gateway.canonical import Body, ChatChunk, ChatCompletion, StreamEvent, Usage
from gateway.dialects.anthropic import ThinkingBlocks
from gateway.dialects.gemini import (
    call_signature,
    carried_thinking,
    finish_from_openai,
    status_name,
    usage_from_openai,
)
from gateway.errors import GatewayError
from gateway.formats.inbound import Encoder, Exchange, InboundFormat


def _parts(message: dict[str, Any], with_calls: bool = True) -> list[dict[str, Any]]:
    parts: list[dict[str, Any]] = []
    reasoning = message.get("reasoning_content") or message.get("reasoning")
    if isinstance(reasoning, str) and reasoning:
        parts.append({"text": reasoning, "thought": True})
    if isinstance(message.get("content"), str) and message["content"]:
        parts.append({"text": message["content"]})
    calls = [_call_part(call) for call in (message.get("tool_calls") or [])] if with_calls else []
    return parts + _with_thinking(calls, message.get("thinking_blocks"))


def _with_thinking(calls: list[dict[str, Any]], blocks: Any) -> list[dict[str, Any]]:
    """Another vendor's signed thinking rides on the first call as its thoughtSignature: the model gets
    it back with the call (Anthropic refuses a tool loop whose last turn lost it)."""
    if calls and blocks and isinstance(blocks, list) and "thoughtSignature" not in calls[0]:
        calls[0] = {**calls[0], "thoughtSignature": carried_thinking(blocks)}
    return calls


def _call_part(call: dict[str, Any]) -> dict[str, Any]:
    function = call.get("function") or {}
    try:
        args = json.loads(function.get("arguments") or "{}")
    except (ValueError, RecursionError):
        args = {}
    function_call = {"name": function.get("name"), "args": args if isinstance(args, dict) else {}}
    if call.get("id"):
        function_call = {"id": call["id"], **function_call}
    part: dict[str, Any] = {"functionCall": function_call}
    if (signature := call_signature(call)) is not None:
        part["thoughtSignature"] = signature
    return part


def _respond(payload: ChatCompletion, exchange: Exchange) -> Body:
    return from_openai_response(payload, exchange.model)


def from_openai_response(payload: Mapping[str, Any], model: str) -> dict[str, Any]:
    """An OpenAI chat.completion as a GenerateContentResponse."""
    candidates: list[dict[str, Any]] = []
    for position, choice in enumerate(payload.get("choices") or []):
        candidate: dict[str, Any] = {}
        reason = finish_from_openai(choice.get("finish_reason"))
        parts = _parts(choice.get("message") or {})
        if parts or reason != "SAFETY":  # an empty answer still has content, or the SDK's chat drops the turn
            candidate["content"] = {"parts": parts or [{"text": ""}], "role": "model"}
        candidate["finishReason"] = reason
        candidate["index"] = choice.get("index", position)
        candidates.append(candidate)
    response: dict[str, Any] = {"candidates": candidates}
    if isinstance(payload.get("usage"), dict):
        response["usageMetadata"] = usage_from_openai(payload["usage"])
    response["modelVersion"] = model
    if payload.get("id"):
        response["responseId"] = str(payload["id"])
    return response


def error_body(status: int, message: str) -> dict[str, Any]:
    """Google's error envelope; the status name follows google.rpc (see dialects.gemini)."""
    return {"error": {"code": status, "message": message, "status": status_name(status)}}


def sse(payload: dict[str, Any]) -> bytes:
    """One SSE event as Google frames them (`data: {...}` + CRLF CRLF). Characters some SSE line
    splitters treat as line breaks (U+0085, U+2028, U+2029) are escaped."""
    text = json.dumps(payload, ensure_ascii=False, separators=(",", ":"))
    for char in ("\u0085", "\u2028", "\u2029"):
        text = text.replace(char, f"\\u{ord(char):04x}")
    return f"data: {text}\r\n\r\n".encode()


class StreamEncoder:
    """OpenAI chat.completion.chunk dicts as streamed GenerateContentResponse chunks.

    Text and reasoning deltas go out as they come; tool calls are buffered until their choice's
    finish chunk (Gemini sends calls whole) and go out together. Every chunk's first candidate has
    content with parts (the google-genai chat keeps a turn in its history only if each chunk has).
    `finish(usage)` ends the stream with finishReason and usageMetadata.
    """

    def __init__(self, model: str) -> None:
        self.model = model
        self._id: str | None = None
        self._calls: dict[int, dict[int, dict[str, Any]]] = {}
        self._reasons: dict[int, str | None] = {}
        self._usage: dict[str, Any] | None = None
        self._thinking = ThinkingBlocks()  # another vendor's signed thinking, for the calls

    def _response(self, candidates: list[dict[str, Any]]) -> dict[str, Any]:
        response: dict[str, Any] = {"candidates": candidates, "modelVersion": self.model}
        if self._id:
            response["responseId"] = self._id
        return response

    def feed(self, chunk: Mapping[str, Any]) -> list[dict[str, Any]]:
        if self._id is None and chunk.get("id"):
            self._id = str(chunk["id"])
        if isinstance(chunk.get("usage"), dict):
            self._usage = chunk["usage"]
        out: list[dict[str, Any]] = []
        for position, choice in enumerate(chunk.get("choices") or []):
            index, delta = choice.get("index", position), choice.get("delta") or {}
            self._reasons.setdefault(index, None)
            for call in delta.get("tool_calls") or []:
                slot = self._calls.setdefault(index, {}).setdefault(call.get("index", 0), {"function": {}})
                if call.get("id"):
                    slot["id"] = call["id"]
                if call.get("extra_content"):
                    slot["extra_content"] = call["extra_content"]
                function = call.get("function") or {}
                slot["function"]["name"] = slot["function"].get("name") or function.get("name")
                slot["function"]["arguments"] = slot["function"].get("arguments", "") + (
                    function.get("arguments") or ""
                )
            self._thinking.feed(delta)
            parts = _parts(delta, with_calls=False)
            if choice.get("finish_reason"):
                self._reasons[index] = choice["finish_reason"]
                parts += self._flush(index)
            if parts:
                out.append(self._response([{"content": {"parts": parts, "role": "model"}, "index": index}]))
        return out

    def _flush(self, index: int) -> list[dict[str, Any]]:
        calls = self._calls.pop(index, {})
        return _with_thinking([_call_part(calls[number]) for number in sorted(calls)], self._thinking.blocks)

    def finish(self, usage: Usage | dict[str, Any] | None = None) -> list[dict[str, Any]]:
        """The last chunk: each candidate's finishReason (and calls never closed), with usageMetadata."""
        candidates = []
        for index in sorted(self._reasons or {0: None}):
            parts = self._flush(index) or [{"text": ""}]
            reason = finish_from_openai(self._reasons.get(index))
            candidates.append({"content": {"parts": parts, "role": "model"}, "finishReason": reason, "index": index})
        response = self._response(candidates)
        if isinstance(usage, Usage):
            details = (self._usage or {}).get("completion_tokens_details")  # the thinking tokens' share
            usage = {
                "prompt_tokens": usage.prompt_tokens,
                "completion_tokens": usage.completion_tokens,
                "prompt_tokens_details": {"cached_tokens": usage.cached_tokens},
                **({"completion_tokens_details": details} if isinstance(details, dict) else {}),
            }
        usage = usage if usage is not None else self._usage
        if usage is not None:
            response["usageMetadata"] = usage_from_openai(usage)
        return [response]

    def error_event(self, status: int, message: str) -> dict[str, Any]:
        """The error envelope to send as the stream's last `data:` event (the SDK raises APIError)."""
        return error_body(status, message)


class GeminiEncoder:
    """The stream as SSE bytes; a Gemini upstream's own events pass through."""

    # An empty line: the google-genai SDKs skip it (Python skips blank lines, JavaScript whitespace
    # before `data: `), but read an SSE comment as JSON and fail
    heartbeat = b"\r\n"

    def __init__(self, model: str) -> None:
        self.chunks = StreamEncoder(model)

    def feed(self, chunk: ChatChunk) -> bytes:
        return b"".join(sse(payload) for payload in self.chunks.feed(chunk))

    def passthrough(self, event: StreamEvent) -> bytes:
        return event.raw or b""

    def finish(self, usage: Usage | None, *, native: bool, cost: int) -> bytes:
        return b"" if native else b"".join(sse(payload) for payload in self.chunks.finish(usage))

    def error(self, error: GatewayError) -> bytes:
        return sse(self.chunks.error_event(error.status, error.message))


def _encoder(exchange: Exchange) -> Encoder:
    return GeminiEncoder(exchange.model)


def _error_body(error: GatewayError) -> Body:
    """Google's envelope names the field in a BadRequest detail, as Google's API does."""
    body = error_body(error.status, error.message)
    if error.param:
        violation = {"field": error.param, "description": error.message}
        body["error"]["details"] = [
            {"@type": "type.googleapis.com/google.rpc.BadRequest", "fieldViolations": [violation]}
        ]
    return body


def _capped(body: Body, tokens: int) -> Body:
    config = body.get("generationConfig")
    return {**body, "generationConfig": {**(config or {}), "maxOutputTokens": tokens}}


FORMAT = InboundFormat("gemini", _respond, _encoder, _error_body, _capped)
