"""OpenAI chat request (the gateway's canonical body) -> Anthropic Messages request. Pure.

What Anthropic cannot honour and that would change the answer raises InvalidRequest naming the
parameter; what does not change the answer (stream_options, store, OpenAI's metadata,
service_tier, prompt_cache_key, prediction, routing fields, ...) is left out.

Gateway extensions understood here (LiteLLM / OpenRouter conventions): `reasoning`
({"effort"|"max_tokens"|"enabled"}), `top_k`, `cache_control` on content parts, and
`thinking_blocks` on assistant messages (Anthropic's signed thinking, to be sent back verbatim).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

from gateway.errors import InvalidRequest

PROVIDER = "Anthropic"
ANTHROPIC_VERSION = "2023-06-01"
DEFAULT_MAX_TOKENS = 4096
MIN_THINKING_BUDGET = 1024
# reasoning_effort -> Anthropic thinking budget_tokens (Anthropic's minimum budget is 1024).
THINKING_BUDGETS = {"minimal": 1024, "low": 2048, "medium": 8192, "high": 16384, "xhigh": 24576, "max": 32768}

# OpenAI parameters with no Anthropic equivalent, each with the test of a value that means "not used".
_UNSUPPORTED: dict[str, Callable[[Any], bool]] = {
    "n": lambda value: value in (None, 1),
    "logprobs": lambda value: not value,
    "top_logprobs": lambda value: not value,
    "presence_penalty": lambda value: not value,
    "frequency_penalty": lambda value: not value,
    "logit_bias": lambda value: not value,
    "seed": lambda value: value is None,
    "audio": lambda value: value is None,
    "modalities": lambda value: value in (None, ["text"]),
    "web_search_options": lambda value: value is None,
    "verbosity": lambda value: value is None,
    "functions": lambda value: not value,
    "function_call": lambda value: value is None,
}
_DATA_URL = re.compile(r"data:(?P<media>[\w.+-]+/[\w.+-]+)(?:;[^;,]*)*;base64,(?P<data>.*)", re.DOTALL)


def headers(api_key: str) -> dict[str, str]:
    return {"x-api-key": api_key, "anthropic-version": ANTHROPIC_VERSION, "content-type": "application/json"}


def unsupported(name: str, detail: str = "") -> InvalidRequest:
    return InvalidRequest(f"'{name}'{detail} is not supported by {PROVIDER} models", param=name)


def chat_request(
    body: dict[str, Any], upstream_model: str, *, default_max_tokens: int = DEFAULT_MAX_TOKENS
) -> dict[str, Any]:
    """The Messages API body for an OpenAI chat request; the client's body is left untouched."""
    for name, unused in _UNSUPPORTED.items():
        if not unused(body.get(name)):
            raise unsupported(name)
    response_format = body.get("response_format")
    if isinstance(response_format, dict) and response_format.get("type") not in (None, "text"):
        raise unsupported("response_format", f" of type {response_format.get('type')!r}")

    system, messages = _conversation(body.get("messages") or [])
    request: dict[str, Any] = {"model": upstream_model, "messages": messages}
    if system is not None:
        request["system"] = system
    requested = body.get("max_completion_tokens") or body.get("max_tokens")
    thinking = _thinking(body, requested)
    request["max_tokens"] = requested or default_max_tokens + (thinking["budget_tokens"] if thinking else 0)
    if thinking:
        request["thinking"] = thinking
    temperature = body.get("temperature")
    if isinstance(temperature, int | float) and temperature > 1:
        raise InvalidRequest(f"{PROVIDER} models take a temperature between 0 and 1", param="temperature")
    for name in ("temperature", "top_p", "top_k"):
        if body.get(name) is not None:
            request[name] = body[name]
    if request.get("top_p") == 1:
        del request["top_p"]  # a no-op, and newer Claude models refuse temperature and top_p together
    stop = body.get("stop")
    if stop:
        request["stop_sequences"] = [stop] if isinstance(stop, str) else list(stop)
    if body.get("tools"):
        request["tools"] = [_tool(tool, i) for i, tool in enumerate(body["tools"])]
        choice = _tool_choice(body.get("tool_choice"), body.get("parallel_tool_calls"))
        if choice:
            request["tool_choice"] = choice
    user = body.get("user") or body.get("safety_identifier")
    if isinstance(user, str) and user:
        request["metadata"] = {"user_id": user}
    if body.get("stream"):
        request["stream"] = True
    return request


def _thinking(body: dict[str, Any], requested: int | None) -> dict[str, Any] | None:
    reasoning: dict[str, Any] = body["reasoning"] if isinstance(body.get("reasoning"), dict) else {}
    param = "reasoning" if reasoning else "reasoning_effort"
    effort = reasoning.get("effort") or body.get("reasoning_effort")
    if reasoning.get("enabled") is False or effort == "none":
        return None
    budget = reasoning.get("max_tokens")
    if budget is None:
        if effort is None and not reasoning.get("enabled"):
            return None
        if (effort or "medium") not in THINKING_BUDGETS:
            raise InvalidRequest(f"unknown reasoning effort {effort!r}", param=param)
        budget = THINKING_BUDGETS[effort or "medium"]
        if requested:
            budget = min(budget, requested - 1)  # thinking counts toward max_tokens, as reasoning does in OpenAI's
    elif not isinstance(budget, int) or isinstance(budget, bool):
        raise InvalidRequest("reasoning.max_tokens must be an integer", param="reasoning")
    elif requested and budget >= requested:
        raise InvalidRequest("reasoning.max_tokens must be below max_tokens", param="reasoning")
    if budget < MIN_THINKING_BUDGET:
        raise InvalidRequest(
            f"{PROVIDER} thinking needs a budget of at least {MIN_THINKING_BUDGET} tokens (and max_tokens above it)",
            param=param,
        )
    return {"type": "enabled", "budget_tokens": budget}


# ---------------------------------------------------------------- messages


def _conversation(messages: list[Any]) -> tuple[str | list[dict[str, Any]] | None, list[dict[str, Any]]]:
    """(system, turns): system/developer messages lifted out; same-role turns merged, as Anthropic requires."""
    system: list[dict[str, Any]] = []
    turns: list[dict[str, Any]] = []
    for i, message in enumerate(messages):
        where = f"messages[{i}]"
        if not isinstance(message, dict):
            raise InvalidRequest("each message must be an object", param=where)
        role = message.get("role")
        if role in ("system", "developer"):
            system += _blocks(message.get("content"), where, images=False)
        elif role == "user":
            _append(turns, "user", _blocks(message.get("content"), where))
        elif role == "assistant":
            _append(turns, "assistant", _assistant(message, where))
        elif role == "tool":
            _append(turns, "user", [_tool_result(message, where)])
        else:
            raise InvalidRequest(f"messages with role {role!r} are not supported by {PROVIDER}", param=where)
    for turn in turns:
        if len(turn["content"]) == 1 and _plain(turn["content"][0]):
            turn["content"] = turn["content"][0]["text"]
    if not system:
        return None, turns
    return (system[0]["text"] if len(system) == 1 and _plain(system[0]) else system), turns


def _plain(block: dict[str, Any]) -> bool:
    return block.keys() == {"type", "text"} and block["type"] == "text"


def _append(turns: list[dict[str, Any]], role: str, blocks: list[dict[str, Any]]) -> None:
    if not blocks:
        return
    if turns and turns[-1]["role"] == role:
        turns[-1]["content"] += blocks
    else:
        turns.append({"role": role, "content": blocks})


def _blocks(content: Any, where: str, *, images: bool = True) -> list[dict[str, Any]]:
    if content is None:
        return []
    if isinstance(content, str):
        return [{"type": "text", "text": content}] if content else []
    if not isinstance(content, list):
        raise InvalidRequest("message content must be a string or a list of parts", param=f"{where}.content")
    blocks = []
    for j, part in enumerate(content):
        block = _part(part, f"{where}.content[{j}]", images)
        if block is not None:
            blocks.append(block)
    return blocks


def _part(part: Any, where: str, images: bool) -> dict[str, Any] | None:
    kind = part.get("type") if isinstance(part, dict) else None
    if kind in ("text", "refusal") and isinstance(part.get(kind), str):
        if not part[kind]:
            return None  # Anthropic rejects empty text blocks
        block: dict[str, Any] = {"type": "text", "text": part[kind]}
    elif kind == "image_url" and images:
        image = part.get("image_url")
        block = {
            "type": "image",
            "source": _image_source(image.get("url") if isinstance(image, dict) else image, where),
        }
    elif kind == "file" and images and isinstance(part.get("file"), dict) and part["file"].get("file_data"):
        media, data = _data_url(part["file"]["file_data"], where)
        if media != "application/pdf":
            raise InvalidRequest(f"{PROVIDER} models read PDF files only, not {media}", param=where)
        block = {"type": "document", "source": {"type": "base64", "media_type": media, "data": data}}
        if part["file"].get("filename"):
            block["title"] = part["file"]["filename"]
    else:
        raise InvalidRequest(f"content parts of type {kind!r} are not supported here by {PROVIDER}", param=where)
    if isinstance(part.get("cache_control"), dict):
        block["cache_control"] = part["cache_control"]
    return block


def _image_source(url: Any, where: str) -> dict[str, Any]:
    if isinstance(url, str) and url.startswith("data:"):
        media, data = _data_url(url, where)
        return {"type": "base64", "media_type": media, "data": data}
    if isinstance(url, str) and url.startswith(("https://", "http://")):
        return {"type": "url", "url": url}
    raise InvalidRequest("image_url.url must be an http(s) URL or a base64 data URL", param=where)


def _data_url(url: Any, where: str) -> tuple[str, str]:
    match = _DATA_URL.fullmatch(url) if isinstance(url, str) else None
    if not match:
        raise InvalidRequest("expected a base64 data URL (data:<media type>;base64,<data>)", param=where)
    return match["media"].lower(), match["data"]


def _assistant(message: dict[str, Any], where: str) -> list[dict[str, Any]]:
    blocks = [_thinking_block(block, where) for block in message.get("thinking_blocks") or []]
    blocks += _blocks(message.get("content"), where, images=False)
    for k, call in enumerate(message.get("tool_calls") or []):
        function = call.get("function") if isinstance(call, dict) else None
        if not isinstance(function, dict) or not call.get("id") or not function.get("name"):
            raise InvalidRequest("a tool call needs an id and a function name", param=f"{where}.tool_calls[{k}]")
        arguments = _arguments(function.get("arguments"), f"{where}.tool_calls[{k}].function.arguments")
        blocks.append({"type": "tool_use", "id": call["id"], "name": function["name"], "input": arguments})
    return blocks


def _thinking_block(block: Any, where: str) -> dict[str, Any]:
    kind = block.get("type") if isinstance(block, dict) else None
    if kind == "thinking" and isinstance(block.get("thinking"), str) and block.get("signature"):
        return {"type": "thinking", "thinking": block["thinking"], "signature": block["signature"]}
    if kind == "redacted_thinking" and block.get("data"):
        return {"type": "redacted_thinking", "data": block["data"]}
    raise InvalidRequest(
        "thinking_blocks must be signed thinking or redacted_thinking", param=f"{where}.thinking_blocks"
    )


def _arguments(arguments: Any, where: str) -> dict[str, Any]:
    if arguments is None or arguments == "":
        return {}
    try:
        parsed = json.loads(arguments) if isinstance(arguments, str) else arguments
    except (ValueError, RecursionError):
        raise InvalidRequest("tool call arguments must be a JSON object", param=where) from None
    if not isinstance(parsed, dict):
        raise InvalidRequest("tool call arguments must be a JSON object", param=where)
    return parsed


def _tool_result(message: dict[str, Any], where: str) -> dict[str, Any]:
    if not message.get("tool_call_id"):
        raise InvalidRequest("a tool message needs a tool_call_id", param=f"{where}.tool_call_id")
    result: dict[str, Any] = {"type": "tool_result", "tool_use_id": message["tool_call_id"]}
    content = message.get("content")
    if isinstance(content, str):
        if content:
            result["content"] = content
    elif content:
        result["content"] = _blocks(content, where)
    return result


# ---------------------------------------------------------------- tools


def _tool(tool: Any, i: int) -> dict[str, Any]:
    function = tool.get("function") if isinstance(tool, dict) and tool.get("type") == "function" else None
    if not isinstance(function, dict) or not function.get("name"):
        raise InvalidRequest(f"only function tools are supported by {PROVIDER}", param=f"tools[{i}]")
    converted: dict[str, Any] = {
        "name": function["name"],
        "input_schema": function.get("parameters") or {"type": "object", "properties": {}},
    }
    if function.get("description"):
        converted["description"] = function["description"]
    if function.get("strict") is not None:
        converted["strict"] = function["strict"]
    if isinstance(tool.get("cache_control"), dict):
        converted["cache_control"] = tool["cache_control"]
    return converted


def _tool_choice(choice: Any, parallel: Any) -> dict[str, Any] | None:
    if choice is None and parallel is not False:
        return None
    if choice in (None, "auto"):
        converted: dict[str, Any] = {"type": "auto"}
    elif choice == "none":
        return {"type": "none"}
    elif choice == "required":
        converted = {"type": "any"}
    elif isinstance(choice, dict) and choice.get("type") == "function" and isinstance(choice.get("function"), dict):
        converted = {"type": "tool", "name": choice["function"].get("name")}
    else:
        raise unsupported("tool_choice", f" {json.dumps(choice)}")
    if parallel is False:
        converted["disable_parallel_tool_use"] = True
    return converted


# What Anthropic's count_tokens takes of a Messages request
COUNTED = ("model", "messages", "system", "tools", "tool_choice", "thinking")


def count_request(body: dict[str, Any], upstream_model: str) -> dict[str, Any]:
    """A count_tokens body for a canonical request: the Messages request it would be, less what
    count_tokens does not take (max_tokens, sampling, metadata, stream)."""
    messages = chat_request({**body, "stream": False}, upstream_model)
    return {name: messages[name] for name in COUNTED if name in messages}
