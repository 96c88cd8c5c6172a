"""Gemini as an inbound format: POST /v1beta/models/{model}:generateContent (and
:streamGenerateContent?alt=sse), as the google-genai SDKs and the REST samples send it.

The request becomes our OpenAI canonical request (`to_openai`; its tools and generationConfig in
`gemini_settings`); the answer goes back in Gemini's
shape in `gemini_answers`. Both camelCase and snake_case field names are read.
What has no OpenAI equivalent and would change the answer raises InvalidRequest naming it, unless it
goes to a Gemini upstream as sent (`translated`: see `gemini_tools`): safety thresholds stricter than
the default (BLOCK_NONE / OFF are the defaults of current models, so those are dropped), the built-in
tools the gateway prices (googleSearch, codeExecution), logprobs, and media the canonical form cannot
carry (video, other audio, public file URLs). Refused for every upstream: `cachedContent` and Files
API URIs, other built-in tools, non-text output modalities. `labels`, `serviceTier` and `model` are
dropped.
"""

from __future__ import annotations

import json
from typing import Annotated, Any, Literal, cast

from pydantic import AliasChoices, BaseModel, ConfigDict, Field, model_validator

from gateway.canonical import ChatRequest, ServerTools, ToolCall
from gateway.dialects.gemini import camel, data_url, field, is_web_url, signed, snake, thinking_carried
from gateway.errors import InvalidRequest
from gateway.formats.gemini_settings import function_tools, generation, refuse
from gateway.formats.gemini_tools import CACHED_CONTENT, FILES_API, built_in_tools
from gateway.formats.inbound import Exchange, NativeOnly, Skipped
from gateway.formats.premium import GEMINI, refuse_premium
from gateway.formats.wire import (
    MAX_OUTPUT_TOKENS,
    OutputTokens,
    Penalty,
    Seed32,
    Temperature,
    TopLogprobs,
    UnitInterval,
    WireModel,
)


def _alias(camel: str) -> Any:
    return Field(None, validation_alias=AliasChoices(camel, snake(camel)), serialization_alias=camel)


class _OneSpelling(BaseModel):
    """Gemini reads `maxOutputTokens` and `max_output_tokens` alike: a body naming a field both ways
    could have one spelling checked and the other obeyed, so it is refused."""

    @model_validator(mode="before")
    @classmethod
    def _one_spelling(cls, data: Any) -> Any:
        if isinstance(data, dict):
            seen: dict[str, str] = {}
            for key in data:
                name = camel(str(key))
                if name in seen:
                    raise ValueError(f"`{seen[name]}` and `{key}` name the same field")
                seen[name] = str(key)
        return data


class Content(BaseModel):
    model_config = ConfigDict(extra="allow")

    role: Literal["user", "model", "function"] | None = None
    parts: list[dict[str, Any]] = Field(min_length=1)


class ThinkingConfig(_OneSpelling):
    model_config = ConfigDict(extra="allow", populate_by_name=True)

    # -1: dynamic, 0: off, N: at most N thinking tokens
    thinking_budget: Annotated[int, Field(strict=True, ge=-1, le=MAX_OUTPUT_TOKENS)] | None = _alias("thinkingBudget")
    include_thoughts: bool | None = _alias("includeThoughts")


class GenerationConfig(_OneSpelling):
    """Every numeric field is bounded here: a hostile number is a 400 before any credit moves."""

    model_config = ConfigDict(extra="allow", populate_by_name=True)

    max_output_tokens: OutputTokens | None = _alias("maxOutputTokens")
    candidate_count: Annotated[int, Field(strict=True, ge=1, le=8)] | None = _alias("candidateCount")
    temperature: Temperature | None = None
    top_p: UnitInterval | None = _alias("topP")
    top_k: Annotated[float, Field(strict=True, ge=0, le=1_000_000, allow_inf_nan=False)] | None = _alias(
        "topK"
    )  # google-genai sends it as a float
    seed: Seed32 | None = None
    presence_penalty: Penalty | None = _alias("presencePenalty")
    frequency_penalty: Penalty | None = _alias("frequencyPenalty")
    response_logprobs: bool | None = _alias("responseLogprobs")
    logprobs: TopLogprobs | None = None
    thinking_config: ThinkingConfig | None = _alias("thinkingConfig")


class GenerateContentRequest(WireModel, _OneSpelling):
    model_config = ConfigDict(extra="allow", populate_by_name=True)

    contents: list[Content] = Field(min_length=1, max_length=10_000)
    system_instruction: Content | dict[str, Any] | str | None = _alias("systemInstruction")
    tools: list[dict[str, Any]] | None = None
    tool_config: dict[str, Any] | None = _alias("toolConfig")
    generation_config: GenerationConfig | None = _alias("generationConfig")
    safety_settings: list[dict[str, Any]] | None = _alias("safetySettings")
    cached_content: str | None = _alias("cachedContent")

    def requested_output_tokens(self) -> int | None:
        config = self.generation_config
        return config.max_output_tokens if config else None

    def wire_body(self) -> dict[str, Any]:
        """The body as sent, under the camelCase names (fields it did not send stay absent)."""
        return self.sent(by_alias=True)


# ---------------------------------------------------------------- request

_TOP_LEVEL = {"contents", "systemInstruction", "tools", "toolConfig", "generationConfig", "safetySettings"}
_DROPPED = {"model", "labels", "serviceTier", "cachedContent"}  # cachedContent: checked in to_openai
_DEFAULT_THRESHOLDS = {"OFF", "BLOCK_NONE", "HARM_BLOCK_THRESHOLD_UNSPECIFIED"}
_AUDIO_FORMATS = {
    "audio/wav": "wav",
    "audio/x-wav": "wav",
    "audio/wave": "wav",
    "audio/mp3": "mp3",
    "audio/mpeg": "mp3",
}


def translated(
    body: dict[str, Any], model: str, stream: bool
) -> tuple[ChatRequest, tuple[NativeOnly, ...], ServerTools]:
    """The canonical body of a GenerateContentRequest for upstreams of other kinds, what only Gemini
    takes (left out of it), and what its built-in tools can add to the cost. Raises the 400 of what
    no upstream is sent."""
    tools, own = built_in_tools(body)
    skipped = Skipped(NativeOnly(param, reason) for param, reason in own)
    return to_openai(body, model, stream, skipped=skipped), tuple(skipped), tools


def to_openai(body: dict[str, Any], model: str, stream: bool, *, skipped: Skipped | None = None) -> ChatRequest:
    """The OpenAI canonical chat request for a GenerateContentRequest body: strict (a 400 for what it
    cannot translate), unless `skipped` collects what only a Gemini upstream takes."""
    for key in body:
        if camel(key) not in _TOP_LEVEL | _DROPPED:
            raise InvalidRequest(f"`{key}` is not supported by this gateway.", param=key)
    if field(body, "cachedContent"):
        raise InvalidRequest(CACHED_CONTENT, param="cachedContent")
    for k, setting in enumerate(field(body, "safetySettings") or []):
        if str(field(setting, "threshold") or "HARM_BLOCK_THRESHOLD_UNSPECIFIED").upper() not in _DEFAULT_THRESHOLDS:
            refusal = InvalidRequest("Only the default safety threshold is supported.", param=f"safetySettings[{k}]")
            refuse(refusal, skipped)
    messages: list[dict[str, Any]] = []
    system = field(body, "systemInstruction")
    if system:
        messages.append({"role": "system", "content": _system_text(system)})
    messages.extend(_messages(field(body, "contents") or [], skipped))
    request: dict[str, Any] = {"model": model, "messages": messages, "stream": stream}
    if stream:
        request["stream_options"] = {"include_usage": True}
    request.update(function_tools(body, skipped))
    request.update(generation(field(body, "generationConfig") or {}, skipped))
    return cast(ChatRequest, request)


def _system_text(system: Any) -> str:
    if isinstance(system, str):
        return system
    parts = field(system, "parts") or []
    texts = [field(part, "text") for part in parts] if isinstance(parts, list) else [None]
    if not all(isinstance(text, str) for text in texts):
        raise InvalidRequest("systemInstruction may hold only text parts.", param="systemInstruction")
    return "\n".join(str(text) for text in texts)


def _messages(contents: list[Any], skipped: Skipped | None = None) -> list[dict[str, Any]]:
    messages: list[dict[str, Any]] = []
    pending: list[tuple[str, str]] = []  # (id, name) of calls not answered yet
    for i, content in enumerate(contents):
        role = field(content, "role") or "user"
        parts = field(content, "parts") or []
        if role == "model":
            texts: list[str] = []
            calls: list[ToolCall] = []
            thinking: list[dict[str, Any]] = []
            for j, part in enumerate(parts):
                call = field(part, "functionCall")
                signature = field(part, "thoughtSignature")
                if isinstance(call, dict) and (carried := thinking_carried(signature)) is not None:
                    thinking += carried  # another vendor's signed thinking, carried by the gateway
                    signature = None
                if isinstance(call, dict):
                    call_id = str(field(call, "id") or f"call_{i}_{j}")
                    arguments = json.dumps(field(call, "args") or {}, ensure_ascii=False)
                    name = field(call, "name")
                    tool_call: ToolCall = {
                        "id": call_id,
                        "type": "function",
                        "function": {"name": name, "arguments": arguments},
                    }
                    calls.append(signed(tool_call, signature))
                    pending.append((call_id, str(name)))
                elif field(part, "thought") is True:
                    continue  # a thought summary: nothing for the model to read back
                elif isinstance(field(part, "text"), str):
                    texts.append(field(part, "text"))
                else:
                    raise InvalidRequest(
                        "This part is not supported in a model turn.", param=f"contents[{i}].parts[{j}]"
                    )
            _add_model_turn(messages, "".join(texts), calls, thinking)
        elif role in ("user", "function"):
            user_parts: list[dict[str, Any]] = []
            for j, part in enumerate(parts):
                param = f"contents[{i}].parts[{j}]"
                response = field(part, "functionResponse")
                if isinstance(response, dict):
                    messages.append(_tool_message(response, pending, param))
                elif field(part, "thought") is not True:
                    try:
                        user_parts.append(_user_part(part, param))
                    except _GeminiOnly as error:
                        refuse(error, skipped, media=True)
            if len(user_parts) == 1 and user_parts[0]["type"] == "text":
                messages.append({"role": "user", "content": user_parts[0]["text"]})
            elif user_parts:
                messages.append({"role": "user", "content": user_parts})
        else:
            raise InvalidRequest("role must be `user` or `model`.", param=f"contents[{i}].role")
    return messages


def _add_model_turn(
    messages: list[dict[str, Any]], text: str, calls: list[ToolCall], thinking: list[dict[str, Any]]
) -> None:
    """Consecutive model contents are one assistant message: a streamed answer comes back from the
    google-genai chat history as one content per chunk, and tool results must follow their calls."""
    if not text and not calls:
        return
    if messages and messages[-1]["role"] == "assistant":
        last = messages[-1]
        if text:
            last["content"] = (last["content"] or "") + text
        if calls:
            last.setdefault("tool_calls", []).extend(calls)
    else:
        last = {"role": "assistant", "content": text or None}
        if calls:
            last["tool_calls"] = calls
        messages.append(last)
    if thinking:
        last.setdefault("thinking_blocks", []).extend(thinking)


def _tool_message(response: dict[str, Any], pending: list[tuple[str, str]], param: str) -> dict[str, Any]:
    wanted_id, name = field(response, "id"), field(response, "name")
    match = next((c for c in pending if c[0] == wanted_id), None) or next((c for c in pending if c[1] == name), None)
    if match is None:
        raise InvalidRequest(
            "No earlier functionCall matches this functionResponse.", param=f"{param}.functionResponse"
        )
    if field(response, "parts"):
        raise InvalidRequest(
            "Multimodal function responses are not supported.", param=f"{param}.functionResponse.parts"
        )
    pending.remove(match)
    result = field(response, "response")
    only = next(iter(result.items())) if isinstance(result, dict) and len(result) == 1 else None
    if only is not None and only[0] in ("content", "output") and isinstance(only[1], str):
        text = only[1]  # what chat_request wraps a plain-text tool result in
    else:
        text = json.dumps(result if result is not None else {}, ensure_ascii=False)
    return {"role": "tool", "tool_call_id": match[0], "content": text}


def _user_part(part: Any, param: str) -> dict[str, Any]:
    text = field(part, "text")
    if isinstance(text, str):
        return {"type": "text", "text": text}
    inline, linked = field(part, "inlineData"), field(part, "fileData")
    if isinstance(inline, dict):
        mime, data = str(field(inline, "mimeType") or ""), str(field(inline, "data") or "")
        if mime.startswith("image/"):
            return {"type": "image_url", "image_url": {"url": data_url(mime, data)}}
        if mime in _AUDIO_FORMATS:
            return {"type": "input_audio", "input_audio": {"data": data, "format": _AUDIO_FORMATS[mime]}}
        if mime == "application/pdf":
            name = field(inline, "displayName") or "document.pdf"
            return {"type": "file", "file": {"file_data": data_url(mime, data), "filename": name}}
        raise _GeminiOnly(f"Inline data of type `{mime}` is not supported.", param=f"{param}.inlineData")
    if isinstance(linked, dict):
        uri, mime = str(field(linked, "fileUri") or ""), str(field(linked, "mimeType") or "image/")
        if not is_web_url(uri) or "generativelanguage.googleapis.com" in uri:
            raise InvalidRequest(FILES_API, param=f"{param}.fileData")
        if mime.startswith("image/"):
            return {"type": "image_url", "image_url": {"url": uri}}
        raise _GeminiOnly("Only public image URLs are supported in fileData.", param=f"{param}.fileData")
    raise InvalidRequest("This part is not supported in a user turn.", param=param)


class _GeminiOnly(InvalidRequest):
    """What Gemini itself takes but the canonical form cannot carry."""


def exchange(request: GenerateContentRequest, model: str, stream: bool) -> Exchange:
    """The pipeline's view of a validated request, with the model and method of its path."""
    native = request.wire_body()
    refuse_premium(native, GEMINI)
    refuse_premium(native.get("generationConfig") or {}, GEMINI, "generationConfig.")
    canonical, native_only, tools = translated(native, model, stream)
    return Exchange(
        format="gemini",
        endpoint="streamGenerateContent" if stream else "generateContent",
        model=model,
        native=native,
        canonical=canonical,
        stream=stream,
        native_only=native_only,
        server_tools=tools,
    )
