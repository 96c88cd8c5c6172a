"""Canonical answers as Anthropic Messages answers, for clients of the Anthropic format: a whole
message, the stream's events (and their SSE bytes), and the error envelope. Pure."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from gateway.canonical import Body, ChatChunk, ChatCompletion, StreamEvent, Usage, usage_from
from gateway.dialects import anthropic as wire
from gateway.dialects.anthropic import STOP_REASONS, thinking_block
from gateway.errors import GatewayError, ProviderError
from gateway.formats.inbound import Encoder, Exchange, InboundFormat

Event = tuple[str, dict[str, Any]]


def _obj(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def message_id(openai_id: Any) -> str:
    text = str(openai_id or "unknown")
    return text if text.startswith("msg_") else "msg_" + text.removeprefix("chatcmpl-")


def _usage(usage: Any) -> dict[str, int]:
    """Anthropic's input_tokens excludes cache reads and writes; OpenAI's prompt_tokens includes them."""
    counted = usage_from({"usage": usage}) or Usage(0, 0)
    written = _obj(_obj(usage).get("prompt_tokens_details")).get("cache_write_tokens")
    written = written if isinstance(written, int) and written > 0 else 0
    return {
        "input_tokens": max(counted.prompt_tokens - counted.cached_tokens - written, 0),
        "output_tokens": counted.completion_tokens,
        "cache_creation_input_tokens": written,
        "cache_read_input_tokens": counted.cached_tokens,
    }


def _input(arguments: Any, *, cut: bool) -> dict[str, Any]:
    """A tool call's arguments as its `input`; cut by the output cap (`cut`), arguments that do not
    parse are left out, as Anthropic answers a tool call cut by `max_tokens`."""
    try:
        parsed = json.loads(arguments) if isinstance(arguments, str) and arguments.strip() else {}
    except (ValueError, RecursionError):
        parsed = None
    if not isinstance(parsed, dict):
        if cut:
            return {}
        raise ProviderError("the provider returned tool call arguments that are not a JSON object")
    return parsed


def _respond(payload: ChatCompletion, exchange: Exchange) -> Body:
    return from_openai_response(payload, exchange.model)


def from_openai_response(payload: Mapping[str, Any], model: str) -> dict[str, Any]:
    """An Anthropic message from an OpenAI chat.completion (its first choice)."""
    choice = _obj((payload.get("choices") or [None])[0])
    message = _obj(choice.get("message"))
    content = [thinking_block(block) for block in message.get("thinking_blocks") or [] if isinstance(block, dict)]
    reasoning = message.get("reasoning_content") or message.get("reasoning")
    if not content and isinstance(reasoning, str) and reasoning:
        content.append({"type": "thinking", "thinking": reasoning, "signature": ""})
    text = message.get("content")
    if isinstance(text, list):
        text = "".join(str(_obj(part).get("text") or _obj(part).get("refusal") or "") for part in text)
    text = text or message.get("refusal")
    if isinstance(text, str) and text:
        content.append({"type": "text", "text": text})
    stop_reason = STOP_REASONS.get(str(choice.get("finish_reason")), "end_turn")
    for call in message.get("tool_calls") or []:
        function = _obj(_obj(call).get("function"))
        arguments = _input(function.get("arguments"), cut=stop_reason == "max_tokens")
        content.append({"type": "tool_use", "id": call.get("id"), "name": function.get("name"), "input": arguments})
    return wire.message(message_id(payload.get("id")), model, content, stop_reason, _usage(payload.get("usage")))


class StreamEncoder:
    """OpenAI chat.completion.chunk dicts -> Anthropic SSE events (name, data), in Anthropic's order:
    message_start, per block content_block_start / _delta... / _stop, then message_delta and
    message_stop from `finish()` once the upstream is done (its usage chunk comes after the finish)."""

    def __init__(self, model: str, *, message_id: str | None = None, input_tokens: int | None = None) -> None:
        self.model = model
        self.message_id = message_id
        self.input_tokens = input_tokens or 0
        self._started = False
        self._next_index = 0
        self._open: str | None = None  # "text", "thinking", "tool" or "redacted"
        self._tool_index: Any = None
        self._stop_reason: str | None = None
        self._usage: Usage | None = None

    def feed(self, chunk: Mapping[str, Any]) -> list[Event]:
        events = self._start(chunk.get("id"))
        self._usage = usage_from(chunk) or self._usage
        choice = _obj((chunk.get("choices") or [None])[0])
        delta = _obj(choice.get("delta"))
        reasoning = delta.get("reasoning_content") or delta.get("reasoning")
        if isinstance(reasoning, str) and reasoning:
            events += self._block("thinking", {"type": "thinking", "thinking": "", "signature": ""})
            events.append(self._delta({"type": "thinking_delta", "thinking": reasoning}))
        for block in map(_obj, delta.get("thinking_blocks") or []):
            if block.get("type") == "thinking" and block.get("signature"):
                events += self._block("thinking", {"type": "thinking", "thinking": "", "signature": ""})
                events.append(self._delta({"type": "signature_delta", "signature": block["signature"]}))
            elif block.get("type") == "redacted_thinking":
                events += self._block("redacted", thinking_block(block)) + self._close()
        text = delta.get("content") or delta.get("refusal")
        if isinstance(text, str) and text:
            events += self._block("text", {"type": "text", "text": ""})
            events.append(self._delta({"type": "text_delta", "text": text}))
        for call in map(_obj, delta.get("tool_calls") or []):
            function = _obj(call.get("function"))
            if self._open != "tool" or self._tool_index != call.get("index", 0):
                events += self._close()
                tool_id = call.get("id") or f"toolu_{self._next_index}_{self.message_id}"
                block = {"type": "tool_use", "id": tool_id, "name": function.get("name") or "", "input": {}}
                events += self._block("tool", block)
                self._tool_index = call.get("index", 0)
            if function.get("arguments"):
                events.append(self._delta({"type": "input_json_delta", "partial_json": function["arguments"]}))
        if choice.get("finish_reason"):
            self._stop_reason = STOP_REASONS.get(choice["finish_reason"], "end_turn")
            events += self._close()
        return events

    def finish(self, usage: Usage | None = None) -> list[Event]:
        """Closes the message; `usage` (else the stream's own usage chunk) gives the final token counts."""
        events = self._start(None) + self._close()
        usage = usage or self._usage
        counts: dict[str, int] = {"output_tokens": usage.completion_tokens if usage else 0}
        if usage is not None:  # cumulative: corrects message_start's input count, which may have been unknown
            counts = {  # Anthropic's input_tokens excludes cache reads and writes, as `_usage` says
                "input_tokens": max(usage.prompt_tokens - usage.cached_tokens - usage.cache_write_tokens, 0),
                "cache_creation_input_tokens": usage.cache_write_tokens,
                "cache_read_input_tokens": usage.cached_tokens,
                **counts,
            }
        delta = {"stop_reason": self._stop_reason or "end_turn", "stop_sequence": None}
        events.append(("message_delta", {"type": "message_delta", "delta": delta, "usage": counts}))
        events.append(("message_stop", {"type": "message_stop"}))
        return events

    def error(self, message: str, error_type: str = "api_error") -> Event:
        """A terminal error event; the anthropic SDK raises it as an APIStatusError."""
        return "error", {"type": "error", "error": {"type": error_type, "message": message}}

    def _start(self, openai_id: Any) -> list[Event]:
        if self._started:
            return []
        self._started = True
        self.message_id = self.message_id or message_id(openai_id)
        usage = {"input_tokens": self.input_tokens, "output_tokens": 0}
        start = wire.message(self.message_id, self.model, [], None, usage)
        return [("message_start", {"type": "message_start", "message": start})]

    def _block(self, kind: str, block: dict[str, Any]) -> list[Event]:
        if self._open == kind:
            return []
        events = self._close()
        self._open = kind
        events.append(
            ("content_block_start", {"type": "content_block_start", "index": self._next_index, "content_block": block})
        )
        return events

    def _delta(self, delta: dict[str, Any]) -> Event:
        return "content_block_delta", {"type": "content_block_delta", "index": self._next_index, "delta": delta}

    def _close(self) -> list[Event]:
        if self._open is None:
            return []
        self._open, self._tool_index = None, None
        index, self._next_index = self._next_index, self._next_index + 1
        return [("content_block_stop", {"type": "content_block_stop", "index": index})]


class AnthropicEncoder:
    """The stream as SSE bytes; an Anthropic upstream's own events pass through, its message_stop
    held back until the stream is settled."""

    def __init__(self, model: str) -> None:
        self.events = StreamEncoder(model)
        self.stop = b""  # the upstream's own message_stop

    def feed(self, chunk: ChatChunk) -> bytes:
        return b"".join(wire.sse(name, data) for name, data in self.events.feed(chunk))

    def passthrough(self, event: StreamEvent) -> bytes:
        raw = event.raw or b""
        if raw.startswith(b"event: message_stop"):
            self.stop = raw
            return b""
        return raw

    def finish(self, usage: Usage | None, *, native: bool, cost: int) -> bytes:
        if native:
            return self.stop
        return b"".join(wire.sse(name, data) for name, data in self.events.finish(usage))

    def error(self, error: GatewayError) -> bytes:
        return wire.sse(*self.events.error(error.message, wire.error_type_for(error.status)))


def _encoder(exchange: Exchange) -> Encoder:
    return AnthropicEncoder(exchange.model)


def _error_body(error: GatewayError) -> Body:
    """Anthropic's envelope has no `param`: the message names the field."""
    return wire.error_body(error.status, named(error))


# Fields of the canonical body a translator's refusal may name, as an Anthropic client sends them
CLIENT_FIELDS = {
    "max_completion_tokens": "max_tokens",
    "stop": "stop_sequences",
    "response_format": "output_config.format",
}


def named(error: GatewayError) -> str:
    """The error's message, naming its field (as the client sent it) when the message does not already."""
    message, param = error.message, CLIENT_FIELDS.get(error.param or "", error.param)
    for canonical, own in CLIENT_FIELDS.items():
        message = message.replace(f"`{canonical}`", f"`{own}`")
    if param and f"`{param}`" not in message and f"'{param}'" not in message:
        return f"{message.rstrip('.')} (`{param}`)."
    return message


def _capped(body: Body, tokens: int) -> Body:
    return {**body, "max_tokens": tokens}


FORMAT = InboundFormat("anthropic", _respond, _encoder, _error_body, _capped)
