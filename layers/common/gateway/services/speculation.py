"""The upstream call started while the hold is written, so that the first token waits for no DynamoDB
round trip: for a key read with its account's gate and profile (and no rate counter, nor a creator
whose counters bind it), routed to a channel without a per-minute cap, whose hold this process's last
look at the shard says will succeed (billing.shards: SPECULATE_COVER times over), as its last look at
the key's limit counter does for a key with a credit limit (billing.limit_headroom).

Nothing reaches the client before the hold succeeds: the Meter waits for it before an answer is
returned, a stream relayed, or anything settled. A refused hold cancels the upstream call at once and
is the request's answer, as it would have been before the call. What such a refusal can cost the
operator: the provider's charge for a request cancelled one hold's round trip (a few ms) after it
began, which is at most its prompt (no model produces a token that fast; none reaches the client
anyway), for each request in flight when its key was revoked or changed elsewhere (or its account
disabled, or its profile changed), or its shard ran dry, or its credit limit was spent elsewhere.
Afterwards the key is read again (the refusal forgets it), and a key refused for its limit, or an
account whose shard was found short, or whose hold was refused for a change of its keys or profile
(an inference key may revoke the keys it creates, each revocation moving the account's gate, as
often as it likes), speculates no more in this process for a minute (billing.limit_headroom,
billing.shards, `_changed`), so the next requests are not speculative. A limited key's speculative
holds count against what this process knows of its limit as they start, so concurrent requests here
do not all bet on the same room. A key with a rate limit is never
speculative: a client retrying past its rate would make every refused request reach the upstream.
A Lambda environment of the chat function serves one request at a time (at most one such request
per warm environment at that moment); on Managed Instances, the requests in flight there.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from gateway import clock
from gateway.auth.authenticate import Principal
from gateway.billing import credits, limit_headroom, shards
from gateway.billing.cooling import CoolDowns
from gateway.catalog import live
from gateway.catalog.registry import ModelEntry
from gateway.providers.capabilities import Capability
from gateway.services.admission import Prepared, prepare, profile_of
from gateway.services.routing import Preferences, Route
from gateway.storage import on_loop
from gateway.storage.api_keys import ApiKeyRecord
from gateway.storage.credits import Reservation

T = TypeVar("T")

_changed = CoolDowns(shards.KNOWN_SECONDS)  # accounts a speculative hold was refused as changed for


@dataclass(frozen=True)
class Plan:
    prepared: Prepared
    choice: shards.Choice


def plan(
    principal: Principal,
    model: str,
    capability: Capability[Any],
    cost_bound: Callable[[ModelEntry], int],
    preferences: Preferences | None = None,
    router: Callable[[ApiKeyRecord], Route] | None = None,
) -> Plan | None:
    """The priced route and the shard of a request that may start its upstream call before its hold
    is written; None when it should not (then it is admitted first, as every request used to be):
    a key with a rate limit or a creator, an account this process has not read with its gate and
    profile, a catalog it must read first, a first channel with a per-minute cap (counted in the hold's
    transaction), a shard or a credit limit not known to cover the hold many times over, or an
    account a speculative hold was refused as changed for lately."""
    key = principal.key
    counted = key.rate_limit is not None or principal.parent is not None
    if principal.gate is None or not principal.shards or counted or principal.account_disabled:
        return None
    if _changed.active(key.account_id):
        return None
    profile = profile_of(principal)
    if profile is None or live.must_wait():
        return None
    prepared = prepare(principal, profile, model, capability, cost_bound, preferences, router=router)
    if prepared.channel is not None and prepared.channel.capped:
        return None
    shards.learn(key.account_id, principal.balances)
    choice = shards.choose(key.account_id, prepared.amount, principal.shards)
    if choice is None or not choice.confident:
        return None
    if not limit_headroom.claim(principal, prepared.amount, clock.now()):
        return None
    return Plan(prepared, choice)


def hold(principal: Principal, chosen: Plan, trace_id: str) -> asyncio.Task[Reservation]:
    """The hold, written on the loop while the caller goes on."""
    prepared = chosen.prepared
    reserve = functools.partial(credits.reserve, choice=chosen.choice, basis=prepared.basis, channel=prepared.channel)
    return asyncio.ensure_future(on_loop.run(reserve, principal, prepared.route.entry.id, prepared.amount, trace_id))


def refused_as_changed(account_id: str) -> None:
    """A speculative hold was refused because the account changed since it was read: no speculation
    on it for a while."""
    _changed.start(account_id)


async def alongside(held: asyncio.Future[Reservation], work: Awaitable[T]) -> T:
    """`work` (the upstream call, whose Meter waits for the hold) run while the hold is written; a
    refused hold cancels it and is raised."""
    task = asyncio.ensure_future(work)
    try:
        await asyncio.shield(held)
    except BaseException:
        task.cancel()
        with contextlib.suppress(BaseException):
            await task
        raise
    return await task
