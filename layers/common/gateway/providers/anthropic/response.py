"""Anthropic's answers as canonical ones: a message as a chat.completion, its stream events as chunks,
its errors as (message, code, param). Pure. Anthropic's signed thinking comes back as
`reasoning_content` (the text) plus `thinking_blocks` (the blocks with their signatures, which a
client must send back on its next turn when thinking is combined with tools).
"""

from __future__ import annotations

import json
from typing import Any

from gateway.canonical import (
    ChatChunk,
    ChatCompletion,
    ChunkChoice,
    CompletionUsage,
    Delta,
    Message,
    PromptTokensDetails,
    ToolCall,
    Usage,
    token_count,
    usage_from,
)
from gateway.dialects.anthropic import ERROR_STATUS, FINISH_REASONS
from gateway.providers.errors import UpstreamFailure, error_member
from gateway.providers.streams import Reported


def _count(usage: dict[str, Any], name: str) -> int:
    return token_count(usage.get(name)) or 0


def _obj(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


_COUNTS = ("input_tokens", "output_tokens", "cache_creation_input_tokens", "cache_read_input_tokens")


def _counted(usage: Any) -> bool:
    """Both counts present, and every count a count (not negative, fractional, a string)."""
    if not isinstance(usage, dict) or "input_tokens" not in usage or "output_tokens" not in usage:
        return False
    return all(name not in usage or token_count(usage[name]) is not None for name in _COUNTS)


def usage_dict(usage: Any) -> CompletionUsage | None:
    """OpenAI usage from Anthropic's: input_tokens excludes cache reads and writes, prompt_tokens includes
    them. A compaction's sampling step (`usage.iterations`) is billed apart from the top-level counts:
    it is added to them (the gateway refuses compaction; an answer that ran one all the same pays it).
    A usage without both counts, or with a count that is not one, is no report: the gateway charges
    what it saw instead."""
    if not _counted(usage):
        return None
    iterations = usage["iterations"] if isinstance(usage.get("iterations"), list) else []
    parts = [usage, *(step for step in iterations if _obj(step).get("type") == "compaction")]
    if not all(map(_counted, parts)):
        return None

    def total(name: str, within: str | None = None) -> int:
        return sum(_count(_obj(part.get(within)) if within else part, name) for part in parts)

    written, read = total("cache_creation_input_tokens"), total("cache_read_input_tokens")
    prompt = total("input_tokens") + written + read
    completion = total("output_tokens")
    details: PromptTokensDetails = {"cached_tokens": read}
    if written:
        details["cache_write_tokens"] = written
        # writes with the 1-hour TTL cost more than the default 5-minute ones (2x input, not 1.25x)
        long_lived = min(total("ephemeral_1h_input_tokens", within="cache_creation"), written)
        if long_lived:
            details["cache_write_1h_tokens"] = long_lived
    counted: CompletionUsage = {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
        "prompt_tokens_details": details,
    }
    tools = usage.get("server_tool_use")  # searches and fetches Anthropic ran, each with its fee
    if isinstance(tools, dict) and (_count(tools, "web_search_requests") or _count(tools, "web_fetch_requests")):
        counted["server_tool_use"] = {
            "web_search_requests": _count(tools, "web_search_requests"),
            "web_fetch_requests": _count(tools, "web_fetch_requests"),
        }
    return counted


def chat_response(payload: dict[str, Any], model: str, *, created: int = 0) -> ChatCompletion:
    """An OpenAI chat.completion from an Anthropic message (`created`: the caller's clock, seconds)."""
    texts: list[str] = []
    reasoning: list[str] = []
    thinking_blocks: list[dict[str, Any]] = []
    calls: list[ToolCall] = []
    for block in payload.get("content") or []:
        kind = block.get("type") if isinstance(block, dict) else None
        if kind == "text":
            texts.append(str(block.get("text") or ""))
        elif kind == "thinking":
            reasoning.append(str(block.get("thinking") or ""))
            thinking_blocks.append(
                {"type": "thinking", "thinking": block.get("thinking") or "", "signature": block.get("signature") or ""}
            )
        elif kind == "redacted_thinking":
            thinking_blocks.append({"type": "redacted_thinking", "data": block.get("data") or ""})
        elif kind == "tool_use":
            arguments = json.dumps(block.get("input") or {}, ensure_ascii=False)
            calls.append(
                {
                    "id": block.get("id"),
                    "type": "function",
                    "function": {"name": block.get("name"), "arguments": arguments},
                }
            )
    message: Message = {
        "role": "assistant",
        "content": "".join(texts) if texts or not calls else None,
        "refusal": None,
    }
    if calls:
        message["tool_calls"] = calls
    if reasoning:
        message["reasoning_content"] = "".join(reasoning)
    if thinking_blocks:
        message["thinking_blocks"] = thinking_blocks
    completion: ChatCompletion = {
        "id": payload.get("id"),
        "object": "chat.completion",
        "created": created,
        "model": model,
        "choices": [
            {
                "index": 0,
                "message": message,
                "logprobs": None,
                "finish_reason": FINISH_REASONS.get(str(payload.get("stop_reason")), "stop"),
            }
        ],
    }
    usage = usage_dict(payload.get("usage"))
    if usage is not None:
        completion["usage"] = usage
    return completion


class StreamTranslator:
    """Anthropic stream events -> OpenAI chat.completion.chunk dicts, one event at a time.

    The first chunk carries the role; a tool call starts with its index, id and name and then
    streams argument fragments; thinking streams as `reasoning_content`, its signature as a
    `thinking_blocks` entry with empty text. message_delta gives the finish chunk; message_stop a
    final usage-only chunk (choices: []), as OpenAI sends with stream_options.include_usage, and
    the stream's end (`ended`).
    """

    def __init__(self, model: str, *, created: int = 0) -> None:
        self.model = model
        self.created = created
        self.id = "msg_unknown"
        self._usage: dict[str, Any] | None = None
        # message_start's output_tokens is a placeholder; the count is final once message_delta has it
        self._final = False
        self._tool_index: dict[int, int] = {}  # Anthropic block index -> OpenAI tool call index
        self.ended = False  # message_stop came

    @property
    def usage(self) -> Usage | None:
        return usage_from({"usage": usage_dict(self._usage)}) if self._final else None

    def reported(self) -> Reported | None:
        """The counts so far: message_start's (input, cache; output a placeholder), final once
        message_delta gave the output."""
        counts = usage_dict({"output_tokens": 0, **self._usage}) if self._usage is not None else None
        usage = usage_from({"usage": counts})
        return None if usage is None else Reported(usage, self._final)

    def feed(self, event: str, data: dict[str, Any]) -> list[ChatChunk]:
        kind = data.get("type") or event
        if kind == "message_start":
            message = data.get("message") or {}
            self.id = str(message.get("id") or self.id)
            self._usage = dict(message.get("usage") or {})
            return [self._chunk({"role": "assistant", "content": ""})]
        if kind == "content_block_start":
            return self._block_start(data.get("index"), data.get("content_block") or {})
        if kind == "content_block_delta":
            return self._block_delta(data.get("index"), data.get("delta") or {})
        if kind == "message_delta":
            usage = {k: v for k, v in (data.get("usage") or {}).items() if v is not None}
            self._usage = {**(self._usage or {}), **usage}  # counts on message_delta are cumulative
            self._final = self._final or "output_tokens" in usage
            reason = (data.get("delta") or {}).get("stop_reason")
            return [self._chunk({}, finish_reason=FINISH_REASONS.get(str(reason), "stop"))]
        if kind == "message_stop":
            self.ended = True
            if not self._final:  # no final count came: the gateway charges what it saw produced
                return []
            final = self._chunk_base([])
            final["usage"] = usage_dict(self._usage or {})
            return [final]
        if kind == "error":
            error: dict[str, Any] = data["error"] if isinstance(data.get("error"), dict) else {}
            message = error.get("message") or "the provider reported an error mid-stream"
            raise UpstreamFailure(str(message), status=ERROR_STATUS.get(str(error.get("type")), 500))
        return []  # ping, content_block_stop and event types added later carry nothing to relay

    def _block_start(self, index: Any, block: dict[str, Any]) -> list[ChatChunk]:
        kind = block.get("type")
        if kind == "tool_use" and isinstance(index, int):
            position = self._tool_index[index] = len(self._tool_index)
            call: ToolCall = {
                "index": position,
                "id": block.get("id"),
                "type": "function",
                "function": {"name": block.get("name"), "arguments": ""},
            }
            return [self._chunk({"tool_calls": [call]})]
        if kind == "text" and block.get("text"):
            return [self._chunk({"content": block["text"]})]
        if kind == "thinking" and block.get("thinking"):
            return [self._chunk({"reasoning_content": block["thinking"]})]
        if kind == "redacted_thinking":
            return [self._chunk({"thinking_blocks": [{"type": "redacted_thinking", "data": block.get("data") or ""}]})]
        return []

    def _block_delta(self, index: Any, delta: dict[str, Any]) -> list[ChatChunk]:
        kind = delta.get("type")
        if kind == "text_delta" and delta.get("text"):
            return [self._chunk({"content": delta["text"]})]
        if kind == "thinking_delta" and delta.get("thinking"):
            return [self._chunk({"reasoning_content": delta["thinking"]})]
        if kind == "signature_delta" and delta.get("signature"):
            block = {"type": "thinking", "thinking": "", "signature": delta["signature"]}
            return [self._chunk({"thinking_blocks": [block]})]
        if kind == "input_json_delta" and delta.get("partial_json") and index in self._tool_index:
            fragment: ToolCall = {"index": self._tool_index[index], "function": {"arguments": delta["partial_json"]}}
            return [self._chunk({"tool_calls": [fragment]})]
        return []  # empty fragments, citations

    def _chunk_base(self, choices: list[ChunkChoice]) -> ChatChunk:
        return {
            "id": self.id,
            "object": "chat.completion.chunk",
            "created": self.created,
            "model": self.model,
            "choices": choices,
        }

    def _chunk(self, delta: Delta, finish_reason: str | None = None) -> ChatChunk:
        return self._chunk_base([{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish_reason}])


def counted_tokens(payload: dict[str, Any]) -> int:
    """`input_tokens` of a count_tokens answer."""
    total = payload.get("input_tokens")
    if not isinstance(total, int) or isinstance(total, bool) or total < 0:
        raise UpstreamFailure("the provider sent an unexpected token count", status=502)
    return total


def error_from(status: int, body: bytes) -> tuple[str, str | None, str | None]:
    """(message, code, param) from Anthropic's {"type":"error","error":{"type","message"}}; code = error.type."""
    error = error_member(body)
    if isinstance(error, dict) and isinstance(error.get("message"), str):
        code = error.get("type")
        return error["message"], str(code) if code else None, None
    if isinstance(error, str):
        return error, None, None
    return f"upstream answered HTTP {status}", None, None
