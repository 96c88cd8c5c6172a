"""Gemini answers (GenerateContentResponse, whole or streamed) as canonical chat completions, its
inline images as OpenAI image data, and its errors as (message, code, param). Pure.

Tool call ids: Gemini's own functionCall.id when it sends one, else
`call_` + a hash of (responseId, call number), so the same answer always gets the same ids.
"""

from __future__ import annotations

import hashlib
import json
import time
import uuid
from typing import Any

from gateway.canonical import (
    ChatChunk,
    ChatCompletion,
    Choice,
    ChunkChoice,
    CompletionUsage,
    Delta,
    ImageData,
    Message,
    ToolCall,
    Usage,
)
from gateway.canonical import usage_from as openai_usage_from
from gateway.dialects.gemini import finish_to_openai, signed, usage_to_openai
from gateway.providers.errors import UpstreamFailure
from gateway.providers.streams import Reported


def usage_from(payload: dict[str, Any]) -> Usage | None:
    usage = usage_to_openai(payload.get("usageMetadata"), _produced(payload.get("candidates")))
    return None if usage is None else openai_usage_from({"usage": usage})


def _produced(candidates: Any) -> set[str]:
    """The counts an answer's candidates show were produced: usage_to_openai reads them missing as
    no report, not as Google's left-out zero."""
    produced: set[str] = set()
    for candidate in candidates if isinstance(candidates, list) else []:
        content = candidate.get("content") if isinstance(candidate, dict) else None
        produced |= _counted(*_split_parts((content or {}).get("parts"), "", 0))
    return produced


def _counted(texts: list[str], thoughts: list[str], calls: list[ToolCall]) -> set[str]:
    """candidatesTokenCount for output (text, calls), thoughtsTokenCount for thoughts."""
    return {
        name for name, shown in (("candidatesTokenCount", texts or calls), ("thoughtsTokenCount", thoughts)) if shown
    }


def _completion_id(payload: dict[str, Any]) -> str:
    response_id = payload.get("responseId")
    return f"chatcmpl-{response_id}" if isinstance(response_id, str) and response_id else f"chatcmpl-{uuid.uuid4().hex}"


def _call_id(completion_id: str, n: int) -> str:
    """Stable per answer and call: `call_` + 24 hex digits of (answer id, call number)."""
    return "call_" + hashlib.sha256(f"{completion_id}:{n}".encode()).hexdigest()[:24]


def _split_parts(parts: Any, completion_id: str, first_call: int) -> tuple[list[str], list[str], list[ToolCall]]:
    """(texts, thoughts, OpenAI tool calls) of a candidate's parts, in order."""
    texts: list[str] = []
    thoughts: list[str] = []
    calls: list[ToolCall] = []
    for part in parts if isinstance(parts, list) else []:
        if not isinstance(part, dict):
            continue
        call = part.get("functionCall")
        if isinstance(call, dict):
            call_id = call.get("id") or _call_id(completion_id, first_call + len(calls))
            arguments = json.dumps(call.get("args") or {}, ensure_ascii=False, separators=(",", ":"))
            tool_call: ToolCall = {
                "id": call_id,
                "type": "function",
                "function": {"name": call.get("name"), "arguments": arguments},
            }
            calls.append(signed(tool_call, part.get("thoughtSignature")))
        elif isinstance(part.get("text"), str) and part["text"]:
            (thoughts if part.get("thought") else texts).append(part["text"])
    return texts, thoughts, calls


def chat_response(payload: dict[str, Any], model: str, *, created: int | None = None) -> ChatCompletion:
    """A GenerateContentResponse as an OpenAI `chat.completion`."""
    completion_id = _completion_id(payload)
    choices: list[Choice] = []
    calls_so_far = 0
    produced: set[str] = set()  # the counts the answer shows were produced
    for position, candidate in enumerate(payload.get("candidates") or []):
        content = candidate.get("content") or {}
        texts, thoughts, calls = _split_parts(content.get("parts"), completion_id, calls_so_far)
        calls_so_far += len(calls)
        produced |= _counted(texts, thoughts, calls)
        message: Message = {"role": "assistant", "content": "".join(texts) if texts or not calls else None}
        if thoughts:
            message["reasoning_content"] = "".join(thoughts)
        if calls:
            message["tool_calls"] = calls
        choices.append(
            {
                "index": candidate.get("index", position),
                "message": message,
                "logprobs": None,
                "finish_reason": finish_to_openai(candidate.get("finishReason"), bool(calls)),
            }
        )
    if not choices:  # the prompt itself was blocked (promptFeedback.blockReason)
        blocked = bool((payload.get("promptFeedback") or {}).get("blockReason"))
        choices.append(
            {
                "index": 0,
                "message": {"role": "assistant", "content": ""},
                "logprobs": None,
                "finish_reason": "content_filter" if blocked else "stop",
            }
        )
    completion: ChatCompletion = {
        "id": completion_id,
        "object": "chat.completion",
        "created": int(time.time()) if created is None else created,
        "model": model,
        "choices": choices,
    }
    usage = usage_to_openai(payload.get("usageMetadata"), produced)
    if usage is not None:
        completion["usage"] = grounded(usage, payload)
    return completion


def grounded(usage: CompletionUsage, payload: dict[str, Any]) -> CompletionUsage:
    """The usage, counting the answer as grounded with Google Search (billed per grounded answer)
    when the payload shows grounding."""
    return {**usage, "server_tool_use": {"grounded_requests": 1}} if has_grounding(payload) else usage


def has_grounding(payload: dict[str, Any]) -> bool:
    """Whether any candidate carries grounding metadata: Google Search was used for it."""
    candidates = payload.get("candidates")
    return any(isinstance(c, dict) and bool(c.get("groundingMetadata")) for c in candidates or [])


class StreamTranslator:
    """Each streamed GenerateContentResponse as OpenAI `chat.completion.chunk` dicts.

    A candidate's first output is preceded by a role chunk; Gemini sends function calls whole, so
    each becomes one complete tool-call delta. `finish()` ends the stream: each candidate's finish
    chunk (held back until then, as some Gemini versions put finishReason on every chunk), then
    OpenAI's usage-only chunk. An error payload becomes an OpenAI-shaped `{"error": ...}`. The
    stream has `ended` once every candidate that began has its finishReason.
    """

    def __init__(self, model: str, *, created: int | None = None) -> None:
        self.model = model
        self.created = int(time.time()) if created is None else created
        self._id: str | None = None
        self._started: set[int] = set()
        self._calls: dict[int, int] = {}
        self._finish: dict[int, str] = {}
        self._finished: set[int] = set()  # candidates whose finishReason came
        self._call_total = 0
        self._usage: CompletionUsage | None = None
        self._usage_final = False  # the last usageMetadata came with or after the stream's end
        self._produced: set[str] = set()  # the counts the stream so far shows were produced
        self._grounded = False

    @property
    def usage(self) -> Usage | None:
        return None if self._usage is None else openai_usage_from({"usage": self._usage})

    @property
    def ended(self) -> bool:
        return bool(self._finished) and self._started <= self._finished

    def reported(self) -> Reported | None:
        """The last usageMetadata (cumulative), final if it came with or after the stream's end."""
        usage = openai_usage_from({"usage": self._usage_chunk_usage()})
        return None if usage is None else Reported(usage, self._usage_final)

    def _usage_chunk_usage(self) -> CompletionUsage | None:
        if self._usage is None or not self._grounded:
            return self._usage
        return {**self._usage, "server_tool_use": {"grounded_requests": 1}}

    def _chunk(self, index: int, delta: Delta, finish_reason: str | None = None) -> ChatChunk:
        choice: ChunkChoice = {"index": index, "delta": delta, "logprobs": None, "finish_reason": finish_reason}
        return {
            "id": self._id,
            "object": "chat.completion.chunk",
            "created": self.created,
            "model": self.model,
            "choices": [choice],
        }

    def _start(self, index: int) -> list[ChatChunk]:
        if index in self._started:
            return []
        self._started.add(index)
        return [self._chunk(index, {"role": "assistant", "content": ""})]

    def feed(self, chunk: dict[str, Any]) -> list[ChatChunk]:
        error = chunk.get("error")
        if isinstance(error, dict):
            message = error.get("message") or "the provider reported an error"
            return [{"error": {"message": message, "type": "api_error", "code": error.get("status"), "param": None}}]
        if self._id is None:
            self._id = _completion_id(chunk)
        self._grounded = self._grounded or has_grounding(chunk)
        out: list[ChatChunk] = []
        candidates = chunk.get("candidates") or []
        for position, candidate in enumerate(candidates):
            index = candidate.get("index", position)
            texts, thoughts, calls = _split_parts(
                (candidate.get("content") or {}).get("parts"), self._id, self._call_total
            )
            self._call_total += len(calls)
            self._produced |= _counted(texts, thoughts, calls)
            if texts or thoughts or calls or candidate.get("finishReason"):
                out.extend(self._start(index))
            if thoughts:
                out.append(self._chunk(index, {"reasoning_content": "".join(thoughts)}))
            if texts:
                out.append(self._chunk(index, {"content": "".join(texts)}))
            for call in calls:
                number = self._calls.get(index, 0)
                self._calls[index] = number + 1
                out.append(self._chunk(index, {"tool_calls": [{"index": number, **call}]}))
            if candidate.get("finishReason"):
                self._finish[index] = candidate["finishReason"]
                self._finished.add(index)
        if not candidates and (chunk.get("promptFeedback") or {}).get("blockReason"):
            out.extend(self._start(0))
            self._finish[0] = "SAFETY"
            self._finished.add(0)
        if "usageMetadata" in chunk:  # cumulative: the last one counts, an unusable one as no report
            self._usage = usage_to_openai(chunk["usageMetadata"], self._produced)
            self._usage_final = self.ended
        return out

    def finish(self) -> list[ChatChunk]:
        """Each finished candidate's finish chunk, then the usage-only chunk (`choices: []`) from the
        last usageMetadata seen, if any was."""
        out = [
            self._chunk(index, {}, finish_to_openai(reason, self._calls.get(index, 0) > 0))
            for index, reason in sorted(self._finish.items())
        ]
        self._finish.clear()
        usage = self._usage_chunk_usage()
        if usage is None:
            return out
        return [
            *out,
            {
                "id": self._id or f"chatcmpl-{uuid.uuid4().hex}",
                "object": "chat.completion.chunk",
                "created": self.created,
                "model": self.model,
                "choices": [],
                "usage": usage,
            },
        ]


def inline_images(payload: dict[str, Any]) -> list[ImageData]:
    """The inline images of a GenerateContentResponse, as OpenAI image data."""
    found: list[ImageData] = []
    for candidate in payload.get("candidates") or []:
        for part in (candidate.get("content") or {}).get("parts") or []:
            inline = part.get("inlineData") or part.get("inline_data")
            if isinstance(inline, dict) and str(inline.get("mimeType", "")).startswith("image/"):
                found.append({"b64_json": str(inline.get("data", ""))})
    return found


# ---------------------------------------------------------------- errors


def counted_tokens(payload: dict[str, Any]) -> int:
    """`totalTokens` of a countTokens answer."""
    total = payload.get("totalTokens")
    if not isinstance(total, int) or isinstance(total, bool) or total < 0:
        raise UpstreamFailure("the provider sent an unexpected token count", status=502)
    return total


CREDENTIAL_REASONS = frozenset({"API_KEY_INVALID", "API_KEY_SERVICE_BLOCKED", "API_KEY_HTTP_REFERRER_BLOCKED"})


def error_from(status: int, body: bytes) -> tuple[str, str | None, str | None]:
    """(message, code = google.rpc status name, param = first field violation) of a Gemini error body."""
    try:
        payload = json.loads(body)
    except (ValueError, RecursionError):
        payload = None
    if isinstance(payload, list) and payload:  # streamGenerateContent without alt=sse answers a list
        payload = payload[0]
    error = payload.get("error") if isinstance(payload, dict) else None
    if not isinstance(error, dict) or not isinstance(error.get("message"), str):
        return f"upstream answered HTTP {status}", None, None
    code = error.get("status")
    param = None
    details: list[Any] = error["details"] if isinstance(error.get("details"), list) else []
    reasons = {str(detail.get("reason")) for detail in details if isinstance(detail, dict)}
    if reasons & CREDENTIAL_REASONS:  # Google answers a bad key 400, not 401: the operator's, not the client's
        raise UpstreamFailure("the provider refused the gateway's credentials", status=401)
    for detail in details:
        violations = detail.get("fieldViolations") if isinstance(detail, dict) else None
        if isinstance(violations, list) and violations and isinstance(violations[0], dict):
            param = violations[0].get("field")
            break
    return error["message"], str(code) if code else None, str(param) if param else None
