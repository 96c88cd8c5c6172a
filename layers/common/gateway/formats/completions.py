"""OpenAI's legacy text completions as an inbound format (POST /v1/completions), for the models whose
catalog entry lists the `completions` capability; served by OpenAI-compatible upstreams only, which
take the body as sent (but for the model and the output cap). The request is checked here, every
number bounded; answers and streams pass through with OpenRouter's `usage.cost` added."""

from __future__ import annotations

from typing import Annotated, Any, cast

from pydantic import ConfigDict, Field

from gateway.canonical import Body, ChatChunk, ChatCompletion, ChatRequest, usage_only
from gateway.errors import GatewayError
from gateway.formats.inbound import Encoder, Exchange, InboundFormat, NativeOnly
from gateway.formats.openai import StreamOptions
from gateway.formats.openai_answers import OpenAIEncoder, sse, with_cost
from gateway.formats.wire import (
    Choices,
    LogitBias,
    Metadata,
    ModelNames,
    OutputTokens,
    Penalty,
    Seed,
    Temperature,
    UnitInterval,
    User,
    WireModel,
)

CAPABILITY = "completions"  # the catalog capability of models served here
DEFAULT_MAX_TOKENS = 16  # OpenAI's, when a completion request names none
TokenId = Annotated[int, Field(strict=True, ge=0, le=10_000_000)]
Prompt = str | list[str] | list[TokenId] | list[list[TokenId]]


class CompletionRequest(WireModel):
    """Every numeric field is bounded here: a hostile number is a 400 before any credit moves."""

    model_config = ConfigDict(extra="allow")

    model: str = Field(min_length=1, max_length=256)
    prompt: Prompt = Field(min_length=1)
    suffix: str | None = None
    stream: bool = False
    stream_options: StreamOptions | None = None
    max_tokens: OutputTokens | None = None
    n: Choices = 1
    best_of: Annotated[int, Field(strict=True, ge=1, le=20)] | None = None
    temperature: Temperature | None = None
    top_p: UnitInterval | None = None
    presence_penalty: Penalty | None = None
    frequency_penalty: Penalty | None = None
    logprobs: Annotated[int, Field(strict=True, ge=0, le=5)] | None = None
    logit_bias: dict[str, LogitBias] | None = None
    seed: Seed | None = None
    echo: bool | None = None
    user: User | None = None
    metadata: Metadata | None = None
    models: ModelNames | None = None

    def wire_body(self) -> dict[str, Any]:
        return self.sent()


def exchange(request: CompletionRequest) -> Exchange:
    """The pipeline's view of a validated request. Its canonical form is only what the hold is priced
    on (the body's bytes, the output asked for each of the completions the upstream makes: `best_of`
    of them when more than `n`, for each prompt of a batch); no upstream is sent a translation."""
    native = request.wire_body()
    preferences = native.pop("provider", None)
    models = native.pop("models", None) or []
    prompts = prompts_in(request.prompt)
    made = max(request.n, request.best_of or 1) * prompts
    priced = {**native, "max_tokens": request.max_tokens or DEFAULT_MAX_TOKENS, "n": made}
    return Exchange(
        format="completions",
        endpoint="completions",
        model=request.model,
        native=native,
        canonical=cast(ChatRequest, priced),
        stream=request.stream,
        wants_usage=bool(request.stream_options and request.stream_options.include_usage),
        provider_preferences=preferences,
        native_only=(NativeOnly("prompt", "Text completions are served by OpenAI-compatible upstreams only"),),
        user=request.user,
        metadata=request.metadata,
        models=tuple(models),
        requires=CAPABILITY,
        unseen_completions=made - request.n * prompts,
    )


def prompts_in(prompt: Prompt) -> int:
    """How many prompts the upstream completes: a list of strings or of token lists is a batch, each
    of its prompts given its own `n` completions; a string or one token list is one prompt."""
    if isinstance(prompt, list) and prompt and isinstance(prompt[0], str | list):
        return len(prompt)
    return 1


# ---------------------------------------------------------------- answers


def _respond(answer: ChatCompletion, exchange: Exchange) -> Body:
    """A canonical completion as a text completion (each choice's message text)."""
    choices = [
        {
            "text": choice["message"].get("content") or "",
            "index": choice["index"],
            "logprobs": None,
            "finish_reason": choice["finish_reason"],
        }
        for choice in answer["choices"]
    ]
    body: Body = {
        "id": answer["id"],
        "object": "text_completion",
        "created": answer["created"],
        "model": exchange.model,
        "choices": choices,
    }
    if "usage" in answer:
        body["usage"] = dict(answer["usage"])
    return body


class CompletionsEncoder(OpenAIEncoder):
    """An upstream's completion chunks as they come, its usage chunk (with its cost) and `[DONE]`
    once settled; canonical chunks (never sent here by the router) as text completion chunks."""

    def feed(self, chunk: ChatChunk) -> bytes:
        if usage_only(chunk):
            self.usage_chunk = dict(chunk)
            return b""
        choices = [
            {
                "text": choice["delta"].get("content") or "",
                "index": choice["index"],
                "logprobs": None,
                "finish_reason": choice["finish_reason"],
            }
            for choice in chunk.get("choices") or []
        ]
        return sse({**chunk, "object": "text_completion", "choices": choices})


def _encoder(exchange: Exchange) -> Encoder:
    return CompletionsEncoder(exchange.wants_usage)


def _error_body(error: GatewayError) -> Body:
    return error.openai_body()


def _capped(body: Body, tokens: int) -> Body:
    return {**body, "max_tokens": tokens}


def _priced(answer: Body, cost: int, exchange: Exchange) -> Body:
    return with_cost(answer, cost)


FORMAT = InboundFormat("completions", _respond, _encoder, _error_body, _capped, _priced)
