"""Anthropic Messages as an inbound format (POST /v1/messages: the anthropic SDK, Claude Code).

The request is checked here and turned into the gateway's canonical OpenAI chat body; answers go
back in Anthropic's shape in `anthropic_answers`. Pure functions. Anthropic
features with an OpenAI-side convention travel as gateway extensions: `reasoning` (thinking),
`thinking_blocks` (signed thinking on assistant turns) and `cache_control` on content parts.
"""

from __future__ import annotations

import json
from typing import Annotated, Any, Literal, cast

from pydantic import BaseModel, ConfigDict, Field, model_validator

from gateway.canonical import ChatRequest
from gateway.dialects.anthropic import thinking_block
from gateway.errors import InvalidRequest
from gateway.formats.inbound import Exchange
from gateway.formats.wire import MAX_OUTPUT_TOKENS, OutputTokens, TopK, UnitInterval, WireModel

# Anthropic-only request fields whose effect the canonical body cannot carry.
UNSUPPORTED_FIELDS = ("mcp_servers", "container", "context_management")


class MessageParam(BaseModel):
    model_config = ConfigDict(extra="allow")

    role: Literal["user", "assistant"]
    content: str | list[dict[str, Any]]


class ThinkingConfig(BaseModel):
    model_config = ConfigDict(extra="allow")

    type: Literal["enabled", "disabled", "adaptive"]
    budget_tokens: Annotated[int, Field(strict=True, ge=1024, le=MAX_OUTPUT_TOKENS)] | None = None

    @model_validator(mode="after")
    def _enabled_has_a_budget(self) -> ThinkingConfig:
        if self.type == "enabled" and self.budget_tokens is None:
            raise ValueError("thinking of type `enabled` needs `budget_tokens`")
        return self


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


def to_openai(body: dict[str, Any], *, allow_top_k: bool = False) -> ChatRequest:
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
    return cast(ChatRequest, request)


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
            thinking.append(thinking_block(block))
        else:
            raise InvalidRequest(f"assistant blocks of type {kind!r} are not supported", param=f"{where}.content[{j}]")
    message: dict[str, Any] = {"role": "assistant", "content": "".join(texts) if texts else None}
    if calls:
        message["tool_calls"] = calls
    if thinking:
        message["thinking_blocks"] = thinking
    return message


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


def exchange(request: MessagesRequest, beta: str | None = None) -> Exchange:
    """The pipeline's view of a validated Messages request and its `anthropic-beta` header, if any."""
    native = request.wire_body()
    # top_k travels on: Anthropic upstreams take it, OpenAI-compatible ones get it (vLLM honours it,
    # OpenAI refuses it with a 400), Bedrock refuses it by name
    canonical: ChatRequest = {**to_openai(native, allow_top_k=True), "stream": request.stream}
    return Exchange(
        format="anthropic",
        endpoint="messages",
        model=request.model,
        native=native,
        canonical=canonical,
        stream=request.stream,
        native_headers={"anthropic-beta": beta} if beta else {},
    )
