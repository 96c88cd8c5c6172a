"""OpenAI chat request -> keyword arguments of boto3 `bedrock-runtime` `converse` / `converse_stream`.

Pure: nothing here touches the network. Parameters Converse cannot honour and that would change the
answer raise `InvalidRequest` naming the parameter; harmless ones (user, metadata, store, ...) and
unknown ones are dropped.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Mapping
from typing import Any

from gateway.errors import InvalidRequest

IMAGE_FORMATS = {
    "image/png": "png",
    "image/jpeg": "jpeg",
    "image/jpg": "jpeg",
    "image/gif": "gif",
    "image/webp": "webp",
}

# reasoning_effort -> Anthropic extended-thinking budget (1,024 tokens is Anthropic's minimum).
EFFORT_BUDGET = {"minimal": 1024, "low": 1024, "medium": 2048, "high": 4096, "xhigh": 8192, "max": 16384}
# Room left for the answer when reasoning is on and the client set no max_tokens
# (Claude requires max_tokens > budget_tokens).
ANSWER_ROOM = 4096

# Client parameters Converse has no equivalent for, each with the values that mean "not used".
_UNSUPPORTED: dict[str, tuple[Any, ...]] = {
    "n": (None, 1),
    "logprobs": (None, False),
    "top_logprobs": (None,),
    "logit_bias": (None, {}),
    "seed": (None,),
    "presence_penalty": (None, 0, 0.0),
    "frequency_penalty": (None, 0, 0.0),
    "audio": (None,),
    "web_search_options": (None,),
    "functions": (None, []),
    "function_call": (None,),
    "parallel_tool_calls": (None, True),  # Converse cannot forbid several calls in one turn
    "top_k": (None,),
}


def converse_request(body: Mapping[str, Any], model_id: str) -> dict[str, Any]:
    """Keyword arguments for `converse` / `converse_stream` from an OpenAI chat request."""
    for name, defaults in _UNSUPPORTED.items():
        if body.get(name) not in defaults:
            raise InvalidRequest(f"`{name}` is not supported for this model (Amazon Bedrock).", param=name)
    modalities = body.get("modalities")
    if modalities is not None and list(modalities) != ["text"]:
        raise InvalidRequest("Only text output is supported for this model (Amazon Bedrock).", param="modalities")

    system, messages = _conversation(body.get("messages") or [])
    request: dict[str, Any] = {"modelId": model_id, "messages": messages}
    if system:
        request["system"] = system
    inference = _inference_config(body)
    thinking = _thinking(body, model_id)
    if thinking is not None:
        budget = thinking["budget_tokens"]
        limit = inference.get("maxTokens")
        if limit is None:
            inference["maxTokens"] = budget + ANSWER_ROOM
        elif limit <= budget:  # no param: each format names the two limits its own way
            raise InvalidRequest(
                f"The reasoning budget ({budget} tokens) must be smaller than the output token limit ({limit}: "
                "the request's, at most the model's)."
            )
        request["additionalModelRequestFields"] = {"thinking": thinking}
    if inference:
        request["inferenceConfig"] = inference
    has_tool_blocks = any("toolUse" in block or "toolResult" in block for m in messages for block in m["content"])
    tool_config = _tool_config(body, has_tool_blocks)
    if tool_config is not None:
        request["toolConfig"] = tool_config
    output = _output_config(body.get("response_format"))
    if output is not None:
        request["outputConfig"] = output
    return request


def _conversation(messages: list[Any]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(system blocks, turns). Tool results travel in user turns; same-role neighbours merge."""
    system: list[dict[str, Any]] = []
    turns: list[dict[str, Any]] = []
    for i, message in enumerate(messages):
        if not isinstance(message, dict):
            raise InvalidRequest(f"messages[{i}] must be an object.", param="messages")
        role = message.get("role")
        if role in ("system", "developer"):
            system.extend({"text": text} for text in _texts(message.get("content"), i) if text)
            continue
        if role == "user":
            turn_role, blocks = "user", _user_blocks(message.get("content"), i)
        elif role == "assistant":
            turn_role, blocks = "assistant", _assistant_blocks(message, i)
        elif role == "tool":
            turn_role, blocks = "user", [_tool_result(message, i)]
        else:
            raise InvalidRequest(f"messages[{i}]: role {role!r} is not supported by Amazon Bedrock.", param="messages")
        if not blocks:
            continue
        if turns and turns[-1]["role"] == turn_role:
            turns[-1]["content"].extend(blocks)
        else:
            turns.append({"role": turn_role, "content": blocks})
    return system, turns


def _texts(content: Any, i: int) -> list[str]:
    if content is None:
        return []
    if isinstance(content, str):
        return [content]
    texts = []
    for part in _parts(content, i):
        if part.get("type") != "text" or not isinstance(part.get("text"), str):
            raise InvalidRequest(f"messages[{i}]: only text content is allowed here.", param="messages")
        texts.append(part["text"])
    return texts


def _parts(content: Any, i: int) -> list[dict[str, Any]]:
    if not isinstance(content, list) or not all(isinstance(part, dict) for part in content):
        raise InvalidRequest(f"messages[{i}].content must be a string or a list of parts.", param="messages")
    return content


def _user_blocks(content: Any, i: int) -> list[dict[str, Any]]:
    if content is None:
        return []
    if isinstance(content, str):
        return [{"text": content}]
    blocks: list[dict[str, Any]] = []
    for part in _parts(content, i):
        kind = part.get("type")
        if kind == "text" and isinstance(part.get("text"), str):
            blocks.append({"text": part["text"]})
        elif kind == "image_url":
            blocks.append(_image(part.get("image_url"), i))
        else:
            raise InvalidRequest(
                f"messages[{i}]: content of type {kind!r} is not supported by Amazon Bedrock.", param="messages"
            )
    return blocks


def _image(image_url: Any, i: int) -> dict[str, Any]:
    url = image_url.get("url") if isinstance(image_url, dict) else image_url
    if not isinstance(url, str):
        raise InvalidRequest(f"messages[{i}]: image_url.url is required.", param="messages")
    if url.startswith(("http://", "https://")):
        raise InvalidRequest(
            f"messages[{i}]: Amazon Bedrock does not fetch image URLs; send the image as a base64 data URL.",
            param="messages",
        )
    header, _, data = url.partition(",")
    mime = header.removeprefix("data:").removesuffix(";base64").lower()
    if not header.startswith("data:") or not header.endswith(";base64") or mime not in IMAGE_FORMATS:
        raise InvalidRequest(
            f"messages[{i}]: images must be base64 data URLs of PNG, JPEG, GIF or WebP.", param="messages"
        )
    try:
        raw = base64.b64decode(data, validate=True)
    except (binascii.Error, ValueError) as error:
        raise InvalidRequest(f"messages[{i}]: the image data is not valid base64.", param="messages") from error
    return {"image": {"format": IMAGE_FORMATS[mime], "source": {"bytes": raw}}}


def _assistant_blocks(message: dict[str, Any], i: int) -> list[dict[str, Any]]:
    if message.get("function_call") is not None:
        raise InvalidRequest(f"messages[{i}]: use tool_calls instead of function_call.", param="messages")
    blocks = _thinking_blocks(message.get("thinking_blocks"), i)
    content = message.get("content")
    if isinstance(content, list):
        for part in _parts(content, i):
            text = part.get("text") if part.get("type") == "text" else part.get("refusal")
            if not isinstance(text, str):
                raise InvalidRequest(f"messages[{i}]: assistant content must be text.", param="messages")
            if text:
                blocks.append({"text": text})
    elif isinstance(content, str) and content:
        blocks.append({"text": content})
    elif content is not None and not isinstance(content, str):
        raise InvalidRequest(f"messages[{i}].content must be a string or a list of parts.", param="messages")
    for call in message.get("tool_calls") or []:
        blocks.append(_tool_use(call, i))
    return blocks


def _thinking_blocks(value: Any, i: int) -> list[dict[str, Any]]:
    blocks: list[dict[str, Any]] = []
    for block in value or []:
        kind = block.get("type") if isinstance(block, dict) else None
        if kind == "thinking" and isinstance(block.get("thinking"), str):
            text: dict[str, Any] = {"text": block["thinking"]}
            if isinstance(block.get("signature"), str):
                text["signature"] = block["signature"]
            blocks.append({"reasoningContent": {"reasoningText": text}})
        elif kind == "redacted_thinking" and isinstance(block.get("data"), str):
            try:
                blocks.append({"reasoningContent": {"redactedContent": base64.b64decode(block["data"])}})
            except (binascii.Error, ValueError) as error:
                raise InvalidRequest(f"messages[{i}]: invalid redacted_thinking data.", param="messages") from error
        else:
            raise InvalidRequest(f"messages[{i}]: unknown thinking block.", param="messages")
    return blocks


def _tool_use(call: Any, i: int) -> dict[str, Any]:
    function = call.get("function") if isinstance(call, dict) else None
    if not isinstance(function, dict) or not call.get("id") or not function.get("name"):
        raise InvalidRequest(f"messages[{i}]: each tool call needs an id and a function name.", param="messages")
    arguments = function.get("arguments")
    if isinstance(arguments, str):
        try:
            arguments = json.loads(arguments) if arguments.strip() else {}
        except (ValueError, RecursionError) as error:
            raise InvalidRequest(
                f"messages[{i}]: tool call {call['id']} has arguments that are not JSON.", param="messages"
            ) from error
    return {"toolUse": {"toolUseId": call["id"], "name": function["name"], "input": arguments or {}}}


def _tool_result(message: dict[str, Any], i: int) -> dict[str, Any]:
    tool_call_id = message.get("tool_call_id")
    if not isinstance(tool_call_id, str) or not tool_call_id:
        raise InvalidRequest(f"messages[{i}]: a tool message needs its tool_call_id.", param="messages")
    content = message.get("content")
    if isinstance(content, list):
        blocks = [
            _image(part.get("image_url"), i) if part.get("type") == "image_url" else {"text": _texts([part], i)[0]}
            for part in _parts(content, i)
        ]
    else:
        blocks = [{"text": content if isinstance(content, str) else json.dumps(content)}]
    return {"toolResult": {"toolUseId": tool_call_id, "content": blocks}}


def _inference_config(body: Mapping[str, Any]) -> dict[str, Any]:
    config: dict[str, Any] = {}
    limit = body.get("max_completion_tokens") or body.get("max_tokens")
    if limit is not None:
        config["maxTokens"] = limit
    if body.get("temperature") is not None:
        config["temperature"] = body["temperature"]
    if body.get("top_p") is not None:
        config["topP"] = body["top_p"]
    stop = body.get("stop")
    if isinstance(stop, str):
        stop = [stop]
    if stop:
        config["stopSequences"] = list(stop)
    return config


def _is_anthropic(model_id: str) -> bool:
    return "anthropic." in model_id or "claude" in model_id.lower()


def _thinking(body: Mapping[str, Any], model_id: str) -> dict[str, Any] | None:
    """Anthropic extended thinking from `reasoning_effort` or `reasoning` (OpenRouter-style)."""
    effort, reasoning = body.get("reasoning_effort"), body.get("reasoning")
    param = "reasoning" if reasoning is not None else "reasoning_effort"
    budget: Any = None
    if isinstance(reasoning, dict):
        if reasoning.get("exclude"):
            raise InvalidRequest("Hiding reasoning (`exclude`) is not supported for this model.", param=param)
        if reasoning.get("enabled") is False:
            return None
        budget = reasoning.get("max_tokens")
        effort = reasoning.get("effort") or effort or ("medium" if reasoning.get("enabled") else None)
    elif reasoning is not None:
        raise InvalidRequest("`reasoning` must be an object.", param=param)
    if budget is None:
        if effort is None or effort == "none":
            return None
        if effort not in EFFORT_BUDGET:
            raise InvalidRequest(f"Unknown reasoning effort {effort!r}.", param=param)
        budget = EFFORT_BUDGET[effort]
    if not isinstance(budget, int) or isinstance(budget, bool) or budget < 1:
        raise InvalidRequest("reasoning.max_tokens must be a positive integer.", param=param)
    if not _is_anthropic(model_id):
        raise InvalidRequest("Reasoning controls are not supported for this model (Amazon Bedrock).", param=param)
    return {"type": "enabled", "budget_tokens": budget}


def _tool_config(body: Mapping[str, Any], has_tool_blocks: bool) -> dict[str, Any] | None:
    """Converse has auto (its default, so left out), any and tool; `none` means sending no tools,
    which Converse refuses when the conversation already holds tool calls: that case raises."""
    tools, choice = body.get("tools"), body.get("tool_choice")
    if not tools:
        if choice not in (None, "none", "auto"):
            raise InvalidRequest("`tool_choice` needs `tools`.", param="tool_choice")
        return None
    specs = [_tool_spec(tool) for tool in tools]
    if choice == "none":
        if has_tool_blocks:
            raise InvalidRequest(
                "`tool_choice: none` cannot be honoured by Amazon Bedrock in a conversation with tool calls.",
                param="tool_choice",
            )
        return None
    config: dict[str, Any] = {"tools": specs}
    if choice == "required":
        config["toolChoice"] = {"any": {}}
    elif isinstance(choice, dict) and isinstance(choice.get("function"), dict) and choice["function"].get("name"):
        config["toolChoice"] = {"tool": {"name": choice["function"]["name"]}}
    elif choice not in (None, "auto"):
        raise InvalidRequest(f"Unsupported tool_choice {choice!r}.", param="tool_choice")
    return config


def _tool_spec(tool: Any) -> dict[str, Any]:
    function = tool.get("function") if isinstance(tool, dict) and tool.get("type", "function") == "function" else None
    if not isinstance(function, dict) or not function.get("name"):
        raise InvalidRequest("Only function tools with a name are supported by Amazon Bedrock.", param="tools")
    spec: dict[str, Any] = {
        "name": function["name"],
        "inputSchema": {"json": function.get("parameters") or {"type": "object", "properties": {}}},
    }
    if function.get("description"):
        spec["description"] = function["description"]
    if function.get("strict") is True:
        spec["strict"] = True
    return {"toolSpec": spec}


def _output_config(response_format: Any) -> dict[str, Any] | None:
    """json_schema -> Converse structured output (outputConfig.textFormat); json_object has no equivalent."""
    kind = response_format.get("type") if isinstance(response_format, dict) else response_format
    if kind is None or kind == "text":
        return None
    schema = response_format.get("json_schema") if isinstance(response_format, dict) else None
    if kind != "json_schema" or not isinstance(schema, dict) or not isinstance(schema.get("schema"), dict):
        raise InvalidRequest(
            "Only response_format json_schema (with a schema) is supported for this model.", param="response_format"
        )
    definition: dict[str, Any] = {"schema": json.dumps(schema["schema"]), "name": schema.get("name") or "response"}
    if schema.get("description"):
        definition["description"] = schema["description"]
    return {"textFormat": {"type": "json_schema", "structure": {"jsonSchema": definition}}}
