"""OpenAI chat-completions request schema: what the gateway checks before touching credits.

Unknown fields pass through to the upstream untouched (extra="allow").
"""

from __future__ import annotations

from typing import Annotated, Any, Literal, cast

from pydantic import BaseModel, ConfigDict, Field

from gateway.canonical import ChatRequest
from gateway.formats.inbound import Exchange
from gateway.formats.wire import (
    Choices,
    LogitBias,
    Metadata,
    ModelNames,
    OutputTokens,
    Penalty,
    Seed,
    ServiceTier,
    Temperature,
    TopLogprobs,
    UnitInterval,
    User,
    WireModel,
)

TokenId = Annotated[int, Field(strict=True, ge=0, le=10_000_000)]


class ChatMessage(BaseModel):
    model_config = ConfigDict(extra="allow")

    role: Literal["system", "developer", "user", "assistant", "tool", "function"]
    content: str | list[dict[str, Any]] | None = None


class StreamOptions(BaseModel):
    model_config = ConfigDict(extra="allow")

    include_usage: bool = False


class Reasoning(BaseModel):
    """OpenRouter's `reasoning` object (effort, or a thinking budget in tokens)."""

    model_config = ConfigDict(extra="allow")

    max_tokens: OutputTokens | None = None
    effort: str | None = Field(None, max_length=32)
    enabled: bool | None = None
    exclude: bool | None = None


class ChatCompletionRequest(WireModel):
    """Every numeric field is bounded here: a hostile number is a 400 before any credit moves."""

    model_config = ConfigDict(extra="allow")

    model: str = Field(min_length=1, max_length=256)
    messages: list[ChatMessage] = Field(min_length=1, max_length=10_000)
    stream: bool = False
    stream_options: StreamOptions | None = None
    max_tokens: OutputTokens | None = None
    max_completion_tokens: OutputTokens | None = None
    n: Choices = 1
    temperature: Temperature | None = None
    top_p: UnitInterval | None = None
    presence_penalty: Penalty | None = None
    frequency_penalty: Penalty | None = None
    seed: Seed | None = None
    logprobs: bool | None = None
    top_logprobs: TopLogprobs | None = None
    logit_bias: dict[str, LogitBias] | None = None
    reasoning: Reasoning | None = None
    user: User | None = None
    metadata: Metadata | None = None
    models: ModelNames | None = None  # OpenRouter: the models to fall back on, in order
    service_tier: ServiceTier | None = None

    def requested_output_tokens(self) -> int | None:
        return self.max_completion_tokens or self.max_tokens

    def wire_body(self) -> dict[str, Any]:
        """The body as the client sent it (fields it did not send stay absent)."""
        return self.sent()


class EmbeddingsRequest(WireModel):
    model_config = ConfigDict(extra="allow")

    model: str = Field(min_length=1, max_length=256)
    input: str | list[str] | list[TokenId] | list[list[TokenId]] = Field(min_length=1)
    encoding_format: Literal["float", "base64"] | None = None
    dimensions: Annotated[int, Field(strict=True, ge=1, le=100_000)] | None = None

    def wire_body(self) -> dict[str, Any]:
        return self.sent()


def exchange(request: ChatCompletionRequest) -> Exchange:
    """The pipeline's view of a validated chat request; OpenRouter's `provider` preferences and
    `models` come off the body (they are the gateway's, never an upstream's)."""
    native = request.wire_body()
    preferences = native.pop("provider", None)
    models = native.pop("models", None) or []
    return Exchange(
        format="openai",
        endpoint="chat.completions",
        model=request.model,
        native=native,
        canonical=cast(ChatRequest, native),
        stream=request.stream,
        wants_usage=bool(request.stream_options and request.stream_options.include_usage),
        provider_preferences=preferences,
        user=request.user,
        metadata=request.metadata,
        models=tuple(models),
    )
