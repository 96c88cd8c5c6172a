"""An OpenAI-compatible upstream's answers as the gateway reads them: stream events, errors. Pure."""

from __future__ import annotations

import json
from typing import Any, cast

from gateway.canonical import ChatChunk, StreamEvent
from gateway.providers.errors import UpstreamFailure, error_member

DONE = StreamEvent(chunks=[], raw=b"data: [DONE]\n\n")


def stream_event(data: str) -> StreamEvent:
    """One SSE `data:` payload as an event: passed through as sent, and read as its chunk."""
    if data == "[DONE]":
        return DONE
    return StreamEvent(chunks=_chunks(data), raw=f"data: {data}\n\n".encode())


def _chunks(data: str) -> list[ChatChunk]:
    try:
        chunk = json.loads(data)
    except ValueError:
        return []
    if not isinstance(chunk, dict):
        return []
    if isinstance(chunk.get("error"), dict):
        raise UpstreamFailure(f"the provider failed mid-stream: {chunk['error'].get('message', 'error')}")
    return [cast(ChatChunk, chunk)]  # the upstream's JSON: a chunk by contract, read defensively


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
