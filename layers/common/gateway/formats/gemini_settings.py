"""A Gemini request's function tools, tool config and generationConfig, as the canonical (OpenAI)
request's fields (formats/gemini.py translates the rest). Both camelCase and snake_case names are read."""

from __future__ import annotations

from typing import Any

from gateway.dialects.gemini import camel, field, json_schema
from gateway.errors import InvalidRequest
from gateway.formats.inbound import Skipped

_SAMPLING = {
    "temperature": "temperature",
    "topP": "top_p",
    "topK": "top_k",
    "seed": "seed",
    "presencePenalty": "presence_penalty",
    "frequencyPenalty": "frequency_penalty",
    "maxOutputTokens": "max_completion_tokens",
    "candidateCount": "n",
}


def refuse(error: InvalidRequest, skipped: Skipped | None, *, media: bool = False) -> None:
    if skipped is None:
        raise error
    skipped.add(error, media=media)


def function_tools(body: dict[str, Any], skipped: Skipped | None = None) -> dict[str, Any]:
    tools: list[dict[str, Any]] = []
    for i, tool in enumerate(field(body, "tools") or []):
        for key in tool:
            if camel(key) != "functionDeclarations" and skipped is None:  # `translated` has taken the others
                raise InvalidRequest(f"The `{key}` tool is not supported by this gateway.", param=f"tools[{i}].{key}")
        declarations = field(tool, "functionDeclarations") or []
        if not isinstance(declarations, list):
            raise InvalidRequest("`functionDeclarations` is a list.", param=f"tools[{i}].functionDeclarations")
        for declaration in declarations:
            function: dict[str, Any] = {"name": field(declaration, "name")}
            if field(declaration, "description"):
                function["description"] = field(declaration, "description")
            parameters = field(declaration, "parametersJsonSchema")
            if parameters is None and field(declaration, "parameters") is not None:
                parameters = json_schema(field(declaration, "parameters"))
            function["parameters"] = parameters or {"type": "object", "properties": {}}
            tools.append({"type": "function", "function": function})
    config = field(field(body, "toolConfig"), "functionCallingConfig")
    if not tools:
        return {}
    mode = str(field(config, "mode") or "AUTO").upper()
    allowed = _strings(field(config, "allowedFunctionNames"), "toolConfig.functionCallingConfig.allowedFunctionNames")
    choice: Any
    if mode in ("AUTO", "MODE_UNSPECIFIED"):
        choice = "auto"
    elif mode == "NONE":
        choice = "none"
    elif mode == "ANY" and len(allowed) == 1:
        choice = {"type": "function", "function": {"name": allowed[0]}}
    elif mode == "ANY":
        tools = [tool for tool in tools if not allowed or tool["function"]["name"] in allowed]
        choice = "required"
    else:
        raise InvalidRequest(f"Function calling mode `{mode}` is not supported.", param="toolConfig")
    return {"tools": tools} if config is None else {"tools": tools, "tool_choice": choice}


def generation(config: dict[str, Any], skipped: Skipped | None = None) -> dict[str, Any]:
    request: dict[str, Any] = {}
    for raw_key, value in config.items():
        key, param = camel(raw_key), f"generationConfig.{raw_key}"
        if value is None or key in ("responseMimeType", "responseSchema", "responseJsonSchema"):
            continue
        if key in _SAMPLING:
            request[_SAMPLING[key]] = value
        elif key == "stopSequences":
            request["stop"] = _strings(value, param)
        elif key == "thinkingConfig":
            request.update(_reasoning(value))
        elif (key == "responseModalities" and [m.upper() for m in _strings(value, param)] in ([], ["TEXT"])) or (
            key == "responseLogprobs" and value is False
        ):
            continue
        elif key in ("responseLogprobs", "logprobs"):
            refuse(InvalidRequest(f"`{raw_key}` is not supported by this gateway.", param=param), skipped)
        else:
            raise InvalidRequest(f"`{raw_key}` is not supported by this gateway.", param=param)
    mime = field(config, "responseMimeType")
    schema = field(config, "responseJsonSchema")
    if schema is None and field(config, "responseSchema") is not None:
        schema = json_schema(field(config, "responseSchema"))
    if schema is not None:
        request["response_format"] = {"type": "json_schema", "json_schema": {"name": "response", "schema": schema}}
    elif mime == "application/json":
        request["response_format"] = {"type": "json_object"}
    elif mime not in (None, "text/plain"):
        raise InvalidRequest(f"responseMimeType `{mime}` is not supported.", param="generationConfig.responseMimeType")
    return request


def _strings(value: Any, param: str) -> list[str]:
    """A list of strings as sent (none: empty), or the 400 naming `param`."""
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise InvalidRequest(f"`{param.rpartition('.')[2]}` must be a list of strings.", param=param)
    return value


def _reasoning(thinking: Any) -> dict[str, Any]:
    """thinkingLevel -> reasoning_effort; thinkingBudget N > 0 -> reasoning.max_tokens, 0 -> effort
    `none`, -1 (dynamic) -> nothing; includeThoughts -> reasoning.exclude = false."""
    level, budget = field(thinking, "thinkingLevel"), field(thinking, "thinkingBudget")
    include = field(thinking, "includeThoughts") is True
    out: dict[str, Any] = {}
    if isinstance(level, str) and level.upper() != "THINKING_LEVEL_UNSPECIFIED":
        out["reasoning_effort"] = level.lower()
    if budget == 0:
        out["reasoning_effort"] = "none"
    reasoning: dict[str, Any] = {"max_tokens": budget} if isinstance(budget, int) and budget > 0 else {}
    if reasoning or include:
        out["reasoning"] = {**reasoning, "exclude": not include}
    return out
