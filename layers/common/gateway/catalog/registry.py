"""Loads models.yaml once (on first use) and resolves ids and aliases; provider names and their
aliases (`google` for `gemini`); a default model per category; and, where the operator allows it,
`provider/model` ids the catalog does not list, passed through at the operator's price."""

from __future__ import annotations

import re
from decimal import Decimal
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, PrivateAttr, ValidationInfo, model_validator

from gateway.money import PRICE_PLACES, ceil_micro, exactly

# The dearest price the catalog may set for any unit, in credits (per 1M tokens, per image, per
# second, ...): far above any real one, and low enough that the largest request's bound stays a plain
# number. An account's price group scales it (runtime.scaled, with the context {"scaled": True}).
MAX_PRICE = Decimal(1_000_000)
UPSTREAM_NAME_LENGTH = 512  # a model's name at its upstream (a Bedrock inference profile's ARN)


def _at_most_max(price: Decimal, info: ValidationInfo) -> Decimal:
    if (info.context or {}).get("scaled"):
        return price
    if price > MAX_PRICE:
        raise ValueError(f"a price is at most {MAX_PRICE:,} credits")
    if price.as_tuple().exponent < -PRICE_PLACES:  # type: ignore[operator]  # finite: ge=0 checked it
        raise ValueError(f"a price has at most {PRICE_PLACES} decimal places")
    return price


Price = Annotated[Decimal, Field(ge=0), AfterValidator(_at_most_max)]


class TokenPrices(BaseModel):
    """Credits per 1M tokens of each kind (= micro-credits per token)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    input: Price = Decimal(0)
    output: Price = Decimal(0)
    cached_input: Price | None = None  # prompt tokens read from a cache (None: input)
    cache_write_input: Price | None = None  # prompt tokens written to a cache (None: input)
    # written to a cache kept for an hour (Anthropic's `ttl: "1h"`; None: cache_write_input)
    cache_write_1h_input: Price | None = None
    audio_input: Price | None = None  # prompt tokens of audio (None: input)
    cached_audio_input: Price | None = None  # audio prompt tokens read from a cache (None: audio_input)

    def dearest_input(self) -> Decimal:
        optional = (self.cache_write_input, self.cache_write_1h_input, self.audio_input, self.cached_audio_input)
        return max(self.input, *(price or Decimal(0) for price in optional))

    def at_least(self, other: TokenPrices) -> bool:
        pairs = [
            (self.input, other.input),
            (self.output, other.output),
            (self.dearest_input(), other.dearest_input()),
        ]
        return all(mine >= theirs for mine, theirs in pairs)


class PriceTier(TokenPrices):
    """Prices for a request whose prompt has more than `above_prompt_tokens` tokens (Claude's 1M
    context, Gemini 2.5 Pro past 200K): every token of such a request is priced here."""

    above_prompt_tokens: int = Field(gt=0)


class Pricing(TokenPrices):
    """Token prices, plus credits per request; tiers for long prompts; media models are priced in
    their own units: credits per image (by `size/quality`, `size` or `*`), per 1M input characters
    (speech), per second of audio (transcription). Tools the upstream runs itself are priced in
    credits per use: `web_search` per search, `web_fetch` per page fetched, `grounding` per answer
    grounded with Google Search; a model without a tool's price cannot be asked to run it."""

    request: Price = Decimal(0)
    tiers: tuple[PriceTier, ...] = ()
    image: dict[str, Price] | None = None
    characters: Price | None = None
    audio_seconds: Price | None = None
    web_search: Price | None = None
    web_fetch: Price | None = None
    grounding: Price | None = None

    @exactly
    def tool_fees(self, web_searches: int = 0, web_fetches: int = 0, grounded: int = 0) -> Decimal:
        """Micro-credits (unrounded) for the tools the upstream ran; an unpriced tool counts nothing
        (requests that could run it are refused before they are held)."""
        return 1_000_000 * (
            web_searches * (self.web_search or Decimal(0))
            + web_fetches * (self.web_fetch or Decimal(0))
            + grounded * (self.grounding or Decimal(0))
        )

    @model_validator(mode="after")
    def _tiers_rise(self) -> Pricing:
        """Each tier starts further out and costs at least the one below: a hold priced at the tier
        a prompt can reach then covers whatever tier its real prompt lands in."""
        below: TokenPrices = self
        threshold = 0
        for tier in self.tiers:
            if tier.above_prompt_tokens <= threshold or not tier.at_least(below):
                raise ValueError("price tiers must rise: each starts further out and costs at least the one below")
            below, threshold = tier, tier.above_prompt_tokens
        return self

    def tier_for(self, prompt_tokens: int) -> TokenPrices:
        prices: TokenPrices = self
        for tier in self.tiers:
            if prompt_tokens > tier.above_prompt_tokens:
                prices = tier
        return prices

    @exactly
    def image_cost(self, size: str, quality: str | None, images: int, prompt_tokens: int = 0) -> int | None:
        """Micro-credits for `images` images and the prompt tokens their provider bills (gpt-image-1's
        and Gemini's, at `input`), or None when this size/quality has no price."""
        table = self.image or {}
        price = table.get(f"{size}/{quality}") if quality else None
        price = price if price is not None else table.get(size, table.get("*"))
        if price is None:
            return None
        return ceil_micro(price * 1_000_000 * images + prompt_tokens * self.input + self.request * 1_000_000)

    @exactly
    def speech_cost(self, characters: int) -> int:
        return ceil_micro((self.characters or Decimal(0)) * characters + self.request * 1_000_000)

    @exactly
    def transcription_cost(self, seconds: Decimal) -> int:
        return ceil_micro((self.audio_seconds or Decimal(0)) * 1_000_000 * seconds + self.request * 1_000_000)

    @exactly
    def cost(
        self,
        prompt_tokens: int,
        completion_tokens: int,
        cached_tokens: int = 0,
        cache_written: int = 0,
        audio_tokens: int = 0,
        cache_written_1h: int = 0,
        fees: Decimal = Decimal(0),
        cached_audio_tokens: int = 0,
    ) -> int:
        """Micro-credits for one request, rounded up once at the end, at the tier of its prompt.
        `cached_tokens` (cache reads, of which `cached_audio_tokens` audio), `cache_written` (of which
        `cache_written_1h` for an hour) and `audio_tokens` are parts of `prompt_tokens`, each at its own
        price when the catalog has one; `fees` (micro-credits) are the tools the upstream ran
        (`tool_fees`)."""
        prices = self.tier_for(prompt_tokens)
        cached = min(cached_tokens, prompt_tokens) if prices.cached_input is not None else 0
        priced_writes = prices.cache_write_input is not None or prices.cache_write_1h_input is not None
        written = min(cache_written, prompt_tokens - cached) if priced_writes else 0
        long_lived = min(cache_written_1h, written) if prices.cache_write_1h_input is not None else 0
        uncached = prompt_tokens - cached - written
        audio_all = min(audio_tokens, prompt_tokens) if prices.audio_input is not None else 0
        # audio beyond the uncached tokens was read from the cache, and so was the cached audio reported
        # (Gemini's cacheTokensDetails) within the audio and the cached tokens: at the cached audio price,
        # else the audio price (a provider's bill is highest with the fewest cached tokens audio)
        cached_audio = max(min(audio_all - uncached, cached), min(cached_audio_tokens, cached, audio_all), 0)
        audio = min(audio_all - cached_audio, uncached)
        cached_audio_price = prices.cached_audio_input if prices.cached_audio_input is not None else prices.audio_input
        total = (
            (uncached - audio) * prices.input
            + (cached - cached_audio) * (prices.cached_input or Decimal(0))
            + (written - long_lived) * (prices.cache_write_input or prices.input)
            + long_lived * (prices.cache_write_1h_input or Decimal(0))
            + audio * (prices.audio_input or Decimal(0))
            + cached_audio * (cached_audio_price or Decimal(0))
            + completion_tokens * prices.output
            + self.request * 1_000_000
            + fees
        )
        return ceil_micro(total)

    @exactly
    def cost_bound(self, prompt_tokens: int, completion_tokens: int) -> int:
        """The most `cost` can come to for at most these counts: the tier the prompt can reach, and
        every prompt token at its dearest price there."""
        prices = self.tier_for(prompt_tokens)
        return ceil_micro(
            prompt_tokens * prices.dearest_input() + completion_tokens * prices.output + self.request * 1_000_000
        )


class ProviderCandidate(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    provider: str = Field(max_length=64)
    model: str = Field(max_length=UPSTREAM_NAME_LENGTH)


class Passthrough(BaseModel):
    """Chat models of this provider that the catalog does not list, called by `provider/model`, at
    the operator's price (never free) and within these bounds (the hold prices a prompt up to the
    context length and the output up to `max_output_tokens`)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    pricing: Pricing
    context_length: int = Field(128_000, gt=0, le=10_000_000)
    max_output_tokens: int = Field(16_384, gt=0, le=1_000_000)

    @model_validator(mode="after")
    def _priced(self) -> Passthrough:
        if self.pricing.input <= 0 or self.pricing.output <= 0:
            raise ValueError("a passthrough price needs input and output prices above 0")
        return self


class ProviderConfig(BaseModel):
    """An upstream instance. `*_env` name environment variables (or keys of the provider secret)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: Literal["openai", "anthropic", "gemini", "bedrock"]
    api_key_env: str | None = None
    base_url_env: str | None = None
    default_base_url: str | None = None
    region_env: str | None = None  # Bedrock: the region to call; unset means not configured
    aliases: tuple[str, ...] = ()  # other names clients use for it (the `vendor` header: `google`)
    # Formats besides chat its upstream speaks itself (an OpenAI kind's: responses, completions); None:
    # all its kind does. An OpenAI-compatible server with chat completions only (DeepSeek) lists none,
    # and requests in the others are translated to chat for it.
    native_formats: tuple[Literal["responses", "completions"], ...] | None = None
    passthrough: Passthrough | None = None  # off unless the operator sets it


class MediaSpec(BaseModel):
    """What an image or audio model accepts (checked before any credit is touched)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    sizes: tuple[str, ...] = ()
    qualities: tuple[str, ...] = ()
    max_images: int = Field(10, ge=1, le=128)
    voices: tuple[str, ...] = ()
    formats: tuple[str, ...] = ()  # response formats (speech: mp3, wav, ...)


class ModelEntry(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(max_length=200)
    aliases: tuple[Annotated[str, Field(max_length=200)], ...] = Field((), max_length=64)
    display_name: str = Field(max_length=200)
    owned_by: str = Field(max_length=200)
    category: Literal["chat", "embedding", "image", "speech", "transcription"] = "chat"
    capabilities: tuple[Annotated[str, Field(max_length=64)], ...] = Field((), max_length=64)
    context_length: int = Field(1, gt=0)
    # A longer context some requests may unlock (Anthropic's `context-1m-...` beta); it needs tiers
    extended_context_length: int | None = Field(None, gt=0)
    max_output_tokens: int = Field(1, gt=0)
    pricing: Pricing
    providers: tuple[ProviderCandidate, ...] = Field(min_length=1, max_length=64)
    created: int = 0
    enabled: bool = True
    public: bool = True
    media: MediaSpec | None = None
    price_source: str | None = Field(None, max_length=500)  # where the prices come from, and when


class Defaults(BaseModel):
    """The model a request that names none gets, per endpoint (PotatoRouter's image example)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    image: str | None = None


PASSTHROUGH_MODEL = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:/@+-]{0,127}$")
_PASSTHROUGH_CACHE = 1_000


class Catalog(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    providers: dict[str, ProviderConfig]
    models: tuple[ModelEntry, ...]
    defaults: Defaults = Defaults()
    _by_name: dict[str, ModelEntry] = PrivateAttr(default_factory=dict)
    _provider_names: dict[str, str] = PrivateAttr(default_factory=dict)
    _passed: dict[str, ModelEntry] = PrivateAttr(default_factory=dict)

    @model_validator(mode="before")
    @classmethod
    def _drop_extensions(cls, data: Any) -> Any:
        """Top-level `x-...` keys hold YAML anchors shared by entries, as in compose files."""
        if isinstance(data, dict):
            return {name: value for name, value in data.items() if not str(name).startswith("x-")}
        return data

    @model_validator(mode="after")
    def _names_resolve(self) -> Catalog:
        for entry in self.models:
            for name in (entry.id, *entry.aliases):
                if name in self._by_name:
                    raise ValueError(f"model name {name!r} is declared twice")
                self._by_name[name] = entry
            for candidate in entry.providers:
                if candidate.provider not in self.providers:
                    raise ValueError(f"{entry.id}: unknown provider {candidate.provider!r}")
        for provider, config in self.providers.items():
            for name in (provider, *config.aliases):
                if name.lower() in self._provider_names:
                    raise ValueError(f"provider name {name!r} is declared twice")
                self._provider_names[name.lower()] = provider
        image = self.defaults.image
        if image is not None and (self.resolve(image) is None or self._by_name[image].category != "image"):
            raise ValueError(f"defaults.image: {image!r} is not an enabled image model of this catalog")
        return self

    def resolve(self, name: str) -> ModelEntry | None:
        """An enabled model by id or alias; else a `provider/model` its provider passes through."""
        entry = self._by_name.get(name)
        if entry is not None:
            return entry if entry.enabled else None
        return self._passthrough(name)

    def provider_named(self, name: str) -> str | None:
        """The provider a client means by `name` (its own name or an alias, any case), if any."""
        return self._provider_names.get(name.strip().lower())

    def default_model(self, category: Literal["image"]) -> str | None:
        return self.defaults.image if category == "image" else None

    def _passthrough(self, name: str) -> ModelEntry | None:
        """`provider/model` for a provider whose `passthrough` the operator set: a chat model priced
        as the operator said, served by that provider only, unlisted."""
        prefix, _, model = name.partition("/")
        provider = self.provider_named(prefix) if model else None
        config = self.providers[provider].passthrough if provider is not None else None
        if provider is None or config is None or not PASSTHROUGH_MODEL.match(model):
            return None
        model_id = f"{provider}/{model}"
        entry = self._passed.get(model_id)
        if entry is None:
            if len(self._passed) >= _PASSTHROUGH_CACHE:
                self._passed.clear()
            entry = ModelEntry(
                id=model_id,
                display_name=model_id,
                owned_by=provider,
                capabilities=("chat", "streaming"),
                context_length=config.context_length,
                max_output_tokens=config.max_output_tokens,
                pricing=config.pricing,
                providers=(ProviderCandidate(provider=provider, model=model),),
                public=False,
                price_source="the operator's passthrough price for this provider",
            )
            self._passed[model_id] = entry
        return entry

    def listed(self) -> list[ModelEntry]:
        return [entry for entry in self.models if entry.enabled and entry.public]


@lru_cache(maxsize=4)
def load_catalog(path: Path) -> Catalog:
    import yaml

    # libyaml's parser (PyYAML's wheels ship it): the same safe loading, ~20 ms less of a cold start
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    with path.open(encoding="utf-8") as handle:
        return Catalog.model_validate(yaml.load(handle, Loader=loader))  # noqa: S506 - a safe loader


def get_catalog() -> Catalog:
    """The catalog to serve now: the runtime one (catalog/live.py), or the shipped file."""
    from gateway.catalog import live

    return live.snapshot().catalog
