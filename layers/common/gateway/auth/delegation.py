"""A key created by another key (its parent) works within that key, whatever either record says
later: its allow-lists are narrowed to the parent's, it expires when the parent does, and every
request takes from the parent's credit limit and rate window as well as its own (the reserve
transaction checks the parent too). A management PATCH of the child cannot lift any of that."""

from __future__ import annotations

from dataclasses import replace

from gateway.storage.api_keys import ApiKeyRecord


def bound_by(child: ApiKeyRecord, parent: ApiKeyRecord) -> ApiKeyRecord:
    """The child's record as it applies to a request: allow-lists and expiry within its parent's."""
    return replace(
        child,
        allowed_models=models_within(child.allowed_models, parent.allowed_models),
        allowed_providers=_within(child.allowed_providers, parent.allowed_providers),
        expires_at=_earlier(child.expires_at, parent.expires_at),
    )


def models_within(names: tuple[str, ...] | None, bounds: tuple[str, ...] | None) -> tuple[str, ...] | None:
    """`names` limited to the models `bounds` allows, whichever of its names (id or alias) each list uses."""
    if bounds is None:
        return names
    allowed = model_ids(bounds)
    if names is None:
        return bounds
    return tuple(name for name in names if model_ids((name,)) <= allowed)


def model_ids(names: tuple[str, ...]) -> set[str]:
    """The catalog ids these names resolve to (a name the catalog no longer knows stands for itself)."""
    from gateway.catalog.registry import get_catalog

    catalog = get_catalog()
    return {entry.id if (entry := catalog.resolve(name)) is not None else name for name in names}


def _within(names: tuple[str, ...] | None, bounds: tuple[str, ...] | None) -> tuple[str, ...] | None:
    if bounds is None:
        return names
    if names is None:
        return bounds
    return tuple(name for name in names if name in bounds)


def _earlier(first: int | None, second: int | None) -> int | None:
    moments = [moment for moment in (first, second) if moment is not None]
    return min(moments) if moments else None
