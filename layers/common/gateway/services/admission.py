"""Admission of a priced request: route the model for this key and the endpoint's capability, price it
for the account (its price group's ratio; the own-key fee when routed to its own key) on one catalog
snapshot, then reserve its upper-bound cost in one transaction (balance, key limit, rate limit, the
account's profile, the first channel's per-minute cap). Shared by every priced endpoint."""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import anyio

from gateway import clock
from gateway.auth.authenticate import Principal, refresh
from gateway.billing import credits, periods
from gateway.catalog import live
from gateway.catalog.registry import ModelEntry
from gateway.errors import ServiceUnavailable
from gateway.observability import logger
from gateway.providers import capacity
from gateway.providers.capabilities import Capability
from gateway.services import channels, profiles, terms
from gateway.services.routing import Preferences, Route, route_for
from gateway.storage.api_keys import ApiKeyRecord
from gateway.storage.credits import Reservation
from gateway.storage.stores import stores

ATTEMPTS = 6  # the key, the account's profile or a channel's cap may each send it round again
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
    of `model` alone (chat's fallback models). Every route is made on one catalog snapshot and the
    account's terms (services/terms.py): its entries carry the prices the hold was made with, and the
    request is charged on them too."""
    for _ in range(ATTEMPTS):
        if live.must_wait():  # a cold or long-idle process reads the catalog's stamp first
            await anyio.to_thread.run_sync(live.snapshot)
        profile = profiles.known(principal.account_id)
        if profile is None:
            profile = await anyio.to_thread.run_sync(profiles.current, principal.account_id)
        with live.pinned() as snapshot, terms.applied(terms.Terms(snapshot, profile)) as agreed:
            route = (
                router(principal.key)
                if router is not None
                else route_for(model, principal.key, capability, preferences)
            )
            amount = cost_bound(route.entry) or MIN_HOLD  # a free model still holds something: holds are positive
            items = also(route) if also is not None else ()
        reserve = functools.partial(
            credits.reserve,
            basis=agreed.basis(route),
            channel=channels.guard_for(route.first, clock.now()),
        )
        try:
            reservation = await anyio.to_thread.run_sync(reserve, principal, route.entry.id, amount, trace_id, items)
        except credits.KeyChanged:
            principal = await anyio.to_thread.run_sync(refresh, principal)
            continue
        except credits.ProfileChanged as changed:
            profiles.learn(principal.account_id, changed.account)
            continue
        except credits.ChannelAtCap as full:
            capacity.mark_full(full.channel, full.window_ends)
            continue
        task = asyncio.create_task(_rate_headers(principal)) if principal.key.rate_limit is not None else None
        return Admission(principal, route, reservation, task)
    raise ServiceUnavailable("The API key, the account or its channels kept changing while admitted; retry.")


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
