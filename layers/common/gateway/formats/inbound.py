"""The inbound chat formats behind one interface. An `Exchange` is one chat request as the pipeline
needs it (as sent, and as canonical); each format (`openai`, `anthropic`, `gemini`) is an
`InboundFormat` that encodes canonical answers, stream events and errors back in its own shape, found
by name in `FORMATS`."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from gateway.canonical import Body, ChatChunk, ChatCompletion, ChatRequest, StreamEvent, Usage, with_output_cap
from gateway.errors import GatewayError


class Encoder(Protocol):
    """A stream's bytes for the client, event by event."""

    def feed(self, chunk: ChatChunk) -> bytes:
        """A canonical chunk (from an upstream of another format), in this format."""
        ...

    def passthrough(self, event: StreamEvent) -> bytes:
        """An event of an upstream that speaks this format, as it is (its last event held back)."""
        ...

    def finish(self, usage: Usage | None, *, native: bool) -> bytes:
        """The stream's end, sent once its settlement is written."""
        ...

    def error(self, error: GatewayError) -> bytes:
        """The error event that ends a stream the upstream broke."""
        ...


@dataclass(frozen=True)
class InboundFormat:
    name: str
    respond: Callable[[ChatCompletion, str], Body]  # a whole canonical answer, naming the client's model
    encoder: Callable[[Exchange], Encoder]  # a new encoder for one stream
    error_body: Callable[[GatewayError], Body]  # the format's error envelope
    capped: Callable[[Body, int], Body]  # a request in this format, its output cap set to the tokens


def _openai() -> InboundFormat:
    from gateway.formats.openai_answers import FORMAT

    return FORMAT


def _anthropic() -> InboundFormat:
    from gateway.formats.anthropic_answers import FORMAT

    return FORMAT


def _gemini() -> InboundFormat:
    from gateway.formats.gemini_answers import FORMAT

    return FORMAT


def _api_v1() -> InboundFormat:
    from gateway.formats.api_v1_answers import FORMAT

    return FORMAT


FORMATS: dict[str, Callable[[], InboundFormat]] = {
    "openai": _openai,
    "anthropic": _anthropic,
    "gemini": _gemini,
    "api_v1": _api_v1,  # OpenAI's, but for the error envelope of the `/api/v1` routes
}


def inbound_format(name: str) -> InboundFormat:
    return FORMATS[name]()


def error_envelope(format_name: str, error: GatewayError) -> Body:
    """The error body in the envelope of the format the endpoint speaks."""
    return inbound_format(format_name).error_body(error)


@dataclass
class Exchange:
    """One chat request, as the pipeline needs it."""

    format: str  # the inbound format the client speaks
    endpoint: str  # for the ledger: chat.completions, messages, generateContent
    model: str  # as the client named it
    native: Body  # the body as the client sent it (gateway-only fields removed)
    canonical: ChatRequest  # the same request as an OpenAI chat body
    stream: bool
    wants_usage: bool = False  # OpenAI streams: the client asked for the usage chunk
    provider_preferences: Any = None  # OpenRouter's `provider` object, if sent
    # Headers passed on when the upstream speaks the client's own format (Anthropic's `anthropic-beta`)
    native_headers: dict[str, str] = field(default_factory=dict)

    @property
    def speaks(self) -> InboundFormat:
        return inbound_format(self.format)

    def respond(self, canonical: ChatCompletion) -> Body:
        return self.speaks.respond(canonical, self.model)

    def encoder(self) -> Encoder:
        return self.speaks.encoder(self)

    def native_for(self, upstream_model: str) -> Body:
        """The body for an upstream that speaks the client's format: untouched but for the model."""
        return {**self.native, "model": upstream_model} if "model" in self.native else dict(self.native)

    def cap_output(self, tokens: int) -> None:
        """Every upstream gets the output bound the hold priced, in its own field, whatever (or
        whether) the client asked: the provider cannot then bill more output than was held."""
        self.canonical = with_output_cap(self.canonical, tokens)
        self.native = self.speaks.capped(self.native, tokens)
