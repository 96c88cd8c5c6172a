"""The model list as `GET /v1/models` shows it, and as Google's `GET /v1beta/models` does."""

from __future__ import annotations

from typing import Any

from gateway.catalog.registry import ModelEntry, get_catalog
from gateway.errors import InvalidRequest, ModelNotFound
from gateway.providers import registry
from gateway.providers.capabilities import TOKEN_COUNTING
from gateway.services.routing import model_allowed, resolve_model
from gateway.storage.api_keys import ApiKeyRecord


def list_models(key: ApiKeyRecord) -> dict[str, Any]:
    """Enabled public models this key may call (a management key sees the whole catalog)."""
    return {"object": "list", "data": [describe(entry) for entry in _listed(key)]}


def _listed(key: ApiKeyRecord) -> list[ModelEntry]:
    return [entry for entry in get_catalog().listed() if key.kind == "management" or model_allowed(entry, key)]


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


# ---------------------------------------------------------------- Google's shape


def google_models(key: ApiKeyRecord, page_size: int, page_token: str | None) -> dict[str, Any]:
    """A `ListModelsResponse`: the chat models this key may call (google-genai reaches each through
    generateContent, translated for other vendors), `page_size` at a time; the page token is an offset."""
    entries = [entry for entry in _listed(key) if entry.category == "chat"]
    start = _offset(page_token, len(entries))
    body: dict[str, Any] = {"models": [google_describe(entry) for entry in entries[start : start + page_size]]}
    if start + page_size < len(entries):
        body["nextPageToken"] = str(start + page_size)
    return body


def google_model(name: str, key: ApiKeyRecord) -> dict[str, Any]:
    entry = resolve_model(name.removeprefix("models/"))
    if entry.category != "chat" or (key.kind != "management" and not model_allowed(entry, key)):
        raise ModelNotFound(f"The model `{name[:200]}` does not exist or is not available.", param="model")
    return google_describe(entry)


def google_describe(entry: ModelEntry) -> dict[str, Any]:
    """A `Model` as Google's API describes one, under the gateway's id."""
    providers = get_catalog().providers
    counts = any(registry.serves(providers[route.provider].kind, TOKEN_COUNTING) for route in entry.providers)
    methods = ["generateContent", "streamGenerateContent", *(["countTokens"] if counts else [])]
    return {
        "name": f"models/{entry.id}",
        "baseModelId": entry.id,
        "displayName": entry.display_name,
        "description": f"{entry.display_name}, by {entry.owned_by}.",
        "inputTokenLimit": entry.context_length,
        "outputTokenLimit": entry.max_output_tokens,
        "supportedGenerationMethods": methods,
        "thinking": "reasoning" in entry.capabilities,
    }


def _offset(page_token: str | None, total: int) -> int:
    if not page_token:
        return 0
    if not (page_token.isascii() and page_token.isdigit()) or int(page_token) > total:  # not "²"
        raise InvalidRequest("`pageToken` is not one this list gave.", param="pageToken")
    return int(page_token)
