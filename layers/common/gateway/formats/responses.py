"""OpenAI's Responses API as an inbound format (POST /v1/responses: the openai SDK's
`client.responses`, the Agents SDK, Codex CLI).

The request is checked here (every number bounded) and turned into the canonical chat body for
upstreams of other kinds; OpenAI upstreams take it as it is (`native`), but for what the gateway
itself answers: the conversation `previous_response_id` names is replayed as input, and the upstream
keeps nothing (`store: false`). What only OpenAI's own Responses API can do (its hosted tools, items
of other kinds) leaves the other upstreams out (`Exchange.native_only`). Answers go back in the
Responses shape in `responses_answers`. Pure.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Annotated, Any, Literal, cast

from pydantic import BaseModel, ConfigDict, Field

from gateway.canonical import ChatRequest, ServerTools
from gateway.errors import InvalidRequest
from gateway.formats.inbound import Exchange, NativeOnly, Skipped
from gateway.formats.responses_thinking import GATEWAY_REASONING, decoded_thinking, split_signatures
from gateway.formats.wire import (
    Metadata,
    ModelNames,
    OutputTokens,
    ServiceTier,
    Temperature,
    TopLogprobs,
    UnitInterval,
    User,
    WireModel,
)

MAX_TOOL_CALLS = 100  # the most hosted-tool calls a request may allow
HOSTED_TOOL_CALLS = 8  # hosted-tool calls the upstream is allowed when the request sets no `max_tool_calls`
# Tools the client runs itself (the upstream only asks for them), so they cost tokens only
CLIENT_TOOLS = {"function", "custom", "namespace", "local_shell", "shell", "apply_patch", "computer_use_preview"}
# Hosted tools a gateway can price: a fee per call from the catalog (`web_search`), bounded by max_tool_calls
PRICED_TOOLS = {"web_search": "web_search", "web_search_preview": "web_search"}


class Reasoning(BaseModel):
    model_config = ConfigDict(extra="allow")

    effort: str | None = Field(None, max_length=32)
    summary: str | None = Field(None, max_length=32)


class ResponsesRequest(WireModel):
    """Every numeric field is bounded here: a hostile number is a 400 before any credit moves."""

    model_config = ConfigDict(extra="allow")

    model: str = Field(min_length=1, max_length=256)
    input: str | Annotated[list[dict[str, Any]], Field(max_length=10_000)] | None = None
    instructions: str | None = None
    stream: bool = False
    max_output_tokens: OutputTokens | None = None
    max_tool_calls: Annotated[int, Field(strict=True, ge=1, le=MAX_TOOL_CALLS)] | None = None
    temperature: Temperature | None = None
    top_p: UnitInterval | None = None
    top_logprobs: TopLogprobs | None = None
    parallel_tool_calls: bool | None = None
    tools: list[dict[str, Any]] | None = Field(None, max_length=512)
    tool_choice: str | dict[str, Any] | None = None
    reasoning: Reasoning | None = None
    text: dict[str, Any] | None = None
    store: bool | None = None
    previous_response_id: str | None = Field(None, min_length=1, max_length=128)
    include: list[str] | None = Field(None, max_length=16)
    metadata: Metadata | None = None
    user: User | None = None
    safety_identifier: User | None = None
    prompt_cache_key: str | None = Field(None, max_length=1024)
    truncation: Literal["auto", "disabled"] | None = None
    background: bool | None = None
    service_tier: ServiceTier | None = None
    models: ModelNames | None = None

    def wire_body(self) -> dict[str, Any]:
        """The body as the client sent it (fields it did not send stay absent)."""
        return self.sent()


@dataclass
class ResponseContext:
    """One Responses request as its answer needs it: the response's id and time, what the answer
    echoes of the request, and (once the answer is whole) the response itself, for storing."""

    id: str
    created_at: int
    echo: dict[str, Any]  # instructions, tools, tool_choice, store, previous_response_id, ...
    store: bool
    input_items: list[dict[str, Any]]  # this request's own input, as items
    history: list[dict[str, Any]] = field(default_factory=list)  # the replayed conversation before it
    final: dict[str, Any] | None = None  # the response, once whole (set by the encoder or the answer)


# ---------------------------------------------------------------- input items


def input_items(value: str | list[dict[str, Any]] | None) -> list[dict[str, Any]]:
    """The request's `input` as a list of items (a string is one user message)."""
    if value is None:
        return []
    if isinstance(value, str):
        return [{"type": "message", "role": "user", "content": [{"type": "input_text", "text": value}]}]
    return [dict(item) for item in value]


def item_type(item: dict[str, Any]) -> str:
    """An item's type; messages may leave it out (EasyInputMessage)."""
    kind = item.get("type")
    return str(kind) if kind is not None else ("message" if "role" in item else "")


def to_openai(body: dict[str, Any], items: list[dict[str, Any]]) -> tuple[ChatRequest, tuple[NativeOnly, ...]]:
    """The canonical chat body for a Responses request whose whole input is `items`, and what only
    OpenAI's own Responses API can honour (for which other upstreams are no candidates)."""
    native_only = Skipped()
    messages: list[dict[str, Any]] = []
    if isinstance(body.get("instructions"), str) and body["instructions"]:
        messages.append({"role": "system", "content": body["instructions"]})
    messages += _messages(items, native_only)
    request: dict[str, Any] = {"model": body.get("model"), "messages": messages}
    if body.get("max_output_tokens") is not None:
        request["max_completion_tokens"] = body["max_output_tokens"]
    for name in ("temperature", "top_p", "parallel_tool_calls", "metadata", "prompt_cache_key"):
        if body.get(name) is not None:
            request[name] = body[name]
    if body.get("top_logprobs"):
        request["logprobs"] = True
        request["top_logprobs"] = body["top_logprobs"]
    user = body.get("user") or body.get("safety_identifier")
    if user:
        request["user"] = user
    if body.get("stream"):
        request["stream"] = True
        request["stream_options"] = {"include_usage": True}
    tools = [_tool(tool, f"tools[{i}]", native_only) for i, tool in enumerate(body.get("tools") or [])]
    if any(tools):
        request["tools"] = [tool for tool in tools if tool]
    if body.get("tool_choice") is not None:
        _tool_choice(body["tool_choice"], request, native_only)
    effort = (body.get("reasoning") or {}).get("effort")
    if effort:
        request["reasoning"] = {"effort": effort}
    _text(body.get("text") or {}, request, native_only)
    for value in body.get("include") or []:
        if value != "reasoning.encrypted_content":
            native_only.add(InvalidRequest(f"`include` of {value!r} is OpenAI's own", param="include"))
    return cast(ChatRequest, request), tuple(native_only)


def _messages(items: list[dict[str, Any]], native_only: Skipped) -> list[dict[str, Any]]:
    messages: list[dict[str, Any]] = []
    thinking: list[dict[str, Any]] = []  # another vendor's signed thinking, for the next assistant turn
    signatures: dict[str, str] = {}  # Gemini's thought signatures, by the id of the call they came on

    def assistant() -> dict[str, Any]:
        if not messages or messages[-1]["role"] != "assistant" or messages[-1].get("closed"):
            messages.append({"role": "assistant", "content": None})
        message = messages[-1]
        if thinking:
            message.setdefault("thinking_blocks", []).extend(thinking)
            thinking.clear()
        return message

    for i, item in enumerate(items):
        where, kind = f"input[{i}]", item_type(item)
        if kind == "message":
            role = item.get("role")
            if role == "assistant":
                try:
                    text = _assistant_text(item.get("content"), where)
                except InvalidRequest as error:
                    native_only.add(error)
                    continue
                message = assistant()
                message["content"] = (message["content"] or "") + text if text else message["content"]
            elif role in ("user", "system", "developer"):
                try:
                    messages.append({"role": role, "content": _content(item.get("content"), where)})
                except InvalidRequest as error:
                    native_only.add(error, media=True)
            else:
                raise InvalidRequest(f"messages with role {role!r} are not supported", param=f"{where}.role")
        elif kind == "function_call":
            call = {
                "id": item.get("call_id"),
                "type": "function",
                "function": {"name": item.get("name"), "arguments": item.get("arguments") or ""},
            }
            if isinstance(item.get("call_id"), str) and item["call_id"] in signatures:
                call["extra_content"] = {"google": {"thought_signature": signatures[item["call_id"]]}}
            assistant().setdefault("tool_calls", []).append(call)
        elif kind == "function_call_output":
            try:
                text, images = _output(item.get("output"), where)
            except InvalidRequest as error:
                native_only.add(error, media=True)
                continue
            messages.append({"role": "tool", "tool_call_id": item.get("call_id"), "content": text})
            if images:  # tool messages hold text only: images follow in a user turn
                messages.append({"role": "user", "content": images})
        elif kind == "reasoning":
            blocks, signed = split_signatures(decoded_thinking(item.get("encrypted_content")))
            thinking += blocks
            signatures.update(signed)
        else:
            native_only.add(InvalidRequest(f"input items of type {kind!r} are OpenAI's own", param=where))
    for message in messages:
        message.pop("closed", None)
    return messages


def _content(content: Any, where: str) -> str | list[dict[str, Any]]:
    if isinstance(content, str):
        return content
    if not isinstance(content, list):
        raise InvalidRequest("content must be a string or a list of parts", param=f"{where}.content")
    return [_part(part, f"{where}.content[{j}]") for j, part in enumerate(content)]


def _part(part: Any, where: str) -> dict[str, Any]:
    part = part if isinstance(part, dict) else {}
    kind = part.get("type")
    if kind in ("input_text", "output_text") and isinstance(part.get("text"), str):
        return {"type": "text", "text": part["text"]}
    if kind == "input_image" and isinstance(part.get("image_url"), str):
        image: dict[str, Any] = {"url": part["image_url"]}
        if part.get("detail") in ("low", "high", "auto"):
            image["detail"] = part["detail"]
        return {"type": "image_url", "image_url": image}
    if kind == "input_file" and isinstance(part.get("file_data"), str):
        return {"type": "file", "file": {"file_data": part["file_data"], "filename": part.get("filename") or "file"}}
    detail = " by URL" if kind == "input_file" else ""
    raise InvalidRequest(f"content parts of type {kind!r}{detail} are OpenAI's own", param=where)


def _assistant_text(content: Any, where: str) -> str:
    if isinstance(content, str):
        return content
    if not isinstance(content, list):
        raise InvalidRequest("content must be a string or a list of parts", param=f"{where}.content")
    texts = []
    for j, part in enumerate(content):
        kind = part.get("type") if isinstance(part, dict) else None
        if kind in ("output_text", "input_text") and isinstance(part.get("text"), str):
            texts.append(part["text"])
        elif kind == "refusal" and isinstance(part.get("refusal"), str):
            texts.append(part["refusal"])
        else:
            raise InvalidRequest(f"assistant parts of type {kind!r} are not supported", param=f"{where}.content[{j}]")
    return "".join(texts)


def _output(output: Any, where: str) -> tuple[str, list[dict[str, Any]]]:
    if isinstance(output, str):
        return output, []
    if not isinstance(output, list):
        raise InvalidRequest("a function call's output must be a string or a list of parts", param=f"{where}.output")
    parts = [_part(part, f"{where}.output[{k}]") for k, part in enumerate(output)]
    text = "".join(part["text"] for part in parts if part["type"] == "text")
    return text, [part for part in parts if part["type"] != "text"]


def _tool(tool: dict[str, Any], where: str, native_only: Skipped) -> dict[str, Any] | None:
    if tool.get("type") != "function":
        native_only.add(InvalidRequest(f"tools of type {tool.get('type')!r} are OpenAI's own", param=where))
        return None
    if not isinstance(tool.get("name"), str) or not tool["name"]:
        raise InvalidRequest("a function tool needs a name", param=f"{where}.name")
    function: dict[str, Any] = {"name": tool["name"], "parameters": tool.get("parameters") or {"type": "object"}}
    if tool.get("description"):
        function["description"] = tool["description"]
    if tool.get("strict") is not None:
        function["strict"] = tool["strict"]
    return {"type": "function", "function": function}


def _tool_choice(choice: Any, request: dict[str, Any], native_only: Skipped) -> None:
    if choice in ("auto", "none", "required"):
        request["tool_choice"] = choice
    elif isinstance(choice, dict) and choice.get("type") == "function" and isinstance(choice.get("name"), str):
        request["tool_choice"] = {"type": "function", "function": {"name": choice["name"]}}
    else:
        native_only.add(InvalidRequest("this tool_choice is OpenAI's own", param="tool_choice"))


def _text(text: dict[str, Any], request: dict[str, Any], native_only: Skipped) -> None:
    found = text.get("format")
    response_format: dict[str, Any] = found if isinstance(found, dict) else {}
    kind = response_format.get("type")
    if kind == "json_schema":
        schema = {
            name: response_format[name]
            for name in ("name", "schema", "strict", "description")
            if name in response_format
        }
        request["response_format"] = {"type": "json_schema", "json_schema": schema}
    elif kind == "json_object":
        request["response_format"] = {"type": "json_object"}
    elif kind not in (None, "text"):
        native_only.add(InvalidRequest(f"text.format of type {kind!r} is OpenAI's own", param="text.format"))
    if text.get("verbosity") is not None:
        request["verbosity"] = text["verbosity"]


def _gateway_reasoning(item: dict[str, Any]) -> bool:
    """A reasoning item the gateway encoded from another vendor's thinking: OpenAI cannot read it."""
    content = item.get("encrypted_content")
    return item_type(item) == "reasoning" and isinstance(content, str) and content.startswith(GATEWAY_REASONING)


def _names_a_file(value: Any) -> bool:
    """Whether any part names an uploaded file (OpenAI's Files API, which is the operator's account)."""
    if isinstance(value, dict):
        return value.get("file_id") is not None or any(_names_a_file(inner) for inner in value.values())
    if isinstance(value, list):
        return any(_names_a_file(inner) for inner in value)
    return False


# ---------------------------------------------------------------- the exchange


def server_tools(body: dict[str, Any]) -> tuple[ServerTools, int | None]:
    """The hosted tools the request lets the upstream run, and how many calls it is held for (and told
    as `max_tool_calls`). Hosted tools the gateway cannot price are refused, naming the tool."""
    priced: list[tuple[str, str]] = []
    for i, tool in enumerate(body.get("tools") or []):
        kind = str(tool.get("type"))
        if kind in PRICED_TOOLS:
            priced.append((PRICED_TOOLS[kind], f"tools[{i}]"))
        elif kind not in CLIENT_TOOLS or _hosted_shell(tool):
            raise InvalidRequest(
                f"The hosted tool {kind!r} cannot be priced by this gateway; only function, custom and web_search "
                "tools are served.",
                param=f"tools[{i}]",
            )
    if not priced:
        return ServerTools(), None
    calls = body.get("max_tool_calls") or HOSTED_TOOL_CALLS
    return ServerTools(web_searches=calls, rounds=calls, params=tuple(priced)), calls


def _hosted_shell(tool: Any) -> bool:
    """A `shell` the client runs has no environment or a local one; any other is OpenAI's hosted
    container, billed per session as code_interpreter's are, which the gateway cannot price."""
    environment = tool.get("environment") if isinstance(tool, dict) else None
    return tool.get("type") == "shell" and environment is not None and environment != {"type": "local"}


def exchange(request: ResponsesRequest, context: ResponseContext, *, reasoning_model: bool = False) -> Exchange:
    """The pipeline's view of a validated request whose conversation (`context.history`, replayed
    from `previous_response_id`) is loaded. The native body is what an OpenAI upstream gets."""
    sent = request.wire_body()
    if _names_a_file(sent.get("input")):
        raise InvalidRequest(
            "Files by `file_id` are not served by this gateway: send the file's data (or an image's URL).",
            param="input",
        )
    preferences = sent.pop("provider", None)
    models = sent.pop("models", None) or []
    items = [*context.history, *context.input_items]
    canonical, native_only = to_openai(sent, items)
    tools, calls = server_tools(sent)
    native = {**sent, "input": [item for item in items if not _gateway_reasoning(item)], "store": False}
    native.pop("previous_response_id", None)
    if calls is not None:
        native["max_tool_calls"] = calls
    if context.store and reasoning_model:  # stored reasoning must be replayable with store: false
        native["include"] = sorted({*(sent.get("include") or []), "reasoning.encrypted_content"})
    return Exchange(
        format="responses",
        endpoint="responses",
        model=request.model,
        native=native,
        canonical=canonical,
        stream=request.stream,
        wants_usage=True,
        provider_preferences=preferences,
        native_only=native_only,
        server_tools=tools,
        user=request.user or request.safety_identifier,
        metadata=request.metadata,
        models=tuple(models),
        context=context,
    )
