"""The model list as `GET /v1/models` shows it."""

from __future__ import annotations

from typing import Any

from gateway.catalog.registry import ModelEntry, get_catalog
from gateway.errors import ModelNotFound
from gateway.services.routing import model_allowed, resolve_model
from gateway.storage.api_keys import ApiKeyRecord


def list_models(key: ApiKeyRecord) -> dict[str, Any]:
    """Enabled public models this key may call (a management key sees the whole catalog)."""
    entries = [entry for entry in get_catalog().listed() if key.kind == "management" or model_allowed(entry, key)]
    return {"object": "list", "data": [describe(entry) for entry in entries]}


def get_model(name: str, key: ApiKeyRecord) -> dict[str, Any]:
    entry = resolve_model(name)
    if key.kind != "management" and not model_allowed(entry, key):
        raise ModelNotFound(f"The model `{name}` does not exist or is not available.", param="model")
    return describe(entry)


def describe(entry: ModelEntry) -> dict[str, Any]:
    pricing = entry.pricing
    return {
        "id": entry.id,
        "object": "model",
        "created": entry.created,
        "owned_by": entry.owned_by,
        "display_name": entry.display_name,
        "category": entry.category,
        "capabilities": list(entry.capabilities),
        "aliases": list(entry.aliases),
        "context_length": entry.context_length,
        "max_output_tokens": entry.max_output_tokens,
        "pricing": {
            "unit": "credits per 1M tokens",
            "input": str(pricing.input),
            "output": str(pricing.output),
            "cached_input": str(pricing.cached_input) if pricing.cached_input is not None else None,
            "request": str(pricing.request),
        },
    }
