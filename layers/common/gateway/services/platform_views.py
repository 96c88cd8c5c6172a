"""What the seed platforms show beyond the providers' own APIs, as views over the gateway's services:

- YouRouter's `vendor` header: `auto` (any case) or none routes automatically; a provider's name or
  catalog alias (`google` for `gemini`) pins it; other names go on as sent (routing's 400 names the
  providers that serve the model).
- The credits platform (base URL `/api/v1`): its model list with `credit_cost`, chat only for models
  the registry enables and lists, image generation answered as a task with its `provider_task_id`.
  Its error envelope is formats/api_v1_answers.py.
- poeti: `{"code": 200, "data": ...}` around usage and the trace listing, whose page has `items`,
  `total`, `page` and `page_size`. Pages follow cursors (a listing reads a bounded number of traces per
  call): `page` is the number of the page a cursor leads to, carried in the cursor; a later page is
  reached with the previous page's `next_cursor`, not by its number alone.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from gateway.catalog.registry import ModelEntry, get_catalog
from gateway.errors import InvalidRequest, ModelNotFound
from gateway.services import models
from gateway.storage.api_keys import ApiKeyRecord

AUTOMATIC = "auto"
OK = 200
MAX_PAGE = 1_000_000

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


# ------------------------------------------------------------------ poeti


def envelope(data: Any) -> dict[str, Any]:
    return {"code": OK, "data": data}


def page_cursor(cursor: str | None, page: int | None) -> tuple[str | None, int]:
    """(the repository's cursor, the page number) from a listing's `cursor` and `page` parameters."""
    if cursor is None:
        if page not in (None, 1):
            raise InvalidRequest(
                "Pages after the first are reached with the previous page's `next_cursor`.", param="page"
            )
        return None, 1
    number, dot, inner = cursor.partition(".")
    if not dot or not inner or not number.isdigit() or len(number) > 7 or not 1 < int(number) <= MAX_PAGE:
        raise InvalidRequest("This cursor is not valid for this listing.", param="cursor")
    if page is not None and page != int(number):
        raise InvalidRequest("`page` is not the page this cursor leads to.", param="page")
    return inner, int(number)


def trace_page(listing: dict[str, Any], *, page: int, page_size: int, total: int | None) -> dict[str, Any]:
    """A listing of gateway.services.usage.traces as poeti's page."""
    inner = listing["next_cursor"]
    return envelope(
        {
            "items": listing["data"],
            "total": total,
            "page": page,
            "page_size": page_size,
            "next_cursor": f"{page + 1}.{inner}" if inner else None,
            "has_more": listing["has_more"],
        }
    )
