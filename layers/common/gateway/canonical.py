"""The gateway's canonical vocabulary: OpenAI's chat-completions shapes, which every inbound format
translates from and every provider translates to. Pure: nothing here does I/O.

The TypedDicts name the fields the gateway itself reads or writes; a body may carry more (unknown
fields pass through to upstreams that speak the client's format). `Usage` is what a request is
charged on, `StreamEvent` one upstream stream event as the relay meters and forwards it.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, NotRequired, TypedDict, TypeVar

Body = dict[str, Any]  # a JSON object in a vendor's own shape (the client's, or an upstream's)


# ---------------------------------------------------------------- requests


class FunctionCall(TypedDict, total=False):
    name: str | None
    arguments: str


class ToolCall(TypedDict, total=False):
    index: int  # in stream deltas
    id: str | None
    type: Literal["function"]
    function: FunctionCall
    extra_content: dict[str, Any]  # Gemini's thought signature travels here


class Message(TypedDict, total=False):
    role: str
    content: str | list[dict[str, Any]] | None
    name: str
    tool_calls: list[ToolCall]
    tool_call_id: str
    refusal: str | None
    reasoning_content: str  # the model's reasoning text (Anthropic thinking, Gemini thoughts)
    thinking_blocks: list[dict[str, Any]]  # Anthropic's signed thinking, sent back verbatim


class ChatRequest(TypedDict, total=False):
    """A chat request as every provider reads it. Beyond OpenAI's fields it carries the gateway's
    extensions (LiteLLM / OpenRouter conventions): `reasoning`, `top_k`, `cache_control` on parts."""

    model: str
    messages: list[Message]
    stream: bool
    stream_options: dict[str, Any]
    max_tokens: int
    max_completion_tokens: int
    n: int
    temperature: float
    top_p: float
    top_k: int
    stop: str | list[str]
    tools: list[dict[str, Any]]
    tool_choice: Any
    parallel_tool_calls: bool
    response_format: dict[str, Any]
    reasoning: dict[str, Any]
    reasoning_effort: str
    user: str
    metadata: dict[str, Any]


CappedBody = TypeVar("CappedBody", ChatRequest, Body)


# ---------------------------------------------------------------- answers


class PromptTokensDetails(TypedDict, total=False):
    cached_tokens: int
    cache_write_tokens: int  # a gateway extension: tokens written to a prompt cache (Anthropic, Bedrock)
    audio_tokens: int
    cache_write_1h_tokens: int  # a gateway extension: of cache_write_tokens, those kept for an hour
    cached_audio_tokens: int  # a gateway extension: of cached_tokens, those of audio (Gemini)


class ServerToolUse(TypedDict, total=False):
    """A gateway extension (Anthropic's names): tools the upstream ran itself, each with its own fee."""

    web_search_requests: int  # searches (Anthropic web search, OpenAI web_search calls)
    web_fetch_requests: int  # pages fetched (Anthropic web fetch)
    grounded_requests: int  # answers grounded with Google Search (Gemini: one fee per request)


class CompletionUsage(TypedDict, total=False):
    prompt_tokens: int
    completion_tokens: int
    total_tokens: int
    prompt_tokens_details: PromptTokensDetails
    completion_tokens_details: dict[str, int]
    server_tool_use: ServerToolUse


class Choice(TypedDict):
    index: int
    message: Message
    logprobs: Any
    finish_reason: str | None


class ChatCompletion(TypedDict):
    id: str | None
    object: Literal["chat.completion"]
    created: int
    model: str
    choices: list[Choice]
    usage: NotRequired[CompletionUsage]


class Delta(Message, total=False):
    """What one chunk adds to its choice's message."""


class ChunkChoice(TypedDict):
    index: int
    delta: Delta
    logprobs: Any
    finish_reason: str | None


class ChatChunk(TypedDict, total=False):
    """One streamed `chat.completion.chunk`; the last may carry only `usage` (choices: []), and an
    upstream's error mid-stream comes as a chunk of its own with only `error`. Read defensively."""

    id: str | None
    object: Literal["chat.completion.chunk"]
    created: int
    model: str
    choices: list[ChunkChoice]
    usage: CompletionUsage | None
    error: dict[str, Any]


class ImageData(TypedDict, total=False):
    b64_json: str
    url: str


class ImagesResponse(TypedDict):
    created: int
    data: list[ImageData]


@dataclass(frozen=True)
class AudioUpload:
    """A file to transcribe, as the client uploaded it."""

    filename: str
    content: bytes
    content_type: str


@dataclass(frozen=True)
class StreamEvent:
    """One upstream stream event: its bytes as the upstream sent them (for pass-through), and the
    same event as canonical chunks (for metering and for translation)."""

    chunks: list[ChatChunk] = field(default_factory=list)
    raw: bytes | None = None


# ---------------------------------------------------------------- usage and output


@dataclass(frozen=True)
class Usage:
    prompt_tokens: int
    completion_tokens: int
    cached_tokens: int = 0  # read from a prompt cache (part of prompt_tokens)
    cache_write_tokens: int = 0  # written to a prompt cache (part of prompt_tokens; Anthropic, Bedrock)
    audio_tokens: int = 0  # prompt tokens of audio (part of prompt_tokens), dearer on some models
    cache_write_1h_tokens: int = 0  # of cache_write_tokens, those kept for an hour (Anthropic: dearer)
    web_searches: int = 0  # server-side searches the upstream ran
    web_fetches: int = 0  # server-side page fetches
    grounded: int = 0  # answers grounded with Google Search
    cached_audio_tokens: int = 0  # of cached_tokens, those of audio (Gemini: its own price)


@dataclass(frozen=True)
class ServerTools:
    """Tools a request lets the upstream run itself, at most as often as the request allows: what
    they can add to its cost. Each ran tool's results are read by the model as input, up to a
    context window per round. `params` names the request field of each kind, for refusals."""

    web_searches: int = 0
    web_fetches: int = 0
    grounded: bool = False
    rounds: int = 0  # server-side rounds, each of which may read up to a context window more
    params: tuple[tuple[str, str], ...] = ()  # (kind, request field): ("web_search", "tools[2]")

    def param(self, kind: str) -> str:
        return next((name for tool, name in self.params if tool == kind), "tools")


# A count past any context window: a larger one is read as this (a ledger number holds 38 digits, and
# a charge never exceeds its hold anyway)
MAX_TOKEN_COUNT = 10**12


def token_count(value: Any) -> int | None:
    """A count an upstream reported: a non-negative integer (at most MAX_TOKEN_COUNT), else None."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        return None
    return min(value, MAX_TOKEN_COUNT)


def usage_from(payload: Mapping[str, Any]) -> Usage | None:
    """The usage an answer or a chunk reports, if it reports a whole one."""
    usage = payload.get("usage")
    if not isinstance(usage, dict):
        return None
    prompt, completion = token_count(usage.get("prompt_tokens")), token_count(usage.get("completion_tokens"))
    if prompt is None or completion is None:
        return None
    details = usage.get("prompt_tokens_details")
    details = details if isinstance(details, dict) else {}
    tools = usage.get("server_tool_use")
    tools = tools if isinstance(tools, dict) else {}
    return Usage(
        prompt,
        completion,
        _positive(details.get("cached_tokens")),
        _positive(details.get("cache_write_tokens")),
        _positive(details.get("audio_tokens")),
        _positive(details.get("cache_write_1h_tokens")),
        _positive(tools.get("web_search_requests")),
        _positive(tools.get("web_fetch_requests")),
        _positive(tools.get("grounded_requests")),
        _positive(details.get("cached_audio_tokens")),
    )


def _positive(count: Any) -> int:
    return token_count(count) or 0


def completion_text_bytes(payload: Mapping[str, Any]) -> int:
    """Bytes of generated text in a completion (message) or a chunk (delta)."""
    total = 0
    for choice in payload.get("choices") or []:
        if not isinstance(choice, dict):
            continue
        part = choice.get("message") or choice.get("delta") or {}
        if not isinstance(part, dict):
            continue
        for name in ("content", "reasoning_content", "reasoning", "refusal"):
            value = part.get(name)
            if isinstance(value, str):
                total += len(value.encode("utf-8"))
        calls = [*(part.get("tool_calls") or []), {"function": part.get("function_call")}]
        for call in calls:
            function = call.get("function") if isinstance(call, dict) else None
            if isinstance(function, dict):
                total += sum(len(str(function.get(k) or "").encode("utf-8")) for k in ("name", "arguments"))
    return total


def usage_only(chunk: Mapping[str, Any]) -> bool:
    """OpenAI's extra last chunk of a stream: usage and no choices."""
    return not chunk.get("choices") and isinstance(chunk.get("usage"), dict)


@dataclass(frozen=True)
class ChunkInfo:
    """What the gateway needs to know about one streamed chunk."""

    usage: Usage | None
    usage_only: bool  # the extra final chunk carrying usage and no choices
    text_bytes: int  # bytes of generated content in the chunk (for a usage guess if none comes)
    error: dict[str, Any] | None = None


def chunk_info(data: str) -> ChunkInfo:
    """Classify one SSE `data:` payload (not `[DONE]`)."""
    try:
        chunk = json.loads(data)
    except (ValueError, RecursionError):
        return ChunkInfo(usage=None, usage_only=False, text_bytes=0)
    if not isinstance(chunk, dict):
        return ChunkInfo(usage=None, usage_only=False, text_bytes=0)
    if isinstance(chunk.get("error"), dict):
        return ChunkInfo(usage=None, usage_only=False, text_bytes=0, error=chunk["error"])
    usage = usage_from(chunk)
    return ChunkInfo(
        usage=usage,
        usage_only=usage is not None and not chunk.get("choices"),
        text_bytes=completion_text_bytes(chunk),
    )


def error_chunk(message: str, code: str, error_type: str = "api_error") -> str:
    """A terminal SSE event in OpenAI's shape; the openai SDK raises APIError on it."""
    return json.dumps({"error": {"message": message, "type": error_type, "code": code, "param": None}})


def with_output_cap(request: CappedBody, tokens: int) -> CappedBody:
    """A chat body (canonical, or an OpenAI client's own) whose one output cap is `tokens`:
    `max_tokens` stays only when the client used it alone (older OpenAI-compatible servers know no
    other); else `max_completion_tokens`."""
    capped = request.copy()
    if "max_tokens" in capped and "max_completion_tokens" not in capped:
        capped["max_tokens"] = tokens
    else:
        capped.pop("max_tokens", None)
        capped["max_completion_tokens"] = tokens
    return capped
