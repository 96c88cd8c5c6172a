"""An OpenAI-compatible upstream's answers as the gateway reads them: chat stream events, legacy text
completions, Responses API answers and events (as canonical shapes carrying their usage, the web
searches they ran and the text they produced, for the charge: the client gets the upstream's own
bytes), errors. Pure."""

from __future__ import annotations

import json
import time
from typing import Any, cast

from gateway.canonical import ChatChunk, ChatCompletion, CompletionUsage, StreamEvent, token_count
from gateway.providers.errors import UpstreamFailure, error_member

DONE = StreamEvent(chunks=[], raw=b"data: [DONE]\n\n")


def stream_event(data: str) -> StreamEvent:
    """One SSE `data:` payload as an event: passed through as sent, and read as its chunk."""
    if data == "[DONE]":
        return DONE
    return StreamEvent(chunks=_chunks(data), raw=f"data: {data}\n\n".encode())


def text_stream_event(data: str) -> StreamEvent:
    """One event of a legacy completions stream: passed through as sent, read as a canonical chunk
    (each choice's `text` as its delta's content) for the charge."""
    if data == "[DONE]":
        return DONE
    return StreamEvent(chunks=[_as_chat(chunk) for chunk in _chunks(data)], raw=f"data: {data}\n\n".encode())


def text_completion(answer: dict[str, Any]) -> ChatCompletion:
    """A legacy text completion as a canonical completion: its usage and its text, for the charge."""
    converted = _as_chat(cast(ChatChunk, answer))
    choices = [
        {"index": c["index"], "message": c["delta"], "logprobs": None, "finish_reason": c.get("finish_reason")}
        for c in converted.get("choices") or []
    ]
    completion: dict[str, Any] = {
        "id": answer.get("id"),
        "object": "chat.completion",
        "created": answer.get("created") or 0,
        "model": answer.get("model") or "",
        "choices": choices,
    }
    if isinstance(answer.get("usage"), dict):
        completion["usage"] = answer["usage"]
    return cast(ChatCompletion, completion)


def _as_chat(chunk: ChatChunk) -> ChatChunk:
    """A text completion (or chunk) with each choice's text as a chat delta."""
    choices = []
    for position, choice in enumerate(chunk.get("choices") or []):
        text = choice.get("text") if isinstance(choice, dict) else None
        index = choice.get("index", position) if isinstance(choice, dict) else position
        finish = choice.get("finish_reason") if isinstance(choice, dict) else None
        delta = {"role": "assistant", "content": text if isinstance(text, str) else ""}
        choices.append({"index": index, "delta": delta, "logprobs": None, "finish_reason": finish})
    return cast(ChatChunk, {**chunk, "choices": choices})


def _chunks(data: str) -> list[ChatChunk]:
    try:
        chunk = json.loads(data)
    except (ValueError, RecursionError):
        return []
    if not isinstance(chunk, dict):
        return []
    error = chunk.get("error")
    if error:  # OpenAI's {"message", ...}, or a text (text-generation-inference's {"error": "...", "error_type"})
        message = error.get("message") if isinstance(error, dict) else error
        raise UpstreamFailure(f"the provider failed mid-stream: {message if isinstance(message, str) else 'error'}")
    return [cast(ChatChunk, chunk)]  # the upstream's JSON: a chunk by contract, read defensively


def ends(event: StreamEvent) -> bool:
    """Whether a chat or completions stream event is its stream's end: `[DONE]`, or a finish_reason."""
    if event is DONE:
        return True
    for chunk in event.chunks:
        choices = chunk.get("choices")
        if isinstance(choices, list) and any(isinstance(c, dict) and c.get("finish_reason") for c in choices):
            return True
    return False


def error_from(status: int, body: bytes) -> tuple[str, str | None, str | None]:
    """(message, code, param) from an OpenAI-style error body, or a plain description."""
    error = error_member(body)
    if isinstance(error, dict) and isinstance(error.get("message"), str):
        code = error.get("code") or error.get("type")
        param = error.get("param")
        return error["message"], str(code) if code else None, str(param) if param else None
    if isinstance(error, str):
        return error, None, None
    return f"upstream answered HTTP {status}", None, None


def transcription(payload: Any) -> dict[str, Any]:
    """A transcription answer (verbose_json): it must at least carry its text."""
    if not isinstance(payload, dict) or not isinstance(payload.get("text"), str):
        raise UpstreamFailure("the provider sent an unexpected transcription", status=502)
    return payload


# ---------------------------------------------------------------- the Responses API


def _obj(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


# Stream events whose `delta` is produced text, and where the canonical chunk carries it
_DELTAS = {
    "response.output_text.delta": "content",
    "response.refusal.delta": "content",
    "response.reasoning_summary_text.delta": "reasoning_content",
    "response.reasoning_text.delta": "reasoning_content",
}
_ARGUMENTS = ("response.function_call_arguments.delta", "response.custom_tool_call_input.delta")
RESPONSES_TERMINAL = ("response.completed", "response.incomplete")


def _count(value: Any) -> int:
    return token_count(value) or 0


def responses_usage(response: dict[str, Any]) -> CompletionUsage | None:
    """Canonical usage from a response's (input_tokens include cached ones, as prompt_tokens do), with
    its web search calls, which are billed per call."""
    counts = response.get("usage")
    if not isinstance(counts, dict):
        return None
    prompt, completion = token_count(counts.get("input_tokens")), token_count(counts.get("output_tokens"))
    if prompt is None or completion is None:  # no count to charge on: the gateway charges what it saw
        return None
    found: CompletionUsage = {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
        "prompt_tokens_details": {
            "cached_tokens": _count(_obj(counts.get("input_tokens_details")).get("cached_tokens"))
        },
        "completion_tokens_details": {
            "reasoning_tokens": _count(_obj(counts.get("output_tokens_details")).get("reasoning_tokens"))
        },
    }
    searches = sum(1 for item in response.get("output") or [] if _obj(item).get("type") == "web_search_call")
    if searches:
        found["server_tool_use"] = {"web_search_requests": searches}
    return found


def responses_completion(response: dict[str, Any], model: str) -> ChatCompletion:
    """A response object as a canonical completion: its usage, and its text (for a covering charge
    when it reports no usage)."""
    texts: list[str] = []
    for item in map(_obj, response.get("output") or []):
        for part in map(_obj, item.get("content") or []):
            texts.append(str(part.get("text") or part.get("refusal") or ""))
        for part in map(_obj, item.get("summary") or []):
            texts.append(str(part.get("text") or ""))
        texts.append(str(item.get("arguments") or item.get("input") or ""))
    answer: ChatCompletion = {
        "id": response.get("id"),
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": "".join(texts)},
                "logprobs": None,
                "finish_reason": "stop",
            }
        ],
    }
    counted = responses_usage(response)
    if counted is not None:
        answer["usage"] = counted
    return answer


def responses_stream_event(name: str, data: str) -> tuple[StreamEvent, bool]:
    """One event of a Responses stream: its bytes as sent and what it adds to the charge, and whether
    it is the stream's end (response.completed or .incomplete)."""
    raw = f"event: {name}\ndata: {data}\n\n".encode() if name and name != "message" else f"data: {data}\n\n".encode()
    payload = _parse(data)
    kind = str(payload.get("type") or name)
    if kind == "error":
        raise UpstreamFailure(f"the provider failed mid-stream: {payload.get('message') or 'error'}")
    if kind == "response.failed":  # its usage is what OpenAI bills for it: charged
        response = _obj(payload.get("response"))
        message = _obj(response.get("error")).get("message") or "response failed"
        raise UpstreamFailure(f"the provider failed mid-stream: {message}", usage=responses_usage(response))
    return StreamEvent(chunks=_responses_chunks(kind, payload), raw=raw), kind in RESPONSES_TERMINAL


def _responses_chunks(kind: str, payload: dict[str, Any]) -> list[ChatChunk]:
    delta: dict[str, Any] = {}
    if kind in _DELTAS and isinstance(payload.get("delta"), str):
        delta[_DELTAS[kind]] = payload["delta"]
    elif kind in _ARGUMENTS and isinstance(payload.get("delta"), str):
        delta["tool_calls"] = [{"index": 0, "function": {"arguments": payload["delta"]}}]
    elif kind in RESPONSES_TERMINAL:
        counted = responses_usage(_obj(payload.get("response")))
        return (
            [cast(ChatChunk, {"object": "chat.completion.chunk", "choices": [], "usage": counted})] if counted else []
        )
    if not delta:
        return []
    choice = {"index": 0, "delta": delta, "logprobs": None, "finish_reason": None}
    return [cast(ChatChunk, {"object": "chat.completion.chunk", "choices": [choice]})]


def _parse(data: str) -> dict[str, Any]:
    try:
        payload = json.loads(data)
    except (ValueError, RecursionError) as error:
        raise UpstreamFailure("the provider sent an event that is not JSON") from error
    if not isinstance(payload, dict):
        raise UpstreamFailure("the provider sent an unexpected event")
    return payload
