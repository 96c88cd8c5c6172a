"""Bedrock's Converse answers (as boto3 returns them) as canonical ones: a response as a
chat.completion, ConverseStream events as chunks, boto3's errors as upstream failures. Pure.

Reasoning text round-trips as LiteLLM does it: answers carry `reasoning_content` plus `thinking_blocks`
(`{"type": "thinking", "thinking", "signature"}` / `{"type": "redacted_thinking", "data"}`); the
request side (request.py) turns them back into `reasoningContent` (Claude needs the signed block back
when thinking is combined with tools).
"""

from __future__ import annotations

import base64
import json
import secrets
import time
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
    usage_from,
)
from gateway.providers.errors import UpstreamFailure, UpstreamRefusal, UpstreamTimeout

STOP_REASONS = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "max_tokens": "length",
    "model_context_window_exceeded": "length",
    "tool_use": "tool_calls",
    "guardrail_intervened": "content_filter",
    "content_filtered": "content_filter",
}

# Exception events of ConverseStream -> the status we report (mid-stream everything is the upstream's failure).
STREAM_EXCEPTIONS = {
    "throttlingexception": 429,
    "serviceunavailableexception": 503,
    "internalserverexception": 502,
    "modelstreamerrorexception": 502,
    "validationexception": 502,
}


# ---------------------------------------------------------------- answers


def completion_id(request_id: str | None = None) -> str:
    return f"chatcmpl-{request_id or secrets.token_hex(12)}"


def openai_usage(usage: Any) -> CompletionUsage | None:
    """OpenAI usage from Converse's. Converse counts cache reads and writes apart from inputTokens;
    OpenAI's prompt_tokens include them, and the details say how many of each."""
    if not isinstance(usage, dict):
        return None
    fresh, completion = _tokens(usage, "inputTokens"), _tokens(usage, "outputTokens")
    if fresh is None or completion is None:
        return None
    read = _tokens(usage, "cacheReadInputTokens") or 0
    written = _tokens(usage, "cacheWriteInputTokens") or 0
    prompt = fresh + read + written
    details: PromptTokensDetails = {"cached_tokens": read}
    if written:
        details["cache_write_tokens"] = written
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
        "prompt_tokens_details": details,
    }


def _tokens(usage: dict[str, Any], key: str) -> int | None:
    value = usage.get(key)
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else None


def usage_of(usage: CompletionUsage | None) -> Usage | None:
    return usage_from({"usage": usage})


def finish_reason(stop_reason: Any) -> str:
    return STOP_REASONS.get(stop_reason, "stop") if isinstance(stop_reason, str) else "stop"


def converse_response(
    payload: dict[str, Any], model: str, *, request_id: str | None = None, created: int | None = None
) -> ChatCompletion:
    """An OpenAI `chat.completion` from a Converse answer (boto3's parsed dict)."""
    output = payload.get("output")
    message = output.get("message") if isinstance(output, dict) else None
    content = message.get("content") if isinstance(message, dict) else None
    if not isinstance(content, list):
        raise UpstreamFailure("Amazon Bedrock sent an answer without a message", status=502)
    texts: list[str] = []
    reasoning: list[str] = []
    thinking_blocks: list[dict[str, Any]] = []
    tool_calls: list[ToolCall] = []
    for block in content:
        if not isinstance(block, dict):
            continue
        if isinstance(block.get("text"), str):
            texts.append(block["text"])
        elif isinstance(block.get("toolUse"), dict):
            use = block["toolUse"]
            tool_calls.append(_tool_call(use.get("toolUseId"), use.get("name"), use.get("input")))
        elif isinstance(block.get("reasoningContent"), dict):
            thinking = _thinking_block(block["reasoningContent"])
            if thinking is not None:
                thinking_blocks.append(thinking)
                if thinking["type"] == "thinking":
                    reasoning.append(thinking["thinking"])
    answer: Message = {"role": "assistant", "content": "".join(texts) if texts else None}
    if reasoning:
        answer["reasoning_content"] = "".join(reasoning)
    if thinking_blocks:
        answer["thinking_blocks"] = thinking_blocks
    if tool_calls:
        answer["tool_calls"] = tool_calls
    metadata = payload.get("ResponseMetadata")
    request_id = request_id or (metadata.get("RequestId") if isinstance(metadata, dict) else None)
    completion: ChatCompletion = {
        "id": completion_id(request_id),
        "object": "chat.completion",
        "created": int(time.time()) if created is None else created,
        "model": model,
        "choices": [
            {"index": 0, "message": answer, "logprobs": None, "finish_reason": finish_reason(payload.get("stopReason"))}
        ],
    }
    usage = openai_usage(payload.get("usage"))
    if usage is not None:
        completion["usage"] = usage
    return completion


def _tool_call(call_id: Any, name: Any, arguments: Any) -> ToolCall:
    return {
        "id": call_id,
        "type": "function",
        "function": {"name": name, "arguments": json.dumps(arguments if arguments is not None else {})},
    }


def _thinking_block(content: dict[str, Any]) -> dict[str, Any] | None:
    text = content.get("reasoningText")
    if isinstance(text, dict) and isinstance(text.get("text"), str):
        block = {"type": "thinking", "thinking": text["text"]}
        if isinstance(text.get("signature"), str):
            block["signature"] = text["signature"]
        return block
    if isinstance(content.get("redactedContent"), bytes | bytearray):
        return {"type": "redacted_thinking", "data": base64.b64encode(content["redactedContent"]).decode("ascii")}
    return None


# ---------------------------------------------------------------- errors


def failure_from(
    error_code: str, message: str, http_status: int | None, *, retry_after: str | None = None
) -> Exception:
    """What a botocore ClientError of Converse / ConverseStream means for the gateway."""
    detail = f"Amazon Bedrock: {message}" if message else f"Amazon Bedrock answered {error_code}"
    if error_code == "ValidationException":
        lowered = message.lower()
        if "model identifier is invalid" in lowered or "on-demand throughput" in lowered:
            # the catalog names a model id this region cannot run as is: the deployment's to fix
            return UpstreamFailure(detail, status=404)
        return UpstreamRefusal(400, message or "Amazon Bedrock rejected the request.")
    if error_code in ("ThrottlingException", "ServiceQuotaExceededException"):
        return UpstreamFailure(detail, status=429, retry_after=retry_after)
    if error_code == "ModelTimeoutException":
        return UpstreamTimeout(detail, status=http_status or 408)
    # IAM's and Bedrock's own words here name the operator's account, role and resources (ARNs): a
    # customer reads this message, so it says what is wrong without them
    if error_code == "AccessDeniedException":
        return UpstreamFailure("the gateway's AWS role has no access to this model (AccessDeniedException)", status=403)
    if error_code == "ResourceNotFoundException":
        return UpstreamFailure("the model is not available in this AWS account or region", status=404)
    if error_code in ("ServiceUnavailableException", "ModelNotReadyException"):
        return UpstreamFailure(detail, status=503, retry_after=retry_after)
    if error_code in ("InternalServerException", "ModelErrorException"):
        return UpstreamFailure(detail, status=500)
    if error_code.lower() in STREAM_EXCEPTIONS:
        return stream_failure(error_code, message)
    status = http_status or 502
    if status in (401, 403):
        return UpstreamFailure(f"Amazon Bedrock refused the gateway's AWS credentials ({error_code})", status=status)
    if 400 <= status < 500 and status not in (408, 409, 429):
        return UpstreamRefusal(status, message or detail, code=error_code or None)
    return UpstreamFailure(detail, status=status, retry_after=retry_after)


def stream_failure(event_type: str, message: str | None) -> UpstreamFailure:
    """An exception event in the middle of ConverseStream: the upstream's failure, whatever its kind."""
    status = STREAM_EXCEPTIONS.get(event_type.lower(), 502)
    return UpstreamFailure(f"Amazon Bedrock's stream failed ({event_type}): {message or 'no detail'}", status=status)


# ---------------------------------------------------------------- streams


class StreamTranslator:
    """ConverseStream events -> OpenAI chat.completion.chunk dicts, one event at a time."""

    def __init__(self, model: str, *, request_id: str | None = None, created: int | None = None) -> None:
        self.id = completion_id(request_id)
        self.model = model
        self.created = int(time.time()) if created is None else created
        self.finish_reason: str | None = None
        self._usage: Usage | None = None
        self._role_sent = False
        self._tools: dict[int, int] = {}  # contentBlockIndex -> tool_calls index
        self._reasoning: dict[int, list[str]] = {}  # contentBlockIndex -> reasoning text so far

    @property
    def usage(self) -> Usage | None:
        return self._usage

    def feed(self, event: dict[str, Any]) -> list[ChatChunk]:
        chunks: list[ChatChunk] = []
        for kind, body in event.items():
            if kind.lower() in STREAM_EXCEPTIONS:
                raise stream_failure(kind, body.get("message") if isinstance(body, dict) else None)
            if not isinstance(body, dict):
                continue
            if kind == "messageStart":
                self._role(chunks)
            elif kind == "contentBlockStart":
                self._block_start(body, chunks)
            elif kind == "contentBlockDelta":
                self._block_delta(body, chunks)
            elif kind == "messageStop":
                self._role(chunks)
                self.finish_reason = finish_reason(body.get("stopReason"))
                chunks.append(self._chunk({}, self.finish_reason))
            elif kind == "metadata":
                usage = openai_usage(body.get("usage"))
                if usage is not None:
                    self._usage = usage_of(usage)
                    chunks.append(self._base([], usage))
        return chunks

    def _base(self, choices: list[ChunkChoice], usage: CompletionUsage | None = None) -> ChatChunk:
        chunk: ChatChunk = {
            "id": self.id,
            "object": "chat.completion.chunk",
            "created": self.created,
            "model": self.model,
            "choices": choices,
        }
        if usage is not None:
            chunk["usage"] = usage
        return chunk

    def _chunk(self, delta: Delta, reason: str | None = None) -> ChatChunk:
        return self._base([{"index": 0, "delta": delta, "logprobs": None, "finish_reason": reason}])

    def _role(self, chunks: list[ChatChunk]) -> None:
        if not self._role_sent:
            self._role_sent = True
            chunks.append(self._chunk({"role": "assistant", "content": ""}))

    def _tool_index(self, block: int) -> int:
        if block not in self._tools:
            self._tools[block] = len(self._tools)
        return self._tools[block]

    def _block_start(self, body: dict[str, Any], chunks: list[ChatChunk]) -> None:
        self._role(chunks)
        start = body.get("start")
        use = start.get("toolUse") if isinstance(start, dict) else None
        if not isinstance(use, dict):
            return
        index = self._tool_index(int(body.get("contentBlockIndex") or 0))
        call = _tool_call(use.get("toolUseId"), use.get("name"), None)
        call["function"]["arguments"] = ""
        chunks.append(self._chunk({"tool_calls": [{"index": index, **call}]}))

    def _block_delta(self, body: dict[str, Any], chunks: list[ChatChunk]) -> None:
        self._role(chunks)
        delta = body.get("delta")
        if not isinstance(delta, dict):
            return
        block = int(body.get("contentBlockIndex") or 0)
        if isinstance(delta.get("text"), str):
            if delta["text"]:
                chunks.append(self._chunk({"content": delta["text"]}))
        elif isinstance(delta.get("toolUse"), dict):
            fragment = delta["toolUse"].get("input")
            if isinstance(fragment, str) and fragment:
                tool: ToolCall = {"index": self._tool_index(block), "function": {"arguments": fragment}}
                chunks.append(self._chunk({"tool_calls": [tool]}))
        elif isinstance(delta.get("reasoningContent"), dict):
            reasoning = delta["reasoningContent"]
            if isinstance(reasoning.get("text"), str):
                self._reasoning.setdefault(block, []).append(reasoning["text"])
                chunks.append(self._chunk({"reasoning_content": reasoning["text"]}))
            elif isinstance(reasoning.get("signature"), str):
                text = "".join(self._reasoning.pop(block, []))
                thinking = {"type": "thinking", "thinking": text, "signature": reasoning["signature"]}
                chunks.append(self._chunk({"thinking_blocks": [thinking]}))
            else:
                redacted = _thinking_block(reasoning)
                if redacted is not None:
                    chunks.append(self._chunk({"thinking_blocks": [redacted]}))
