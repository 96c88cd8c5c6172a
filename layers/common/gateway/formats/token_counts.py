"""Token counting requests, in the two formats that have one: Anthropic's
`POST /v1/messages/count_tokens` and Gemini's `POST /v1beta/models/{model}:countTokens`. Checked
here like their inference requests; as canonical for upstreams of another kind, as sent (but for the
model) for an upstream of their own; answered in their own shape. Pure."""

from __future__ import annotations

from typing import Any

from pydantic import ConfigDict, Field, model_validator

from gateway.canonical import Body
from gateway.formats import anthropic, gemini
from gateway.formats.anthropic import MessageParam, ThinkingConfig
from gateway.formats.gemini import Content, GenerateContentRequest, _alias, _OneSpelling
from gateway.formats.inbound import Exchange
from gateway.formats.wire import WireModel


class MessagesCountRequest(WireModel):
    """Anthropic's count_tokens body: a Messages request without max_tokens."""

    model_config = ConfigDict(extra="allow")

    model: str = Field(min_length=1, max_length=256)
    messages: list[MessageParam] = Field(min_length=1, max_length=10_000)
    system: str | list[dict[str, Any]] | None = None
    tools: list[dict[str, Any]] | None = None
    tool_choice: dict[str, Any] | None = None
    thinking: ThinkingConfig | None = None

    def wire_body(self) -> dict[str, Any]:
        return self.sent()


class GeminiCountRequest(WireModel, _OneSpelling):
    """Gemini's countTokens body: `contents`, or a whole `generateContentRequest`."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    contents: list[Content] | None = Field(None, min_length=1, max_length=10_000)
    generate_content_request: GenerateContentRequest | None = _alias("generateContentRequest")

    @model_validator(mode="after")
    def _one_of(self) -> GeminiCountRequest:
        if (self.contents is None) == (self.generate_content_request is None):
            raise ValueError("give either `contents` or `generateContentRequest`")
        return self

    def wire_body(self) -> dict[str, Any]:
        return self.sent(by_alias=True)


def anthropic_exchange(request: MessagesCountRequest, beta: str | None = None) -> Exchange:
    native = request.wire_body()
    canonical, native_only, _ = anthropic.translated(native)
    return Exchange(
        format="anthropic",
        endpoint="messages.count_tokens",
        model=request.model,
        native=native,
        canonical=canonical,
        stream=False,
        native_headers={"anthropic-beta": beta} if beta else {},
        native_only=native_only,
    )


def gemini_exchange(request: GeminiCountRequest, model: str) -> Exchange:
    native = request.wire_body()
    inner = native.get("generateContentRequest") or {"contents": native["contents"]}
    inner = {name: value for name, value in inner.items() if name != "model"}
    canonical, native_only, _ = gemini.translated(inner, model, stream=False)
    return Exchange(
        format="gemini",
        endpoint="countTokens",
        model=model,
        native=native,
        canonical=canonical,
        stream=False,
        native_only=native_only,
    )


def native_body(exchange: Exchange, upstream_model: str) -> Body:
    """The count request as sent, for an upstream of its own format, naming the upstream's model."""
    if exchange.format == "anthropic":
        return {**exchange.native, "model": upstream_model}
    inner = exchange.native.get("generateContentRequest")
    if inner is None:
        return dict(exchange.native)
    path = upstream_model if upstream_model.startswith(("models/", "tunedModels/")) else f"models/{upstream_model}"
    return {"generateContentRequest": {**inner, "model": path}}


def answer(exchange: Exchange, tokens: int) -> Body:
    """A count from an upstream of another format, in the client's."""
    return {"input_tokens": tokens} if exchange.format == "anthropic" else {"totalTokens": tokens}
