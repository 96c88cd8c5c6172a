"""Canonical answers for clients of the OpenAI format: whole answers and chunks are already in its
shape, so the stream only holds back what the client did not ask for and `[DONE]` until settlement."""

from __future__ import annotations

import json

from gateway.canonical import (
    Body,
    ChatChunk,
    ChatCompletion,
    StreamEvent,
    Usage,
    error_chunk,
    usage_only,
    with_output_cap,
)
from gateway.errors import GatewayError
from gateway.formats.inbound import Encoder, Exchange, InboundFormat

DONE = b"data: [DONE]\n\n"


class OpenAIEncoder:
    def __init__(self, wants_usage: bool) -> None:
        self.wants_usage = wants_usage

    def feed(self, chunk: ChatChunk) -> bytes:
        if usage_only(chunk) and not self.wants_usage:
            return b""
        return b"data: " + json.dumps(chunk, separators=(",", ":")).encode() + b"\n\n"

    def passthrough(self, event: StreamEvent) -> bytes:
        if event.raw == DONE or (event.chunks and usage_only(event.chunks[0]) and not self.wants_usage):
            return b""  # [DONE] goes out after settlement; usage only when asked for
        return event.raw or b""

    def finish(self, usage: Usage | None, *, native: bool) -> bytes:
        return DONE

    def error(self, error: GatewayError) -> bytes:
        return f"data: {error_chunk(error.message, error.code, error.type)}\n\n".encode()


def _respond(answer: ChatCompletion, model: str) -> Body:
    return dict(answer)


def _encoder(exchange: Exchange) -> Encoder:
    return OpenAIEncoder(exchange.wants_usage)


def _error_body(error: GatewayError) -> Body:
    """OpenAI's envelope, with the HTTP `status` in it too (poeti's envelope has it)."""
    return {"error": {**error.openai_body()["error"], "status": error.status}}


def _capped(body: Body, tokens: int) -> Body:
    return with_output_cap(body, tokens)


FORMAT = InboundFormat("openai", _respond, _encoder, _error_body, _capped)
