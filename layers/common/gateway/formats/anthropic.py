"""Anthropic Messages as an inbound format (POST /v1/messages: the anthropic SDK, Claude Code).

The request is checked here and turned into the gateway's canonical OpenAI chat body; answers go
back in Anthropic's shape in `anthropic_answers`. Pure functions. Anthropic
features with an OpenAI-side convention travel as gateway extensions: `reasoning` (thinking),
`thinking_blocks` (signed thinking on assistant turns) and `cache_control` on content parts.
What only Anthropic honours (its server tools, content blocks with no canonical form, context
management that changes the conversation) goes to Anthropic upstreams as sent and keeps the request
from any other (`translated`; see `anthropic_tools` for the tools and fields that are refused).
"""

from __future__ import annotations

import functools
import json
from typing import Annotated, Any, Literal, cast

from pydantic import BaseModel, ConfigDict, Field, model_validator

from gateway.canonical import ChatRequest, ServerTools
from gateway.dialects.anthropic import thinking_block
from gateway.errors import InvalidRequest
from gateway.formats.anthropic_tools import REFUSED_FIELDS, changes_nothing, check_edits, server_tools
from gateway.formats.inbound import Exchange, NativeOnly, Skipped
from gateway.formats.premium import ANTHROPIC, refuse_premium
from gateway.formats.wire import MAX_OUTPUT_TOKENS, OutputTokens, TopK, UnitInterval, WireModel

# Anthropic-only request fields whose effect the canonical body cannot carry.
UNSUPPORTED_FIELDS = ("mcp_servers", "container", "context_management")
MEDIA_BLOCKS = {"image", "document", "search_result", "container_upload"}


class MessageParam(BaseModel):
    model_config = ConfigDict(extra="allow")

    role: Literal["user", "assistant", "system"]  # system: a mid-conversation instruction (Claude Code)
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
        return self.sent()


def _obj(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


# ---------------------------------------------------------------- request -> OpenAI


def translated(body: dict[str, Any]) -> tuple[ChatRequest, tuple[NativeOnly, ...], ServerTools]:
    """The canonical body of a Messages request for upstreams of other kinds, what only Anthropic
    takes (left out of it), and the server tools the request lets Anthropic run. Raises the 400 of
    what no upstream is sent."""
    for name, reason in REFUSED_FIELDS.items():
        if body.get(name):
            raise InvalidRequest(reason, param=name)
    check_edits(body.get("context_management"))
    tools, own = server_tools(body.get("tools"))
    skipped = Skipped(NativeOnly(param, reason) for param, reason in own)
    canonical = to_openai(body, allow_top_k=True, skipped=skipped)
    return canonical, tuple(skipped), tools


def to_openai(body: dict[str, Any], *, allow_top_k: bool = False, skipped: Skipped | None = None) -> ChatRequest:
    """The canonical OpenAI chat body for an Anthropic Messages request; Anthropic-only fields stay out.
    Strict (a 400 for what it cannot translate), unless `skipped` collects what it leaves out."""
    for name in UNSUPPORTED_FIELDS:
        lenient = skipped is not None and name == "context_management" and changes_nothing(body.get(name))
        if body.get(name) and not lenient:
            _refuse(InvalidRequest(f"'{name}' is not supported by this gateway", param=name), skipped)
    messages: list[dict[str, Any]] = []
    system = body.get("system")
    if isinstance(system, str) and system:
        messages.append({"role": "system", "content": system})
    elif isinstance(system, list) and system:
        messages.append({"role": "system", "content": [_part(block, "system", text_only=True) for block in system]})
    turn_config = _obj(body.get("output_config"))
    for i, message in enumerate(body.get("messages") or []):
        where, message = f"messages[{i}]", _obj(message)
        if "output_config" in message and _obj(message["output_config"]) != turn_config:
            refusal = InvalidRequest("a per-turn output_config is Anthropic's own", param=f"{where}.output_config")
            _refuse(refusal, skipped)
        messages += _message(message, where, skipped)
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
        tools = [_attempt(skipped, _tool, _obj(tool), f"tools[{i}]") for i, tool in enumerate(body["tools"])]
        request["tools"] = [tool for tool in tools if tool is not None]
    if body.get("tool_choice"):
        _attempt(skipped, _tool_choice, _obj(body["tool_choice"]), request)
    _reasoning(_obj(body.get("thinking")), _obj(body.get("output_config")), request)
    user = _obj(body.get("metadata")).get("user_id")
    if isinstance(user, str) and user:
        request["user"] = user
    return cast(ChatRequest, request)


def _refuse(error: InvalidRequest, skipped: Skipped | None, *, media: bool = False) -> None:
    if skipped is None:
        raise error
    skipped.add(error, media=media)


def _attempt(skipped: Skipped | None, translate: Any, *args: Any, media: bool = False) -> Any:
    """`translate(*args)`; when it cannot be translated, left out (and recorded) if `skipped` collects."""
    try:
        return translate(*args)
    except InvalidRequest as error:
        _refuse(error, skipped, media=media)
        return None


def _message(message: dict[str, Any], where: str, skipped: Skipped | None = None) -> list[dict[str, Any]]:
    role, content = message.get("role"), message.get("content")
    if isinstance(content, str):
        return [{"role": role, "content": content}]
    if not isinstance(content, list):
        raise InvalidRequest("content must be a string or a list of blocks", param=f"{where}.content")
    if role == "assistant":
        return [_assistant(content, where, skipped)]
    if role == "system":
        text_part = functools.partial(_part, text_only=True)
        parts = [_attempt(skipped, text_part, block, f"{where}.content[{j}]") for j, block in enumerate(content)]
        return [{"role": "system", "content": [part for part in parts if part is not None]}]
    tools: list[dict[str, Any]] = []
    parts = []
    for j, block in enumerate(content):
        media = str(_obj(block).get("type")) in MEDIA_BLOCKS  # a `type` may be any JSON value
        if _obj(block).get("type") == "tool_result":
            translated = _attempt(skipped, _tool_result, block.get("content"), f"{where}.content[{j}]", media=True)
            if translated is None:
                continue
            text, images = translated
            tools.append({"role": "tool", "tool_call_id": block.get("tool_use_id"), "content": text})
            parts += images  # OpenAI tool messages hold text only: images follow in the user turn
        elif (part := _attempt(skipped, _part, block, f"{where}.content[{j}]", media=media)) is not None:
            parts.append(part)
    return tools + ([{"role": "user", "content": parts}] if parts else [])


def _part(block: Any, where: str, *, text_only: bool = False) -> dict[str, Any]:
    block = _obj(block)
    kind, source = block.get("type"), _obj(block.get("source"))
    data_url = f"data:{source.get('media_type')};base64,{source.get('data')}"
    if kind == "text" and isinstance(block.get("text"), str):
        part: dict[str, Any] = {"type": "text", "text": block["text"]}
    elif kind == "image" and not text_only and source.get("type") == "url" and not isinstance(source.get("url"), str):
        raise InvalidRequest("An image source of type `url` needs its `url`.", param=f"{where}.source.url")
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


def _assistant(content: list[Any], where: str, skipped: Skipped | None = None) -> dict[str, Any]:
    texts: list[str] = []
    calls: list[dict[str, Any]] = []
    thinking: list[dict[str, Any]] = []
    for j, block in enumerate(content):
        block, kind = _obj(block), _obj(block).get("type")
        if kind == "text":
            texts.append(str(block.get("text") or ""))
        elif kind == "tool_use":
            if not isinstance(block.get("name"), str) or not block["name"]:
                raise InvalidRequest(
                    "A tool_use block needs the `name` of its tool.", param=f"{where}.content[{j}].name"
                )
            function = {
                "name": block.get("name"),
                "arguments": json.dumps(block.get("input") or {}, ensure_ascii=False),
            }
            calls.append({"id": block.get("id"), "type": "function", "function": function})
        elif kind in ("thinking", "redacted_thinking"):
            thinking.append(thinking_block(block))
        else:
            refusal = InvalidRequest(
                f"assistant blocks of type {kind!r} are not supported", param=f"{where}.content[{j}]"
            )
            _refuse(refusal, skipped)
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
    if kind == "tool" and (not isinstance(choice.get("name"), str) or not choice["name"]):
        raise InvalidRequest("A tool_choice of type `tool` needs the `name` of a tool.", param="tool_choice.name")
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
    refuse_premium(native, ANTHROPIC)
    # top_k travels on: Anthropic upstreams take it, OpenAI-compatible ones get it (vLLM honours it,
    # OpenAI refuses it with a 400), Bedrock refuses it by name
    translation, native_only, tools = translated(native)
    canonical: ChatRequest = {**translation, "stream": request.stream}
    user = _obj(native.get("metadata")).get("user_id")
    return Exchange(
        format="anthropic",
        endpoint="messages",
        model=request.model,
        native=native,
        canonical=canonical,
        stream=request.stream,
        native_headers={"anthropic-beta": beta} if beta else {},
        native_only=native_only,
        server_tools=tools,
        user=user if isinstance(user, str) and 0 < len(user) <= 512 else None,
    )
