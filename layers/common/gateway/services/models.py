"""The model list as `GET /v1/models` shows it."""

from __future__ import annotations

from typing import Any

from gateway.catalog.registry import ModelEntry, get_catalog
from gateway.services.routing import resolve_model


def list_models() -> dict[str, Any]:
    return {"object": "list", "data": [describe(entry) for entry in get_catalog().listed()]}


def get_model(name: str) -> dict[str, Any]:
    return describe(resolve_model(name))


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
