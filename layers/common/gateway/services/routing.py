"""Model name -> catalog entry -> the first provider candidate that is configured."""

from __future__ import annotations

from dataclasses import dataclass

from gateway.catalog.registry import ModelEntry, ProviderCandidate, get_catalog
from gateway.errors import ModelNotFound, ProviderNotConfigured
from gateway.providers.credentials import Endpoint, endpoint_for


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


def route_for(name: str) -> Route:
    entry = resolve_model(name)
    catalog = get_catalog()
    for candidate in entry.providers:
        endpoint = endpoint_for(catalog.providers[candidate.provider])
        if endpoint is not None:
            return Route(entry, candidate, endpoint)
    raise ProviderNotConfigured(f"No provider is configured to serve `{entry.id}`.")
