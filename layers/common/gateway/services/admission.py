"""Admission of a priced request: route the model for this key and the endpoint's capability, then
reserve its upper-bound cost in one transaction (balance, key limit, rate limit). Shared by every
priced endpoint."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import anyio

from gateway import clock
from gateway.auth.authenticate import Principal, refresh
from gateway.billing import credits, periods
from gateway.catalog.registry import ModelEntry
from gateway.errors import ServiceUnavailable
from gateway.observability import logger
from gateway.providers.capabilities import Capability
from gateway.services.routing import Preferences, Route, route_for
from gateway.storage.api_keys import ApiKeyRecord
from gateway.storage.credits import Reservation
from gateway.storage.stores import stores

ATTEMPTS = 3
MIN_HOLD = 1  # micro-credits


@dataclass(frozen=True)
class Admission:
    principal: Principal  # as the reservation saw it
    route: Route
    reservation: Reservation
    rate_headers: asyncio.Task[dict[str, str]] | None  # x-ratelimit-* of rate-limited keys, read meanwhile

    async def headers(self) -> dict[str, str]:
        return await self.rate_headers if self.rate_headers is not None else {}


async def admit(
    principal: Principal,
    model: str,
    capability: Capability[Any],
    cost_bound: Callable[[ModelEntry], int],
    trace_id: str,
    preferences: Preferences | None = None,
    also: Callable[[Route], Sequence[dict[str, Any]]] | None = None,
    router: Callable[[ApiKeyRecord], Route] | None = None,
) -> Admission:
    """Raises the API error that refuses the request; otherwise the credits are held. `cost_bound`
    prices the routed model (and refuses what it cannot serve); `also` names items to write with the
    reservation, given the route (an image task, say); `router` routes the request for the key instead
    of `model` alone (chat's fallback models)."""
    for _ in range(ATTEMPTS):
        route = (
            router(principal.key) if router is not None else route_for(model, principal.key, capability, preferences)
        )
        amount = cost_bound(route.entry) or MIN_HOLD  # a free model still holds something: holds are positive
        items = also(route) if also is not None else ()
        try:
            reservation = await anyio.to_thread.run_sync(
                credits.reserve, principal, route.entry.id, amount, trace_id, items
            )
        except credits.KeyChanged:
            principal = await anyio.to_thread.run_sync(refresh, principal)
            continue
        task = asyncio.create_task(_rate_headers(principal)) if principal.key.rate_limit is not None else None
        return Admission(principal, route, reservation, task)
    raise ServiceUnavailable("The API key kept changing while the request was admitted; retry.")


async def _rate_headers(principal: Principal) -> dict[str, str]:
    """Read (not write) the key's current window, while the upstream works."""
    limit = principal.key.rate_limit or 0
    moment = clock.now()
    try:
        used = await anyio.to_thread.run_sync(
            stores().keys.requests_in_window, principal.key_hash, periods.rate_window(moment)
        )
    except Exception:  # headers are informative; never fail a paid request over them
        logger().warning("could not read the rate-limit window")
        return {}
    return credits.rate_limit_headers(limit, limit - used, periods.seconds_to_next_window(moment))
