"""What the seed platforms show beyond the providers' own APIs, as views over the gateway's services:

- YouRouter's `vendor` header: `auto` (any case) or none routes automatically; a provider's name or
  catalog alias (`google` for `gemini`) pins it; other names go on as sent (routing's 400 names the
  providers that serve the model).
- The credits platform (base URL `/api/v1`): its model list with `credit_cost`, chat only for models
  the registry enables and lists, image generation answered as a task with its `provider_task_id`.
  Its error envelope is formats/api_v1_answers.py.

poeti's envelopes and pages are services/poeti_views.py.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from gateway.catalog.registry import ModelEntry, get_catalog
from gateway.errors import ModelNotFound
from gateway.services import models
from gateway.storage.api_keys import ApiKeyRecord

AUTOMATIC = "auto"

# ------------------------------------------------------------------ YouRouter


def pinned_provider(vendor: str | None) -> str | None:
    """The provider the header pins, or None for automatic routing."""
    if vendor is None:
        return None
    name = vendor.strip()
    if not name or name.lower() == AUTOMATIC:
        return None
    return get_catalog().provider_named(name) or name


# ------------------------------------------------------------------ the credits platform


def list_models(key: ApiKeyRecord) -> dict[str, Any]:
    """`GET /api/v1/models`: the models this key may call, each with its `credit_cost`."""
    listed = models.list_models(key)
    catalog = get_catalog()
    for item in listed["data"]:
        entry = catalog.resolve(item["id"])
        if entry is not None:
            item["credit_cost"], item["credit_unit"] = credit_cost(entry)
    return listed


def credit_cost(entry: ModelEntry) -> tuple[float, str]:
    """The model's price in credits for its headline unit. The gateway bills by use (tokens, images,
    characters, seconds), not a flat cost per call, so `credit_unit` says what `credit_cost` buys."""
    pricing = entry.pricing
    match entry.category:
        case "image":
            size = entry.media.sizes[0] if entry.media and entry.media.sizes else "1024x1024"
            quality = entry.media.qualities[0] if entry.media and entry.media.qualities else None
            return _number(Decimal(pricing.image_cost(size, quality, 1) or 0).scaleb(-6)), "image"
        case "speech":
            return _number(pricing.characters or Decimal(0)), "1M characters"
        case "transcription":
            return _number(pricing.audio_seconds or Decimal(0)), "second of audio"
        case "embedding":
            return _number(pricing.input), "1M input tokens"
        case _:
            return _number(pricing.output), "1M output tokens"


def require_listed(name: str) -> None:
    """Only models the registry enables and lists may be called here ("启用并公开的模型")."""
    entry = get_catalog().resolve(name)
    if entry is None or not entry.public:
        raise ModelNotFound("Model is not available", param="model")


def task_answer(content: dict[str, Any]) -> dict[str, Any]:
    """The gateway's task, in the platform's shape. Its worker calls the provider synchronously, so the
    provider has no task of its own: `provider_task_id` is the gateway's task id."""
    return {**content, "provider_task_id": content.get("task_id")}


def _number(value: Decimal) -> float:
    return float(value)
