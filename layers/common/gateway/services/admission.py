"""Admission of a priced request: route the model for this key and the endpoint's capability, price it
for the account (its price group's ratio; the own-key fee when routed to its own key) on one catalog
snapshot, then hold its upper-bound cost on one of the account's balance shards: one conditional write
(the shard's gate standing for the key, the account's profile and its `disabled` switch as read), or
one transaction when the key's limit or rate, or the first channel's per-minute cap, count it too.
Shared by every priced endpoint."""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import anyio

from gateway import clock, periods
from gateway.auth.authenticate import Principal, refresh
from gateway.billing import credits
from gateway.billing.refusals import rate_limit_headers
from gateway.catalog import live
from gateway.catalog.registry import ModelEntry
from gateway.catalog.runtime import PriceBasis
from gateway.errors import InvalidRequest, ServiceUnavailable
from gateway.money import micro_to_credits
from gateway.observability import logger
from gateway.providers import capacity
from gateway.providers.capabilities import Capability
from gateway.services import channels, profiles, terms
from gateway.services.routing import Preferences, Route, route_for
from gateway.storage import on_loop
from gateway.storage.api_keys import ApiKeyRecord
from gateway.storage.channel_windows import ChannelGuard
from gateway.storage.credits import Reservation
from gateway.storage.errors import MAX_HOLD
from gateway.storage.profiles import AccountProfile
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
        profile = profile_of(principal)
        if profile is None:
            profile = await anyio.to_thread.run_sync(profiles.current, principal.account_id)
        prepared = prepare(principal, profile, model, capability, cost_bound, preferences, also, router)
        reserve = functools.partial(credits.reserve, basis=prepared.basis, channel=prepared.channel)
        route = prepared.route
        try:
            reservation = await on_loop.run(
                reserve, principal, route.entry.id, prepared.amount, trace_id, prepared.items
            )
        except credits.KeyChanged:
            principal = await anyio.to_thread.run_sync(refresh, principal)
            continue
        except credits.ProfileChanged as changed:
            profiles.learn(principal.account_id, changed.account)
            principal = await anyio.to_thread.run_sync(refresh, principal)
            continue
        except credits.ChannelAtCap as full:
            capacity.mark_full(full.channel, full.window_ends)
            continue
        task = asyncio.create_task(_rate_headers(principal)) if principal.key.rate_limit is not None else None
        return Admission(principal, route, reservation, task)
    raise ServiceUnavailable("The API key, the account or its channels kept changing while admitted; retry.")


@dataclass(frozen=True)
class Prepared:
    """A request routed and priced, not yet held."""

    route: Route
    amount: int  # micro-credits to hold
    items: Sequence[dict[str, Any]]  # written with the hold
    basis: PriceBasis  # what the amount was priced on
    channel: ChannelGuard | None  # the first candidate's channel, counted if capped


def profile_of(principal: Principal) -> AccountProfile | None:
    """The account's profile as read with the key and its gate (auth/authenticate.py: a change to it
    moves the gate, so a hold priced on it is refused if it is stale); else as this process knows it."""
    if principal.profile is not None:
        return profiles.note(principal.account_id, principal.profile)
    return profiles.known(principal.account_id)


def prepare(
    principal: Principal,
    profile: AccountProfile,
    model: str,
    capability: Capability[Any],
    cost_bound: Callable[[ModelEntry], int],
    preferences: Preferences | None = None,
    also: Callable[[Route], Sequence[dict[str, Any]]] | None = None,
    router: Callable[[ApiKeyRecord], Route] | None = None,
) -> Prepared:
    """Route and price the request on one catalog snapshot and the account's terms (no reads)."""
    with live.pinned() as snapshot, terms.applied(terms.Terms(snapshot, profile)) as agreed:
        route = (
            router(principal.key) if router is not None else route_for(model, principal.key, capability, preferences)
        )
        amount = cost_bound(route.entry) or MIN_HOLD  # a free model still holds something: holds are positive
        if amount > MAX_HOLD:
            raise InvalidRequest(
                f"This request could cost more than one request may hold ({micro_to_credits(MAX_HOLD)} credits) "
                f"at `{route.entry.id}`'s prices; ask for fewer output tokens or send a shorter prompt."
            )
        items = also(route) if also is not None else ()
    return Prepared(route, amount, items, agreed.basis(route), channels.guard_for(route.first, clock.now()))


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
    return rate_limit_headers(limit, limit - used, periods.seconds_to_next_window(moment))
