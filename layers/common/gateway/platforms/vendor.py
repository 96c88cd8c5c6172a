"""YouRouter's `vendor` header: `auto` (any case) or no header routes automatically; a provider's
name or alias (`google` for the `gemini` provider) pins that provider. Other names go on as sent, and
routing answers 400 naming the providers that serve the model."""

from __future__ import annotations

from gateway.catalog.registry import get_catalog

AUTOMATIC = "auto"


def pinned_provider(vendor: str | None) -> str | None:
    """The provider the header pins, or None for automatic routing."""
    if vendor is None:
        return None
    name = vendor.strip()
    if not name or name.lower() == AUTOMATIC:
        return None
    return get_catalog().provider_named(name) or name
