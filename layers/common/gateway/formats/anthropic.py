"""Anthropic Messages as an inbound format (POST /v1/messages: the anthropic SDK, Claude Code).

The request is checked here and turned into the gateway's canonical OpenAI chat body; answers and
stream chunks go back from OpenAI's shape into Anthropic's wire format. Pure functions. Anthropic
features with an OpenAI-side convention travel as gateway extensions: `reasoning` (thinking),
`thinking_blocks` (signed thinking on assistant turns) and `cache_control` on content parts.
"""

from __future__ import annotations

import json
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from gateway.errors import InvalidRequest, ProviderError
from gateway.formats.wire import MAX_OUTPUT_TOKENS, OutputTokens, TopK, UnitInterval, WireModel
from gateway.providers.anthropic import wire
from gateway.providers.anthropic.wire import ERROR_TYPES, STOP_REASONS, error_body, error_type_for, sse
from gateway.providers.openai.transform import Usage, usage_from

__all__ = [
    "ERROR_TYPES",
    "MessageParam",
    "MessagesRequest",
    "StreamEncoder",
    "error_body",
    "error_type_for",
    "from_openai_response",
    "sse",
    "to_openai",
]

# Anthropic-only request fields whose effect the canonical body cannot carry.
UNSUPPORTED_FIELDS = ("mcp_servers", "container", "context_management")

Event = tuple[str, dict[str, Any]]


class MessageParam(BaseModel):
    model_config = ConfigDict(extra="allow")

    role: Literal["user", "assistant"]
    content: str | list[dict[str, Any]]


class ThinkingConfig(BaseModel):
    model_config = ConfigDict(extra="allow")

    type: Literal["enabled", "disabled", "adaptive"]
    budget_tokens: Annotated[int, Field(strict=True, ge=1024, le=MAX_OUTPUT_TOKENS)] | None = None


class MessagesRequest(WireModel):
    """Every numeric field is bounded here: a hostile number is a 400 before any credit moves."""

    model_config = ConfigDict(extra="allow")

    model: str = Field(min_length=1, max_length=256)
    max_tokens: OutputTokens
    messages: list[MessageParam] = Field(min_length=1, max_length=10_000)
    system: str | list[dict[str, Any]] | None = None
    stream: bool = False
    temperature: UnitInterval | None = None
    top_p: UnitInterval | None = None
    top_k: TopK | None = None
    stop_sequences: list[str] | None = None
    tools: list[dict[str, Any]] | None = None
    tool_choice: dict[str, Any] | None = None
    thinking: ThinkingConfig | None = None
    metadata: dict[str, Any] | None = None

    def requested_output_tokens(self) -> int:
        return self.max_tokens

    def wire_body(self) -> dict[str, Any]:
        """The body as the client sent it (fields it did not send stay absent)."""
        return self.model_dump(mode="json", exclude_unset=True)


def _obj(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


# ---------------------------------------------------------------- request -> OpenAI


def to_openai(body: dict[str, Any], *, allow_top_k: bool = False) -> dict[str, Any]:
    """The canonical OpenAI chat body for an Anthropic Messages request; Anthropic-only fields stay out."""
    for name in UNSUPPORTED_FIELDS:
        if body.get(name):
            raise InvalidRequest(f"'{name}' is not supported by this gateway", param=name)
    messages: list[dict[str, Any]] = []
    system = body.get("system")
    if isinstance(system, str) and system:
        messages.append({"role": "system", "content": system})
    elif isinstance(system, list) and system:
        messages.append({"role": "system", "content": [_part(block, "system", text_only=True) for block in system]})
    for i, message in enumerate(body.get("messages") or []):
        messages += _message(_obj(message), f"messages[{i}]")
    request: dict[str, Any] = {"model": body.get("model"), "messages": messages}
    if body.get("max_tokens") is not None:
        request["max_completion_tokens"] = body["max_tokens"]
    for name in ("temperature", "top_p"):
        if body.get(name) is not None:
            request[name] = body[name]
    if body.get("top_k") is not None:
        if not allow_top_k:
            raise InvalidRequest("'top_k' is not supported for this model", param="top_k")
        request["top_k"] = body["top_k"]
    if body.get("stop_sequences"):
        request["stop"] = list(body["stop_sequences"])
    if body.get("stream"):
        request["stream"] = True
        request["stream_options"] = {"include_usage": True}
    if body.get("tools"):
        request["tools"] = [_tool(_obj(tool), f"tools[{i}]") for i, tool in enumerate(body["tools"])]
    if body.get("tool_choice"):
        _tool_choice(_obj(body["tool_choice"]), request)
    _reasoning(_obj(body.get("thinking")), _obj(body.get("output_config")), request)
    user = _obj(body.get("metadata")).get("user_id")
    if isinstance(user, str) and user:
        request["user"] = user
    return request


def _message(message: dict[str, Any], where: str) -> list[dict[str, Any]]:
    role, content = message.get("role"), message.get("content")
    if isinstance(content, str):
        return [{"role": role, "content": content}]
    if not isinstance(content, list):
        raise InvalidRequest("content must be a string or a list of blocks", param=f"{where}.content")
    if role == "assistant":
        return [_assistant(content, where)]
    tools: list[dict[str, Any]] = []
    parts: list[dict[str, Any]] = []
    for j, block in enumerate(content):
        if _obj(block).get("type") == "tool_result":
            text, images = _tool_result(block.get("content"), f"{where}.content[{j}]")
            tools.append({"role": "tool", "tool_call_id": block.get("tool_use_id"), "content": text})
            parts += images  # OpenAI tool messages hold text only: images follow in the user turn
        else:
            parts.append(_part(block, f"{where}.content[{j}]"))
    return tools + ([{"role": "user", "content": parts}] if parts else [])


def _part(block: Any, where: str, *, text_only: bool = False) -> dict[str, Any]:
    block = _obj(block)
    kind, source = block.get("type"), _obj(block.get("source"))
    data_url = f"data:{source.get('media_type')};base64,{source.get('data')}"
    if kind == "text" and isinstance(block.get("text"), str):
        part: dict[str, Any] = {"type": "text", "text": block["text"]}
    elif kind == "image" and not text_only and source.get("type") in ("base64", "url"):
        url = source["url"] if source["type"] == "url" else data_url
        part = {"type": "image_url", "image_url": {"url": url}}
    elif kind == "document" and not text_only and source.get("type") == "base64":
        part = {"type": "file", "file": {"filename": block.get("title") or "document.pdf", "file_data": data_url}}
    elif kind == "document" and not text_only and source.get("type") == "text":
        part = {"type": "text", "text": str(source.get("data") or "")}
    else:
        detail = f" with a {source['type']} source" if source.get("type") else ""
        raise InvalidRequest(f"content blocks of type {kind!r}{detail} are not supported here", param=where)
    if isinstance(block.get("cache_control"), dict):
        part["cache_control"] = block["cache_control"]
    return part


def _tool_result(content: Any, where: str) -> tuple[str, list[dict[str, Any]]]:
    if not isinstance(content, list):
        return str(content or ""), []
    parts = [_part(block, f"{where}.content[{k}]") for k, block in enumerate(content)]
    text = "".join(part["text"] for part in parts if part["type"] == "text")
    return text, [part for part in parts if part["type"] != "text"]


def _assistant(content: list[Any], where: str) -> dict[str, Any]:
    texts: list[str] = []
    calls: list[dict[str, Any]] = []
    thinking: list[dict[str, Any]] = []
    for j, block in enumerate(content):
        block, kind = _obj(block), _obj(block).get("type")
        if kind == "text":
            texts.append(str(block.get("text") or ""))
        elif kind == "tool_use":
            function = {
                "name": block.get("name"),
                "arguments": json.dumps(block.get("input") or {}, ensure_ascii=False),
            }
            calls.append({"id": block.get("id"), "type": "function", "function": function})
        elif kind in ("thinking", "redacted_thinking"):
            thinking.append(_thinking_block(block))
        else:
            raise InvalidRequest(f"assistant blocks of type {kind!r} are not supported", param=f"{where}.content[{j}]")
    message: dict[str, Any] = {"role": "assistant", "content": "".join(texts) if texts else None}
    if calls:
        message["tool_calls"] = calls
    if thinking:
        message["thinking_blocks"] = thinking
    return message


def _thinking_block(block: dict[str, Any]) -> dict[str, Any]:
    if block.get("type") == "redacted_thinking":
        return {"type": "redacted_thinking", "data": str(block.get("data") or "")}
    thinking, signature = str(block.get("thinking") or ""), str(block.get("signature") or "")
    return {"type": "thinking", "thinking": thinking, "signature": signature}


def _tool(tool: dict[str, Any], where: str) -> dict[str, Any]:
    if tool.get("type") not in (None, "custom") or not tool.get("name"):
        raise InvalidRequest(f"tools of type {tool.get('type')!r} are not supported by this gateway", param=where)
    function: dict[str, Any] = {"name": tool["name"], "parameters": tool.get("input_schema") or {"type": "object"}}
    if tool.get("description"):
        function["description"] = tool["description"]
    if tool.get("strict") is not None:
        function["strict"] = tool["strict"]
    converted: dict[str, Any] = {"type": "function", "function": function}
    if isinstance(tool.get("cache_control"), dict):
        converted["cache_control"] = tool["cache_control"]
    return converted


def _tool_choice(choice: dict[str, Any], request: dict[str, Any]) -> None:
    kind = choice.get("type")
    if kind == "tool":
        request["tool_choice"] = {"type": "function", "function": {"name": choice.get("name")}}
    elif kind in ("auto", "any", "none"):
        request["tool_choice"] = {"auto": "auto", "any": "required", "none": "none"}[kind]
    else:
        raise InvalidRequest(f"tool_choice of type {kind!r} is not supported", param="tool_choice")
    if choice.get("disable_parallel_tool_use") and kind != "none":
        request["parallel_tool_calls"] = False


def _reasoning(thinking: dict[str, Any], output: dict[str, Any], request: dict[str, Any]) -> None:
    reasoning: dict[str, Any] = {}
    if thinking.get("type") == "enabled":
        reasoning["max_tokens"] = thinking.get("budget_tokens")
    elif thinking.get("type") == "adaptive":
        reasoning["enabled"] = True
    elif thinking.get("type") not in (None, "disabled"):
        raise InvalidRequest(f"thinking of type {thinking.get('type')!r} is not supported", param="thinking")
    if output.get("effort"):
        reasoning["effort"] = output["effort"]
    if reasoning:
        request["reasoning"] = reasoning
    output_format = _obj(output.get("format"))
    if output_format.get("type") == "json_schema":
        schema = {"name": "output", "schema": output_format.get("schema"), "strict": True}
        request["response_format"] = {"type": "json_schema", "json_schema": schema}


# ---------------------------------------------------------------- OpenAI answer -> Anthropic


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


def _input(arguments: Any) -> dict[str, Any]:
    try:
        parsed = json.loads(arguments) if isinstance(arguments, str) and arguments.strip() else {}
    except ValueError:
        parsed = None
    if not isinstance(parsed, dict):
        raise ProviderError("the provider returned tool call arguments that are not a JSON object")
    return parsed


def from_openai_response(payload: dict[str, Any], model: str) -> dict[str, Any]:
    """An Anthropic message from an OpenAI chat.completion (its first choice)."""
    choice = _obj((payload.get("choices") or [None])[0])
    message = _obj(choice.get("message"))
    content = [_thinking_block(block) for block in message.get("thinking_blocks") or [] if isinstance(block, dict)]
    reasoning = message.get("reasoning_content") or message.get("reasoning")
    if not content and isinstance(reasoning, str) and reasoning:
        content.append({"type": "thinking", "thinking": reasoning, "signature": ""})
    text = message.get("content")
    if isinstance(text, list):
        text = "".join(str(_obj(part).get("text") or _obj(part).get("refusal") or "") for part in text)
    text = text or message.get("refusal")
    if isinstance(text, str) and text:
        content.append({"type": "text", "text": text})
    for call in message.get("tool_calls") or []:
        function = _obj(_obj(call).get("function"))
        block = {"id": call.get("id"), "name": function.get("name"), "input": _input(function.get("arguments"))}
        content.append({"type": "tool_use", **block})
    stop_reason = STOP_REASONS.get(str(choice.get("finish_reason")), "end_turn")
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

    def feed(self, chunk: dict[str, Any]) -> list[Event]:
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
                events += self._block("redacted", _thinking_block(block)) + self._close()
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
            counts = {
                "input_tokens": usage.prompt_tokens - usage.cached_tokens,
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
