"""The canonical chat request as a Gemini GenerateContentRequest, and where to send it. Pure.

`chat_request` maps what Gemini can honour and raises InvalidRequest(param=...) for what it cannot and
would change the answer (UNSUPPORTED, and any field it does not know, since it cannot tell that it
changes nothing); fields that change nothing are dropped (IGNORED). Consecutive turns of one role are
merged (tool results join the user turn); `top_k` (an OpenRouter-style extension) is topK;
reasoning_effort / reasoning.max_tokens are a thinkingBudget (see THINKING_BUDGETS), and a
`reasoning` object not `exclude`d asks for thought summaries (includeThoughts).

Thought signatures: a Gemini functionCall's `thoughtSignature` travels on the OpenAI tool call as
`extra_content.google.thought_signature` (Google's own OpenAI-compatible convention) and is put back
when the call is replayed; a replayed turn without any signature gets Google's documented
`skip_thought_signature_validator` so Gemini 3 accepts histories from other models.
Tool call ids are not sent to Gemini: responses are matched to calls by name, in order.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from gateway.dialects.gemini import SKIP_SIGNATURE, call_signature, guess_mime, is_web_url, parse_data_url
from gateway.errors import InvalidRequest

# OpenAI fields that change nothing Gemini produces (routing, bookkeeping, transport).
IGNORED = frozenset(
    {
        "model",
        "messages",
        "stream",
        "stream_options",
        "user",
        "store",
        "metadata",
        "service_tier",
        "safety_identifier",
        "prompt_cache_key",
        "prompt_cache_retention",
        "provider",
        "usage",
    }
)
# OpenAI fields Gemini has no equivalent for, when set to a value that matters.
UNSUPPORTED = frozenset(
    {"logprobs", "top_logprobs", "logit_bias", "audio", "prediction", "web_search_options", "verbosity"}
    | {"functions", "function_call", "parallel_tool_calls", "modalities"}
)
_MAPPED = frozenset(
    {"temperature", "top_p", "top_k", "max_tokens", "max_completion_tokens", "stop", "n", "seed"}
    | {"presence_penalty", "frequency_penalty", "response_format", "tools", "tool_choice"}
    | {"reasoning_effort", "reasoning"}
)
# reasoning_effort as a thinkingBudget, which Gemini 2.5 and 3 both accept: Google's own OpenAI
# compatibility layer uses 1K / 8K / 24K for low / medium / high; 512 is the smallest budget every
# 2.5 model accepts; 24576 the largest.
THINKING_BUDGETS = {"none": 0, "minimal": 512, "low": 1024, "medium": 8192, "high": 24576, "xhigh": 24576, "max": 24576}

_GENERATION = {
    "temperature": "temperature",
    "top_p": "topP",
    "top_k": "topK",
    "seed": "seed",
    "presence_penalty": "presencePenalty",
    "frequency_penalty": "frequencyPenalty",
}


def endpoint(base_url: str, model: str, stream: bool) -> str:
    """`{base}/models/{model}:generateContent`, or the SSE stream of `streamGenerateContent`."""
    path = model if model.startswith(("models/", "tunedModels/")) else f"models/{model}"
    method = "streamGenerateContent?alt=sse" if stream else "generateContent"
    return f"{base_url.rstrip('/')}/{path}:{method}"


def count_endpoint(base_url: str, model: str) -> str:
    """`{base}/models/{model}:countTokens`."""
    path = model if model.startswith(("models/", "tunedModels/")) else f"models/{model}"
    return f"{base_url.rstrip('/')}/{path}:countTokens"


def count_request(body: Mapping[str, Any], model: str) -> dict[str, Any]:
    """A countTokens body for a canonical request: the whole GenerateContentRequest it would be."""
    path = model if model.startswith(("models/", "tunedModels/")) else f"models/{model}"
    return {"generateContentRequest": {"model": path, **chat_request(body)}}


def headers(api_key: str) -> dict[str, str]:
    return {"x-goog-api-key": api_key, "content-type": "application/json"}


def image_request(prompt: str) -> dict[str, Any]:
    """One image from a Gemini image model: generateContent asking for the IMAGE modality."""
    return {
        "contents": [{"role": "user", "parts": [{"text": prompt}]}],
        "generationConfig": {"responseModalities": ["IMAGE", "TEXT"]},
    }


# ---------------------------------------------------------------- chat


def chat_request(body: Mapping[str, Any]) -> dict[str, Any]:
    """The GenerateContentRequest body for an OpenAI chat request (the model goes in the URL)."""
    _refuse_unsupported(body)
    system, contents = _contents(body.get("messages") or [])
    request: dict[str, Any] = {"contents": contents}
    if system:
        request["systemInstruction"] = {"parts": system}
    request.update(_tools(body))
    generation = _generation_config(body)
    if generation:
        request["generationConfig"] = generation
    return request


def _refuse_unsupported(body: Mapping[str, Any]) -> None:
    for name, value in body.items():
        if name in IGNORED or name in _MAPPED or value is None:
            continue
        if name in UNSUPPORTED and _harmless(name, value):
            continue
        raise InvalidRequest(f"`{name}` is not supported by Gemini models.", param=name)


def _harmless(name: str, value: Any) -> bool:
    if name in ("logprobs", "logit_bias"):
        return bool(not value)
    if name == "parallel_tool_calls":
        return value is True
    return name == "modalities" and value == ["text"]


def _text_of(content: Any, param: str) -> str:
    if isinstance(content, str):
        return content
    texts: list[str] = []
    for part in content or []:
        if not isinstance(part, dict) or part.get("type") != "text":
            raise InvalidRequest("Only text parts are allowed here.", param=param)
        texts.append(str(part.get("text") or ""))
    return "".join(texts)


def _user_parts(content: Any, param: str) -> list[dict[str, Any]]:
    if isinstance(content, str) or content is None:
        return [{"text": content}] if content else []
    parts: list[dict[str, Any]] = []
    for j, part in enumerate(content):
        kind = part.get("type") if isinstance(part, dict) else None
        if kind == "text":
            if part.get("text"):
                parts.append({"text": part["text"]})
        elif kind == "image_url":
            image = part.get("image_url")
            url = image.get("url") if isinstance(image, dict) else image
            parts.append(_media(url if isinstance(url, str) else "", "image/jpeg", f"{param}[{j}].image_url"))
        elif kind == "input_audio":
            audio = part.get("input_audio") or {}
            parts.append({"inlineData": {"mimeType": f"audio/{audio.get('format', 'wav')}", "data": audio.get("data")}})
        elif kind == "file" and isinstance(part.get("file"), dict) and part["file"].get("file_data"):
            parts.append(_media(part["file"]["file_data"], "application/pdf", f"{param}[{j}].file"))
        else:
            raise InvalidRequest(f"Content parts of type `{kind}` are not supported by Gemini.", param=f"{param}[{j}]")
    return parts


def _media(url: str, default_mime: str, param: str) -> dict[str, Any]:
    inline = parse_data_url(url)
    if inline is not None:
        return {"inlineData": {"mimeType": inline[0], "data": inline[1]}}
    if is_web_url(url):
        return {"fileData": {"mimeType": guess_mime(url, default_mime), "fileUri": url}}
    raise InvalidRequest("Give media as an http(s) URL or a base64 data URL.", param=param)


def _contents(messages: list[Any]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    system: list[dict[str, Any]] = []
    contents: list[dict[str, Any]] = []
    call_names: dict[str, str] = {}

    def add(role: str, parts: list[dict[str, Any]]) -> None:
        if not parts:
            return
        if contents and contents[-1]["role"] == role:
            contents[-1]["parts"].extend(parts)
        else:
            contents.append({"role": role, "parts": parts})

    for i, message in enumerate(messages):
        role, content, param = message.get("role"), message.get("content"), f"messages[{i}]"
        if role in ("system", "developer"):
            text = _text_of(content, f"{param}.content")
            if text:
                system.append({"text": text})
        elif role == "user":
            add("user", _user_parts(content, f"{param}.content"))
        elif role == "assistant":
            add("model", _assistant_parts(message, param, call_names))
        elif role == "tool":
            add("user", [_function_response(message, param, call_names)])
        else:
            raise InvalidRequest(f"Messages with role `{role}` are not supported by Gemini.", param=f"{param}.role")
    return system, contents


def _assistant_parts(message: dict[str, Any], param: str, call_names: dict[str, str]) -> list[dict[str, Any]]:
    text = _text_of(message.get("content"), f"{param}.content") if message.get("content") else ""
    parts: list[dict[str, Any]] = [{"text": text}] if text else []
    calls: list[dict[str, Any]] = []
    for j, call in enumerate(message.get("tool_calls") or []):
        function = call.get("function") or {}
        name, raw = function.get("name"), function.get("arguments") or "{}"
        try:
            args = json.loads(raw) if isinstance(raw, str) else raw
        except (ValueError, RecursionError):
            args = None
        if not isinstance(args, dict):
            raise InvalidRequest(
                "Tool call arguments must be a JSON object.", param=f"{param}.tool_calls[{j}].function.arguments"
            )
        call_names[str(call.get("id"))] = str(name)
        part: dict[str, Any] = {"functionCall": {"name": name, "args": args}}
        if (signature := call_signature(call)) is not None:
            part["thoughtSignature"] = signature
        calls.append(part)
    if calls and not any("thoughtSignature" in part for part in calls):
        calls[0]["thoughtSignature"] = SKIP_SIGNATURE
    return parts + calls


def _function_response(message: dict[str, Any], param: str, call_names: dict[str, str]) -> dict[str, Any]:
    name = call_names.get(str(message.get("tool_call_id")))
    if name is None:
        raise InvalidRequest("No earlier assistant tool call has this id.", param=f"{param}.tool_call_id")
    content = message.get("content")
    text = content if isinstance(content, str) else _text_of(content, f"{param}.content")
    try:
        parsed = json.loads(text)
    except (ValueError, RecursionError):
        parsed = None
    response = parsed if isinstance(parsed, dict) else {"content": text}
    return {"functionResponse": {"name": name, "response": response}}


def _tools(body: Mapping[str, Any]) -> dict[str, Any]:
    declarations: list[dict[str, Any]] = []
    for i, tool in enumerate(body.get("tools") or []):
        function = tool.get("function") if isinstance(tool, dict) and tool.get("type") == "function" else None
        if not isinstance(function, dict):
            raise InvalidRequest("Only function tools are supported by Gemini.", param=f"tools[{i}]")
        declaration = {"name": function.get("name")}
        if function.get("description"):
            declaration["description"] = function["description"]
        if function.get("parameters"):
            declaration["parametersJsonSchema"] = function["parameters"]
        declarations.append(declaration)
    choice = body.get("tool_choice")
    if not declarations:
        if choice not in (None, "auto", "none"):
            raise InvalidRequest("tool_choice needs tools.", param="tool_choice")
        return {}
    config: dict[str, Any]
    if choice in (None, "auto"):
        config = {"mode": "AUTO"}
    elif choice == "none":
        config = {"mode": "NONE"}
    elif choice == "required":
        config = {"mode": "ANY"}
    elif isinstance(choice, dict) and choice.get("type") == "function":
        config = {"mode": "ANY", "allowedFunctionNames": [(choice.get("function") or {}).get("name")]}
    elif isinstance(choice, dict) and choice.get("type") == "allowed_tools":
        allowed = choice.get("allowed_tools") or {}
        names = {(t.get("function") or {}).get("name") for t in allowed.get("tools") or [] if isinstance(t, dict)}
        declarations = [d for d in declarations if d["name"] in names]
        config = {"mode": "ANY" if allowed.get("mode") == "required" else "AUTO"}
    else:
        raise InvalidRequest("This tool_choice is not supported by Gemini.", param="tool_choice")
    return {"tools": [{"functionDeclarations": declarations}], "toolConfig": {"functionCallingConfig": config}}


def _generation_config(body: Mapping[str, Any]) -> dict[str, Any]:
    config: dict[str, Any] = {
        ours: body[theirs] for theirs, ours in _GENERATION.items() if body.get(theirs) is not None
    }
    limit = body.get("max_completion_tokens") or body.get("max_tokens")
    if limit is not None:
        config["maxOutputTokens"] = limit
    stop = body.get("stop")
    if stop:
        config["stopSequences"] = [stop] if isinstance(stop, str) else list(stop)
    if body.get("n") not in (None, 1):
        config["candidateCount"] = body["n"]
    config.update(_response_format(body.get("response_format")))
    thinking = _thinking_config(body)
    if thinking:
        config["thinkingConfig"] = thinking
    return config


def _response_format(response_format: Any) -> dict[str, Any]:
    kind = response_format.get("type") if isinstance(response_format, dict) else response_format
    if kind in (None, "text"):
        return {}
    if kind == "json_object":
        return {"responseMimeType": "application/json"}
    if kind == "json_schema":
        schema = (response_format.get("json_schema") or {}).get("schema")
        if isinstance(schema, dict):
            return {"responseMimeType": "application/json", "responseJsonSchema": schema}
        raise InvalidRequest("json_schema needs a `schema` object.", param="response_format")
    raise InvalidRequest(f"response_format `{kind}` is not supported by Gemini.", param="response_format")


def _thinking_config(body: Mapping[str, Any]) -> dict[str, Any]:
    reasoning = body.get("reasoning")
    if reasoning is not None and not isinstance(reasoning, dict):
        raise InvalidRequest("reasoning must be an object.", param="reasoning")
    reasoning = reasoning or {}
    effort = body.get("reasoning_effort") or reasoning.get("effort")
    budget = reasoning.get("max_tokens")
    if reasoning.get("enabled") is False:
        budget = 0
    elif budget is None and effort is not None:
        if effort not in THINKING_BUDGETS:
            param = "reasoning_effort" if body.get("reasoning_effort") else "reasoning.effort"
            raise InvalidRequest(f"Unknown reasoning effort `{effort}`.", param=param)
        budget = THINKING_BUDGETS[effort]
    config: dict[str, Any] = {} if budget is None else {"thinkingBudget": budget}
    if body.get("reasoning") is not None and budget != 0 and not reasoning.get("exclude"):
        config["includeThoughts"] = True
    return config
