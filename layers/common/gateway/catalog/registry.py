"""Loads models.yaml once (on first use) and resolves ids and aliases."""

from __future__ import annotations

from decimal import Decimal
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, model_validator

from gateway.money import ceil_micro


class Pricing(BaseModel):
    """Credits per 1M tokens (= micro-credits per token), plus credits per request; media models
    are priced in their own units: credits per image (by `size/quality`, `size` or `*`), per 1M
    input characters (speech), per second of audio (transcription)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    input: Decimal = Field(Decimal(0), ge=0)
    output: Decimal = Field(Decimal(0), ge=0)
    cached_input: Decimal | None = Field(None, ge=0)
    cache_write_input: Decimal | None = Field(None, ge=0)  # prompt tokens written to a cache (None: input)
    request: Decimal = Field(Decimal(0), ge=0)
    image: dict[str, Decimal] | None = None
    characters: Decimal | None = Field(None, ge=0)
    audio_seconds: Decimal | None = Field(None, ge=0)

    def image_cost(self, size: str, quality: str | None, images: int) -> int | None:
        """Micro-credits for `images` images, or None when this size/quality has no price."""
        table = self.image or {}
        price = table.get(f"{size}/{quality}") if quality else None
        price = price if price is not None else table.get(size, table.get("*"))
        return None if price is None else ceil_micro(price * 1_000_000 * images + self.request * 1_000_000)

    def speech_cost(self, characters: int) -> int:
        return ceil_micro((self.characters or Decimal(0)) * characters + self.request * 1_000_000)

    def transcription_cost(self, seconds: Decimal) -> int:
        return ceil_micro((self.audio_seconds or Decimal(0)) * 1_000_000 * seconds + self.request * 1_000_000)

    def cost(self, prompt_tokens: int, completion_tokens: int, cached_tokens: int = 0, cache_written: int = 0) -> int:
        """Micro-credits for one request, rounded up once at the end. `cached_tokens` (cache reads) and
        `cache_written` are parts of `prompt_tokens`, each at its own price when the catalog has one."""
        cached = min(cached_tokens, prompt_tokens) if self.cached_input is not None else 0
        written = min(cache_written, prompt_tokens - cached) if self.cache_write_input is not None else 0
        total = (
            (prompt_tokens - cached - written) * self.input
            + cached * (self.cached_input or Decimal(0))
            + written * (self.cache_write_input or Decimal(0))
            + completion_tokens * self.output
            + self.request * 1_000_000
        )
        return ceil_micro(total)

    def cost_bound(self, prompt_tokens: int, completion_tokens: int) -> int:
        """The most `cost` can come to for these counts: every prompt token at its dearest price."""
        dearest = max(self.input, self.cache_write_input or Decimal(0))
        return ceil_micro(prompt_tokens * dearest + completion_tokens * self.output + self.request * 1_000_000)


class ProviderCandidate(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    provider: str
    model: str


class ProviderConfig(BaseModel):
    """An upstream instance. `*_env` name environment variables (or keys of the provider secret)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: Literal["openai", "anthropic", "gemini", "bedrock"]
    api_key_env: str | None = None
    base_url_env: str | None = None
    default_base_url: str | None = None
    region_env: str | None = None  # Bedrock: the region to call; unset means not configured


class MediaSpec(BaseModel):
    """What an image or audio model accepts (checked before any credit is touched)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    sizes: tuple[str, ...] = ()
    qualities: tuple[str, ...] = ()
    max_images: int = Field(10, ge=1, le=128)
    voices: tuple[str, ...] = ()
    formats: tuple[str, ...] = ()  # response formats (speech: mp3, wav, ...)
    async_tasks: bool = False  # image generation answers a task, worked off the request path


class ModelEntry(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str
    aliases: tuple[str, ...] = ()
    display_name: str
    owned_by: str
    category: Literal["chat", "embedding", "image", "speech", "transcription"] = "chat"
    capabilities: tuple[str, ...] = ()
    context_length: int = Field(1, gt=0)
    max_output_tokens: int = Field(1, gt=0)
    pricing: Pricing
    providers: tuple[ProviderCandidate, ...] = Field(min_length=1)
    created: int = 0
    enabled: bool = True
    public: bool = True
    media: MediaSpec | None = None


class Catalog(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    providers: dict[str, ProviderConfig]
    models: tuple[ModelEntry, ...]
    _by_name: dict[str, ModelEntry] = PrivateAttr(default_factory=dict)

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
        return self

    def resolve(self, name: str) -> ModelEntry | None:
        """An enabled model by id or alias."""
        entry = self._by_name.get(name)
        return entry if entry is not None and entry.enabled else None

    def listed(self) -> list[ModelEntry]:
        return [entry for entry in self.models if entry.enabled and entry.public]


@lru_cache(maxsize=4)
def load_catalog(path: Path) -> Catalog:
    import yaml

    with path.open(encoding="utf-8") as handle:
        return Catalog.model_validate(yaml.safe_load(handle))


def get_catalog() -> Catalog:
    from gateway.config import get_settings

    return load_catalog(get_settings().catalog_path)
