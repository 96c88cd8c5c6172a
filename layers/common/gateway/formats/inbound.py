"""The inbound chat formats behind one interface. An `Exchange` is one chat request as the pipeline
needs it (as sent, and as canonical); each format (`openai`, `anthropic`, `gemini`, `responses`,
`completions`) is an `InboundFormat` that encodes canonical answers, stream events and errors back in
its own shape, found by name in `FORMATS`."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from gateway.canonical import (
    Body,
    ChatChunk,
    ChatCompletion,
    ChatRequest,
    ServerTools,
    StreamEvent,
    Usage,
    with_output_cap,
)
from gateway.errors import GatewayError, InvalidRequest


class Encoder(Protocol):
    """A stream's bytes for the client, event by event."""

    def feed(self, chunk: ChatChunk) -> bytes:
        """A canonical chunk (from an upstream of another format), in this format."""
        ...

    def passthrough(self, event: StreamEvent) -> bytes:
        """An event of an upstream that speaks this format, as it is (its last event held back)."""
        ...

    def finish(self, usage: Usage | None, *, native: bool, cost: int) -> bytes:
        """The stream's end, sent once its settlement is written; `cost` is what the ledger charged
        (micro-credits), for the formats that show it (OpenRouter's `usage.cost`)."""
        ...

    def error(self, error: GatewayError) -> bytes:
        """The error event that ends a stream the upstream broke."""
        ...


@dataclass(frozen=True)
class NativeOnly:
    """A part of a request only an upstream speaking the client's own format can take (a server tool,
    a content block with no canonical form): why, and whether it is media the prompt bound cannot
    see in the canonical form (so the hold allows the model's whole context window for it)."""

    param: str
    reason: str
    media: bool = False


class Skipped(list[NativeOnly]):
    """What a translation left out for an upstream of the client's own format to take."""

    def add(self, error: InvalidRequest, *, media: bool = False) -> None:
        self.append(NativeOnly(error.param or "body", error.message, media))


def unpriced(answer: Body, cost: int, exchange: Exchange) -> Body:
    """For formats whose answers carry no cost."""
    return answer


@dataclass(frozen=True)
class InboundFormat:
    name: str
    respond: Callable[[ChatCompletion, Exchange], Body]  # a whole canonical answer, for this exchange
    encoder: Callable[[Exchange], Encoder]  # a new encoder for one stream
    error_body: Callable[[GatewayError], Body]  # the format's error envelope
    capped: Callable[[Body, int], Body]  # a request in this format, its output cap set to the tokens
    # a whole answer (translated, or the upstream's own) with what the ledger charged for it
    priced: Callable[[Body, int, Exchange], Body] = unpriced


def _openai() -> InboundFormat:
    from gateway.formats.openai_answers import FORMAT

    return FORMAT


def _anthropic() -> InboundFormat:
    from gateway.formats.anthropic_answers import FORMAT

    return FORMAT


def _gemini() -> InboundFormat:
    from gateway.formats.gemini_answers import FORMAT

    return FORMAT


def _responses() -> InboundFormat:
    from gateway.formats.responses_answers import FORMAT

    return FORMAT


def _completions() -> InboundFormat:
    from gateway.formats.completions import FORMAT

    return FORMAT


def _api_v1() -> InboundFormat:
    from gateway.formats.api_v1_answers import FORMAT

    return FORMAT


FORMATS: dict[str, Callable[[], InboundFormat]] = {
    "openai": _openai,
    "anthropic": _anthropic,
    "gemini": _gemini,
    "responses": _responses,
    "completions": _completions,
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
    # What only an upstream speaking the client's own format honours (Anthropic's server tools, ...):
    # other upstreams are no candidates for this request, and without any it is a 400 naming the first
    native_only: tuple[NativeOnly, ...] = ()
    server_tools: ServerTools = field(default_factory=ServerTools)  # tools the upstream may run itself
    user: str | None = None  # who the client says the end user is: kept on the trace
    metadata: dict[str, str] | None = None  # the client's tags (OpenAI / OpenRouter `metadata`): on the trace
    models: tuple[str, ...] = ()  # OpenRouter's `models`: the models to try after `model`, in order
    requires: str | None = None  # a capability the model's catalog entry must list (`completions`)
    unseen_completions: int = 0  # completions the upstream makes and bills but does not return (`best_of`)
    context: Any = None  # what the format needs to answer this exchange (a stored response's id, ...)

    @property
    def speaks(self) -> InboundFormat:
        return inbound_format(self.format)

    def respond(self, canonical: ChatCompletion) -> Body:
        return self.speaks.respond(canonical, self)

    def priced(self, answer: Body, cost: int) -> Body:
        return self.speaks.priced(answer, cost, self)

    def encoder(self) -> Encoder:
        return self.speaks.encoder(self)

    def native_for(self, upstream_model: str, output_cap: int) -> Body:
        """The body for an upstream that speaks the client's format: untouched but for the model and
        the output cap. Every upstream gets the output bound the hold priced, in its own field,
        whatever (or whether) the client asked: the provider cannot then bill more than was held."""
        body = {**self.native, "model": upstream_model} if "model" in self.native else dict(self.native)
        return self.speaks.capped(body, output_cap)

    def canonical_for(self, output_cap: int) -> ChatRequest:
        """The canonical request, with the output cap the hold priced."""
        return with_output_cap(self.canonical, output_cap)
