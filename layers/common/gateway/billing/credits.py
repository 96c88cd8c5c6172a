"""Reserve and settle a request's credits (a refused reservation is its API error: billing/refusals.py)."""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

from gateway import clock, periods
from gateway.auth.authenticate import Principal, forget
from gateway.billing import limit_headroom, shards, unsettled
from gateway.billing.refusals import refusal_error
from gateway.catalog.runtime import PriceBasis
from gateway.clock import day_from_epoch, iso_from_epoch, now_epoch
from gateway.config import get_settings
from gateway.errors import ServiceUnavailable
from gateway.observability import logger
from gateway.storage import on_loop
from gateway.storage.api_keys import ApiKeyRecord
from gateway.storage.balances import Shard
from gateway.storage.channel_windows import ChannelGuard
from gateway.storage.credits import CreditRepository, KeyGuard, LedgerEntry, Reservation
from gateway.storage.errors import ReservationRefused, StorageUnavailable
from gateway.storage.stores import stores

EXPIRED = "reservation_expired"
LIMIT_USAGE_RETENTION = 35 * 86_400  # a period's usage item outlives it, for reading


class KeyChanged(Exception):
    """The key changed since it was read (PATCH, disable, revoke): read it again."""


class ProfileChanged(Exception):
    """The account's price group or own keys changed since they were read: `account` is the account
    item as it stands; price and route the request again."""

    def __init__(self, account: dict[str, Any]) -> None:
        super().__init__("profile_changed")
        self.account = account


class ChannelAtCap(Exception):
    """The channel the request was routed to first is at its per-minute cap: route it again without."""

    def __init__(self, channel: str, window_ends: int) -> None:
        super().__init__(channel)
        self.channel = channel
        self.window_ends = window_ends  # epoch seconds


@dataclass(frozen=True)
class Attempt:
    """One call to an upstream, as the request's trace lists it."""

    provider: str
    upstream_model: str
    http_status: int
    error_code: str | None
    latency_ms: int
    channel: str | None = None  # the provider's upstream channel (never its secret)


@dataclass(frozen=True)
class Outcome:
    """How a request ended, as the settlement needs it."""

    endpoint: str
    provider: str | None
    http_status: int
    error_code: str | None
    prompt_tokens: int
    completion_tokens: int
    cost: int  # micro-credits the usage is worth (0 for failures)
    latency_ms: int
    upstream_latency_ms: int | None = None
    ttft_ms: int | None = None
    stream: bool = False
    usage_estimated: bool = False
    attempts: tuple[Attempt, ...] = ()
    units: dict[str, Any] | None = None  # images, characters, audio_seconds: what media was billed on
    channel: str | None = None  # the channel that answered
    routing_strategy: str = "auto"  # what ordered the providers: auto, vendor, provider_preferences
    user: str | None = None  # the end user the client named, kept on the trace
    metadata: dict[str, str] | None = None  # the client's tags, kept on the trace

    @property
    def succeeded(self) -> bool:
        return self.error_code is None


def _repository() -> CreditRepository:
    return stores().credits


def reserve(
    principal: Principal,
    model: str,
    amount: int,
    trace_id: str,
    also: Sequence[dict[str, Any]] = (),
    choice: shards.Choice | None = None,
    *,
    basis: PriceBasis | None = None,
    channel: ChannelGuard | None = None,
) -> Reservation:
    """Hold `amount` for this request on one of the account's balance shards (`choice`, else one
    picked here), within the key's limit and rate; `also` items are written in the same transaction
    and make the hold a recorded one (its reservation item outlives this invocation). `basis` (what
    the amount was priced on) is recorded; a capped `channel` counts the request in its window.

    Raises KeyChanged when a key of the account, its profile or its `disabled` switch was changed
    since `principal` was read (the gate moved); the caller reads it again (its allow-lists and
    prices may have changed too) and retries. ProfileChanged when `basis` was priced on another
    profile than the one read with the gate; ChannelAtCap when the channel is full.
    """
    key, parent = principal.key, principal.parent
    if principal.gate is None or not principal.shards:
        if not principal.shards:  # an account from before balance shards: split its balance now
            stores().accounts.sharded(key.account_id)
        raise KeyChanged(key.key_hash)
    if principal.account_disabled:
        raise refusal_error(ReservationRefused("account_disabled"), principal, amount, clock.now())
    if basis is not None and principal.profile is not None and basis.profile_version != principal.profile.version:
        profile = principal.profile  # priced on another profile than the gate's: price it again on this one
        raise ProfileChanged(
            {"profile_version": profile.version, "price_group": profile.group, "byok_providers": set(profile.byok)}
        )
    moment = clock.now()
    now = int(moment)
    limit_period = periods.period_of(key.limit_reset, moment) if key.limit is not None else None
    parent_period = (
        periods.period_of(parent.limit_reset, moment) if parent is not None and parent.limit is not None else None
    )
    guard = _guard(key, amount, moment)
    parent_guard = _guard(parent, amount, moment) if parent is not None else None
    account_id = key.account_id
    shards.learn(account_id, principal.balances)
    choice = choice or shards.choose(account_id, amount, principal.shards)
    for _ in range(SHARD_TRIES):
        if choice is None:  # no shard known to cover it: move credits to one, if the account can
            choice = _moved_for(principal, amount)
        reservation = Reservation(
            trace_id=trace_id,
            account_id=account_id,
            key_hash=key.key_hash,
            key_prefix=key.key_prefix,
            model=model,
            amount=amount,
            created_at=iso_from_epoch(moment),
            expires_at=now + get_settings().reservation_ttl_seconds,
            limit_period=limit_period,
            parent_hash=parent.key_hash if parent is not None else None,
            parent_limit_period=parent_period,
            shard=choice.shard,
            recorded=bool(also),
            catalog_version=basis.catalog_version if basis is not None else None,
            price_ratio=format(basis.ratio.normalize(), "f") if basis is not None else None,
            byok=basis.own_key if basis is not None else False,
            profile_version=basis.profile_version if basis is not None else 0,
            channel=channel.channel if channel is not None and channel.capped else None,
        )
        try:
            after = _repository().reserve(
                reservation, guard, now, also, parent_guard, gate=principal.gate, channel=channel
            )
        except ReservationRefused as refusal:
            if refusal.reason == "shard_short":  # what this process knew is stale: read the shards
                shards.short(account_id, choice.shard, int((refusal.key_item or {}).get("balance", 0)))
                choice = None
                continue
            if refusal.reason == "channel_full" and channel is not None:
                raise ChannelAtCap(channel.channel, (channel.window + 1) * periods.RATE_WINDOW_SECONDS) from refusal
            forget(key.key_hash)
            if refusal.reason == "key_limit":
                limit_headroom.refused(key.key_hash)
            if parent is not None:
                forget(parent.key_hash)
                if refusal.reason == "parent_limit":
                    limit_headroom.refused(parent.key_hash)
            if refusal.reason == "key_changed":
                raise KeyChanged(key.key_hash) from refusal
            raise refusal_error(refusal, principal, amount, moment) from refusal
        except StorageUnavailable as error:
            raise ServiceUnavailable(
                "The credit store is busy; retry shortly.", headers={"Retry-After": "1"}
            ) from error
        if after is not None:
            shards.observe(account_id, after.number, after.balance)
            _release_ended_windows(after)
        else:
            shards.took(account_id, choice.shard, amount)
        limit_headroom.took(key.key_hash, limit_period, amount)
        if parent is not None:
            limit_headroom.took(parent.key_hash, parent_period, amount)
        return reservation
    raise ServiceUnavailable("The credit store is busy; retry shortly.", headers={"Retry-After": "1"})


SHARD_TRIES = 8
MOVE_TRIES = 6


def _moved_for(principal: Principal, amount: int) -> shards.Choice:
    """Credits moved between the account's shards so that one covers `amount` (read at one moment);
    refuses the request when the account as a whole cannot cover it."""
    balances = stores().accounts.balances
    for attempt in range(MOVE_TRIES):
        if attempt:
            on_loop.pause(random.uniform(0, 0.01 * 2**attempt))  # another hold moved them meanwhile
        found, _ = balances.snapshot(principal.account_id, principal.shards)
        shards.observe_all(found)
        plan = shards.rebalance(found, amount)
        if plan is None:
            raise refusal_error(ReservationRefused("insufficient_credits"), principal, amount, clock.now())
        moves, target = plan
        if balances.move(principal.account_id, moves):
            for shard in found:
                shards.observe(shard.account_id, shard.number, shard.balance + moves.get(shard.number, 0))
            return shards.Choice(target, False)
    raise ServiceUnavailable("The credit store is busy; retry shortly.", headers={"Retry-After": "1"})


def _release_ended_windows(shard: Shard) -> None:
    """A shard seen with holds of ended windows (or days to fold) is tidied in the background: the
    first request to see it does the sweeper's work for it (billing/holds.py)."""
    from gateway.billing import holds

    if holds.needs_tidying(shard, clock.now_epoch()):
        holds.tidy_soon(shard)


def _check_shard(reservation: Reservation) -> None:
    """A hold by transaction returns no shard to see ended windows on: each shard a request settled on
    is read and tidied in the background once a window in each process instead (after the answer,
    never on the path to it)."""
    from gateway.billing import holds

    holds.check_settled_shard(reservation.account_id, reservation.shard, reservation.window)


def _guard(key: ApiKeyRecord, amount: int, moment: float) -> KeyGuard:
    """What the reservation checks and takes on this key, as last read."""
    limit_end = periods.period_end(key.limit_reset, moment)
    return KeyGuard(
        limit_headroom=key.limit - amount if key.limit is not None else None,
        limit_until=limit_end + LIMIT_USAGE_RETENTION if limit_end is not None else None,
        rate_limit=key.rate_limit,
        rate_window=periods.rate_window(moment) if key.rate_limit is not None else None,
    )


def ledger_entry(reservation: Reservation, outcome: Outcome) -> LedgerEntry:
    """The request's ledger entry: what its usage is worth, never more than was held."""
    amount = charged(reservation, outcome)
    if outcome.cost > reservation.amount:
        logger().warning(
            "usage exceeded reservation; charge capped",
            extra={"reserved": reservation.amount, "cost": outcome.cost, "model": reservation.model},
        )
    return LedgerEntry(
        trace_id=reservation.trace_id,
        account_id=reservation.account_id,
        key_hash=reservation.key_hash,
        key_prefix=reservation.key_prefix,
        model=reservation.model,
        provider=outcome.provider,
        endpoint=outcome.endpoint,
        status=_status(outcome),
        http_status=outcome.http_status,
        error_code=outcome.error_code,
        prompt_tokens=outcome.prompt_tokens,
        completion_tokens=outcome.completion_tokens,
        credits=amount,
        reserved=reservation.amount,
        latency_ms=outcome.latency_ms,
        upstream_latency_ms=outcome.upstream_latency_ms,
        ttft_ms=outcome.ttft_ms,
        stream=outcome.stream,
        usage_estimated=outcome.usage_estimated,
        created_at=reservation.created_at,
        day=day_from_epoch(now_epoch()),
        attempts=tuple(_attempt(attempt) for attempt in outcome.attempts),
        units=outcome.units,
        routing_strategy=outcome.routing_strategy,
        user=outcome.user,
        metadata=outcome.metadata,
        channel=outcome.channel,
        catalog_version=reservation.catalog_version,
        price_ratio=reservation.price_ratio,
        byok=reservation.byok,
    )


def charged(reservation: Reservation, outcome: Outcome) -> int:
    """What the ledger charges for `outcome`: its cost, never more than was held."""
    return min(outcome.cost, reservation.amount)


def settle(reservation: Reservation, outcome: Outcome, also: Sequence[dict[str, Any]] = ()) -> LedgerEntry | None:
    """Charge what the usage is worth, at most what was held; refund the rest.

    Returns None when the reservation had already been settled (by the sweeper, say).
    """
    settled = settle_entry(reservation, ledger_entry(reservation, outcome), also)
    if not reservation.recorded:
        _check_shard(reservation)
    return settled


def retention_until() -> int:
    """When a ledger entry written now expires (TRACE_RETENTION_DAYS)."""
    return now_epoch() + get_settings().trace_retention_days * 86_400


def settle_entry(
    reservation: Reservation, entry: LedgerEntry, also: Sequence[dict[str, Any]] = ()
) -> LedgerEntry | None:
    if not _repository().settle(reservation, entry, retention_until(), also):
        logger().error("reservation was already settled", extra={"trace_id": reservation.trace_id})
        return None
    return entry


def settle_durably(
    reservation: Reservation, outcome: Outcome, also: Sequence[dict[str, Any]] = (), attempts: int = 3
) -> LedgerEntry | None:
    """Settle after an answer went out, retrying; when the settlement cannot be written, keep its
    charge on the reservation so the sweeper charges it instead of refunding the hold. Never raises:
    the answer is not lost over its bookkeeping."""
    for attempt in range(attempts):
        try:
            return settle(reservation, outcome, also)
        except Exception:
            logger().warning("settlement failed", extra={"attempt": attempt + 1})
            on_loop.pause(0.05 * 4**attempt)
    try:
        record_pending(reservation, outcome)
    except Exception:
        if unsettled.keep(reservation, ledger_entry(reservation, outcome)):
            logger().error("settlement and its record failed; its charge is on the unsettled queue for the sweeper")
        else:
            logger().exception(
                "settlement, its record and the unsettled queue failed; the sweeper will refund the hold"
            )
    else:
        logger().error("settlement failed; its charge is kept on the reservation for the sweeper")
    return None


def record_pending(reservation: Reservation, outcome: Outcome) -> LedgerEntry:
    """When the settlement cannot be written: keep the charge on the reservation itself, where the
    sweeper finds it and charges it instead of refunding the hold."""
    entry = ledger_entry(reservation, outcome)
    _repository().record_pending(reservation, entry)
    return entry


def _attempt(attempt: Attempt) -> dict[str, Any]:
    """An attempt as the trace keeps it (`channel` only where there was one)."""
    return {name: value for name, value in asdict(attempt).items() if name != "channel" or value is not None}


def _status(outcome: Outcome) -> str:
    if outcome.succeeded:
        return "success"
    return "expired" if outcome.error_code == EXPIRED else "error"
