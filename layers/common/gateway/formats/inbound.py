"""The three inbound wire formats behind one interface: a request as canonical (OpenAI chat) and as
sent; answers, stream events and errors encoded back in the client's own format."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

from gateway.errors import GatewayError
from gateway.providers.clients import StreamEvent
from gateway.providers.openai.transform import Usage

Kind = Literal["openai", "anthropic", "gemini"]
DONE = b"data: [DONE]\n\n"


class Encoder(Protocol):
    def feed(self, chunk: dict[str, Any]) -> bytes: ...
    def passthrough(self, event: StreamEvent) -> bytes: ...
    def finish(self, usage: Usage | None, *, native: bool) -> bytes: ...
    def error(self, error: GatewayError) -> bytes: ...


@dataclass
class Exchange:
    """One inference request, as the pipeline needs it."""

    kind: Kind
    endpoint: str  # for the ledger: chat.completions, messages, generateContent
    model: str  # as the client named it
    native: dict[str, Any]  # the body as the client sent it (gateway-only fields removed)
    canonical: dict[str, Any]  # the same request as an OpenAI chat body
    stream: bool
    wants_usage: bool = False  # OpenAI streams: the client asked for the usage chunk
    provider_preferences: Any = None  # OpenRouter's `provider` object, if sent
    extras: dict[str, Any] = field(default_factory=dict)
    # Headers passed on when the upstream speaks the client's own format (Anthropic's `anthropic-beta`)
    native_headers: dict[str, str] = field(default_factory=dict)

    def respond(self, canonical: dict[str, Any]) -> dict[str, Any]:
        if self.kind == "anthropic":
            from gateway.formats.anthropic import from_openai_response

            return from_openai_response(canonical, self.model)
        if self.kind == "gemini":
            from gateway.providers.gemini.encoder import from_openai_response as gemini_response

            return gemini_response(canonical, self.model)
        return canonical

    def encoder(self) -> Encoder:
        if self.kind == "anthropic":
            return _AnthropicEncoder(self.model)
        if self.kind == "gemini":
            return _GeminiEncoder(self.model)
        return _OpenAIEncoder(self.wants_usage)

    def native_for(self, upstream_model: str) -> dict[str, Any]:
        """The body for an upstream that speaks the client's format: untouched but for the model."""
        return {**self.native, "model": upstream_model} if "model" in self.native else dict(self.native)

    def cap_output(self, tokens: int) -> None:
        """Every upstream gets the output bound the hold priced, in its own field, whatever (or
        whether) the client asked: the provider cannot then bill more output than was held."""
        self.canonical = capped_openai(self.canonical, tokens)
        if self.kind == "openai":
            self.native = capped_openai(self.native, tokens)
        elif self.kind == "anthropic":
            self.native = {**self.native, "max_tokens": tokens}
        else:
            config = self.native.get("generationConfig")
            self.native = {**self.native, "generationConfig": {**(config or {}), "maxOutputTokens": tokens}}


def capped_openai(body: dict[str, Any], tokens: int) -> dict[str, Any]:
    """An OpenAI chat body whose one output cap is `tokens`: `max_tokens` stays only when the client
    used it alone (older OpenAI-compatible servers know no other); else `max_completion_tokens`."""
    if "max_tokens" in body and "max_completion_tokens" not in body:
        return {**body, "max_tokens": tokens}
    capped = {**body, "max_completion_tokens": tokens}
    capped.pop("max_tokens", None)
    return capped


def error_envelope(path: str, error: GatewayError) -> dict[str, Any]:
    """The error body in the format of the endpoint that was called."""
    if path.startswith("/v1/messages"):
        from gateway.providers.anthropic.wire import error_body

        return error_body(error.status, error.message)
    if path.startswith("/v1beta/") or (path.startswith("/v1/models/") and ":" in path):
        from gateway.providers.gemini.encoder import error_body as gemini_error

        return gemini_error(error.status, error.message)
    from gateway.platforms.errors import error_body as openai_shaped

    return openai_shaped(path, error)


class _OpenAIEncoder:
    def __init__(self, wants_usage: bool) -> None:
        self.wants_usage = wants_usage

    def feed(self, chunk: dict[str, Any]) -> bytes:
        if _usage_only(chunk) and not self.wants_usage:
            return b""
        return b"data: " + json.dumps(chunk, separators=(",", ":")).encode() + b"\n\n"

    def passthrough(self, event: StreamEvent) -> bytes:
        if event.raw == DONE or (event.chunks and _usage_only(event.chunks[0]) and not self.wants_usage):
            return b""  # [DONE] goes out after settlement; usage only when asked for
        return event.raw or b""

    def finish(self, usage: Usage | None, *, native: bool) -> bytes:
        return DONE

    def error(self, error: GatewayError) -> bytes:
        from gateway.providers.openai.transform import error_chunk

        return f"data: {error_chunk(error.message, error.code, error.type)}\n\n".encode()


class _AnthropicEncoder:
    def __init__(self, model: str) -> None:
        from gateway.formats.anthropic import StreamEncoder

        self.encoder = StreamEncoder(model)

    def feed(self, chunk: dict[str, Any]) -> bytes:
        from gateway.providers.anthropic.wire import sse

        return b"".join(sse(name, data) for name, data in self.encoder.feed(chunk))

    def passthrough(self, event: StreamEvent) -> bytes:
        raw = event.raw or b""
        return b"" if raw.startswith(b"event: message_stop") else raw  # sent after settlement

    def finish(self, usage: Usage | None, *, native: bool) -> bytes:
        from gateway.providers.anthropic.wire import sse

        if native:
            return sse("message_stop", {"type": "message_stop"})
        return b"".join(sse(name, data) for name, data in self.encoder.finish(usage))

    def error(self, error: GatewayError) -> bytes:
        from gateway.providers.anthropic.wire import error_type_for, sse

        return sse(*self.encoder.error(error.message, error_type_for(error.status)))


class _GeminiEncoder:
    def __init__(self, model: str) -> None:
        from gateway.providers.gemini.encoder import StreamEncoder

        self.encoder = StreamEncoder(model)

    def feed(self, chunk: dict[str, Any]) -> bytes:
        from gateway.providers.gemini.encoder import sse

        return b"".join(sse(payload) for payload in self.encoder.feed(chunk))

    def passthrough(self, event: StreamEvent) -> bytes:
        return event.raw or b""

    def finish(self, usage: Usage | None, *, native: bool) -> bytes:
        from gateway.providers.gemini.encoder import sse

        return b"" if native else b"".join(sse(payload) for payload in self.encoder.finish(usage))

    def error(self, error: GatewayError) -> bytes:
        from gateway.providers.gemini.encoder import sse

        return sse(self.encoder.error_event(error.status, error.message))


def _usage_only(chunk: dict[str, Any]) -> bool:
    return not chunk.get("choices") and isinstance(chunk.get("usage"), dict)


def openai_exchange(request: Any) -> Exchange:
    """From a validated formats.openai.ChatCompletionRequest."""
    native = request.wire_body()
    preferences = native.pop("provider", None)
    return Exchange(
        kind="openai",
        endpoint="chat.completions",
        model=request.model,
        native=native,
        canonical=native,
        stream=request.stream,
        wants_usage=bool(request.stream_options and request.stream_options.include_usage),
        provider_preferences=preferences,
    )


def anthropic_exchange(request: Any, beta: str | None = None) -> Exchange:
    """From a validated formats.anthropic.MessagesRequest and its `anthropic-beta` header, if any."""
    from gateway.formats.anthropic import to_openai

    native = request.wire_body()
    return Exchange(
        kind="anthropic",
        endpoint="messages",
        model=request.model,
        native=native,
        canonical={**to_openai(native), "stream": request.stream},
        stream=request.stream,
        native_headers={"anthropic-beta": beta} if beta else {},
    )


def gemini_exchange(request: Any, model: str, stream: bool) -> Exchange:
    """From a validated formats.gemini.GenerateContentRequest and the model and method of its path."""
    from gateway.formats.gemini import to_openai

    native = request.wire_body()
    return Exchange(
        kind="gemini",
        endpoint="streamGenerateContent" if stream else "generateContent",
        model=model,
        native=native,
        canonical=to_openai(native, model, stream),
        stream=stream,
    )
