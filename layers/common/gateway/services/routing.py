"""Model name -> catalog entry -> the first provider candidate the key may use and that is configured."""

from __future__ import annotations

from dataclasses import dataclass

from gateway.catalog.registry import ModelEntry, ProviderCandidate, get_catalog
from gateway.errors import ModelNotAllowed, ModelNotFound, ProviderNotConfigured
from gateway.providers.credentials import Endpoint, endpoint_for
from gateway.storage.api_keys import ApiKeyRecord


@dataclass(frozen=True)
class Route:
    entry: ModelEntry
    candidate: ProviderCandidate
    endpoint: Endpoint


def resolve_model(name: str) -> ModelEntry:
    entry = get_catalog().resolve(name)
    if entry is None:
        raise ModelNotFound(f"The model `{name}` does not exist or is not available.", param="model")
    return entry


def model_allowed(entry: ModelEntry, key: ApiKeyRecord) -> bool:
    """The key's model allow-list names the model (by id or alias) and leaves it a provider."""
    if key.allowed_models is not None and not {entry.id, *entry.aliases} & set(key.allowed_models):
        return False
    return bool(allowed_candidates(entry, key))


def allowed_candidates(entry: ModelEntry, key: ApiKeyRecord) -> list[ProviderCandidate]:
    if key.allowed_providers is None:
        return list(entry.providers)
    return [candidate for candidate in entry.providers if candidate.provider in key.allowed_providers]


def route_for(name: str, key: ApiKeyRecord) -> Route:
    entry = resolve_model(name)
    if not model_allowed(entry, key):
        raise ModelNotAllowed(f"This API key may not use `{entry.id}`.", param="model")
    catalog = get_catalog()
    for candidate in allowed_candidates(entry, key):
        endpoint = endpoint_for(catalog.providers[candidate.provider])
        if endpoint is not None:
            return Route(entry, candidate, endpoint)
    raise ProviderNotConfigured(f"No provider is configured to serve `{entry.id}`.")
