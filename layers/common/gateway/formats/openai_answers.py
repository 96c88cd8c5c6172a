"""Canonical answers for clients of the OpenAI format: whole answers and chunks are already in its
shape, so the stream only holds back what the client did not ask for, and its usage chunk and `[DONE]`
until settlement: the usage carries OpenRouter's `cost`, what the ledger charged, in credits."""

from __future__ import annotations

import json
from typing import Any

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
from gateway.money import display

DONE = b"data: [DONE]\n\n"


def with_cost(payload: dict[str, Any], cost: int) -> dict[str, Any]:
    """An answer or usage chunk whose `usage` carries `cost`: the credits the ledger charged."""
    usage = payload.get("usage")
    return {**payload, "usage": {**(usage if isinstance(usage, dict) else {}), "cost": display(cost)}}


def sse(payload: Any) -> bytes:
    return b"data: " + json.dumps(payload, separators=(",", ":")).encode() + b"\n\n"


class OpenAIEncoder:
    """Chunks out as they come; the usage chunk held back until settlement, when its cost is known."""

    def __init__(self, wants_usage: bool) -> None:
        self.wants_usage = wants_usage
        self.usage_chunk: dict[str, Any] | None = None
        self.identity: dict[str, Any] = {"object": "chat.completion.chunk"}  # id, created, model of the stream

    def feed(self, chunk: ChatChunk) -> bytes:
        self._observe(chunk)
        if usage_only(chunk):
            self.usage_chunk = dict(chunk)
            return b""
        return sse(chunk)

    def passthrough(self, event: StreamEvent) -> bytes:
        if event.raw == DONE:
            return b""  # [DONE] goes out after settlement
        for chunk in event.chunks[:1]:
            self._observe(chunk)
            if usage_only(chunk):
                self.usage_chunk = dict(chunk)
                return b""
        return event.raw or b""

    def finish(self, usage: Usage | None, *, native: bool, cost: int) -> bytes:
        if not self.wants_usage:
            return DONE
        chunk = self._usage_chunk(usage)
        if self.usage_chunk is not None:  # the upstream's, with the counts the charge used (estimated if unreadable)
            sent, counts = self.usage_chunk.get("usage"), chunk.get("usage") or {}
            chunk = {**self.usage_chunk, "usage": {**(sent if isinstance(sent, dict) else {}), **counts}}
        return sse(with_cost(chunk, cost)) + DONE

    def _observe(self, chunk: ChatChunk) -> None:
        self.identity.update({name: chunk.get(name) for name in ("id", "created", "model") if name in chunk})

    def _usage_chunk(self, usage: Usage | None) -> dict[str, Any]:
        """The usage chunk when the upstream sent none of its own: what the gateway charged on."""
        chunk: dict[str, Any] = {**self.identity, "choices": []}
        if usage is not None:
            total = usage.prompt_tokens + usage.completion_tokens
            chunk["usage"] = {
                "prompt_tokens": usage.prompt_tokens,
                "completion_tokens": usage.completion_tokens,
                "total_tokens": total,
            }
        return chunk

    def error(self, error: GatewayError) -> bytes:
        return f"data: {error_chunk(error.message, error.code, error.type)}\n\n".encode()


def _respond(answer: ChatCompletion, exchange: Exchange) -> Body:
    return dict(answer)


def _encoder(exchange: Exchange) -> Encoder:
    return OpenAIEncoder(exchange.wants_usage)


def _error_body(error: GatewayError) -> Body:
    """OpenAI's envelope, with the HTTP `status` in it too (poeti's envelope has it)."""
    return {"error": {**error.openai_body()["error"], "status": error.status}}


def _capped(body: Body, tokens: int) -> Body:
    return with_output_cap(body, tokens)


def _priced(answer: Body, cost: int, exchange: Exchange) -> Body:
    return with_cost(answer, cost)


FORMAT = InboundFormat("openai", _respond, _encoder, _error_body, _capped, _priced)
