"""From a model's providers to the upstream channels to try, in order.

Each provider has its built-in channel (named after it: the key and base URL of the environment or
the provider secret, as before channels existed) and the channels operators add at runtime. A
provider's channels are tried by priority, highest first; within a priority, in an order drawn at
random by weight (each channel first with probability weight / total), so traffic is balanced by
weight and a failing channel hands over to the next. Channels at their per-minute cap are left out
until their minute ends; channels in a health cool-down go last (services/routing.py).

An account with its own key for one of the model's providers (bring your own key) is routed to its
own keys only: its hold covers only the gateway's fee, which a platform channel would not honour.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from gateway import clock, periods
from gateway.catalog import live
from gateway.catalog.registry import ModelEntry, ProviderCandidate, ProviderConfig
from gateway.catalog.runtime import Channel
from gateway.config import get_settings
from gateway.errors import RateLimited
from gateway.observability import logger
from gateway.providers import capacity
from gateway.providers.credentials import Endpoint, endpoint_for
from gateway.services import byok
from gateway.storage import vault
from gateway.storage.channel_windows import ChannelGuard
from gateway.storage.profiles import AccountProfile

if TYPE_CHECKING:
    from gateway.services.routing import Candidate


@dataclass(frozen=True)
class Lane:
    """One channel of one provider, for one model."""

    provider: ProviderCandidate
    config: ProviderConfig
    channel: str
    endpoint: Endpoint
    upstream_model: str
    priority: int = 0
    weight: int = 1
    rpm: int | None = None
    tpm: int | None = None


def candidates(
    entry: ModelEntry,
    allowed: Sequence[ProviderCandidate],
    *,
    account_id: str | None = None,
    profile: AccountProfile | None = None,
    own_keys: bool | None = None,
) -> list[Candidate]:
    """The candidates for `entry` among the `allowed` providers (in their order). `own_keys`: None
    routes to the account's own keys when it has one for an allowed provider, True only to them,
    False never to them."""
    if own_keys is not False and account_id is not None and profile is not None:
        own = _own(entry, allowed, account_id, profile)
        if own or own_keys:
            return own
    lanes: list[Lane] = []
    at_cap = False
    for provider in allowed:
        pool = _lanes(entry, provider)
        open_lanes = [lane for lane in pool if not capacity.full(lane.channel)]
        at_cap = at_cap or len(open_lanes) < len(pool)
        lanes += ordered(open_lanes)
    if not lanes and at_cap:
        wait = periods.seconds_to_next_window(clock.now())
        raise RateLimited(
            f"Every channel serving `{entry.id}` is at its per-minute cap; retry in {wait}s.",
            headers={"Retry-After": str(wait)},
            code="provider_rate_limited",
        )
    return [_candidate(lane) for lane in lanes]


def ordered(lanes: Sequence[Lane], draw: Callable[[], float] = random.random) -> list[Lane]:
    """Highest priority first; within a priority, a weighted random order (an exponential draw of
    rate `weight` per lane, smallest first: lane i comes first with probability w_i / sum(w));
    weight 0 only after the others of its priority."""

    def rank(lane: Lane) -> tuple[int, float, float]:
        arrival = -math.log(1.0 - draw()) / lane.weight if lane.weight > 0 else math.inf
        return (-lane.priority, arrival, draw())

    return sorted(lanes, key=rank)


def guard_for(candidate: Candidate, moment: float) -> ChannelGuard | None:
    """The per-minute window a capped candidate counts in (None for an uncapped one)."""
    if candidate.rpm is None and candidate.tpm is None:
        return None
    return ChannelGuard(candidate.channel, periods.rate_window(moment), candidate.rpm, candidate.tpm)


def _lanes(entry: ModelEntry, provider: ProviderCandidate) -> list[Lane]:
    snapshot = live.snapshot()
    config = snapshot.catalog.providers[provider.provider]
    builtin = endpoint_for(config)
    lanes = [Lane(provider, config, provider.provider, builtin, provider.model)] if builtin is not None else []
    for channel in snapshot.channels_of(provider.provider, entry.id):
        endpoint = _endpoint(channel, config, builtin)
        if endpoint is not None:
            lanes.append(
                Lane(
                    provider=provider,
                    config=config,
                    channel=channel.id,
                    endpoint=endpoint,
                    upstream_model=channel.upstream_model(entry.id, provider.model),
                    priority=channel.priority,
                    weight=channel.weight,
                    rpm=channel.rpm,
                    tpm=channel.tpm,
                )
            )
    return lanes


def _endpoint(channel: Channel, config: ProviderConfig, builtin: Endpoint | None) -> Endpoint | None:
    """Where the channel is and its key (read from Secrets Manager, cached); None when it cannot be used."""
    if config.kind not in byok.OWN_KEY_KINDS:
        return None
    base_url = channel.base_url or (builtin.base_url if builtin else None) or config.default_base_url
    if not base_url:
        return None
    api_key = None
    if channel.secret_ref:
        try:
            stamp = (channel.id, channel.key_version)  # a new key (or secret) is read at once; the rest cached
            api_key = vault.channel_secrets.get(channel.secret_ref, stamp, get_settings().channel_secret_max_age)
        except vault.VaultError as error:
            logger().warning(
                "channel skipped: its secret cannot be read", extra={"channel": channel.id, "why": str(error)}
            )
            return None
    return Endpoint(base_url=base_url.rstrip("/"), api_key=api_key)


def _own(
    entry: ModelEntry, allowed: Sequence[ProviderCandidate], account_id: str, profile: AccountProfile
) -> list[Candidate]:
    catalog = live.snapshot().catalog
    own = []
    for provider in allowed:
        config = catalog.providers[provider.provider]
        if provider.provider in profile.byok and config.kind in byok.OWN_KEY_KINDS:
            endpoint = byok.endpoint(account_id, provider.provider, profile.version, config)
            own.append(Lane(provider, config, f"byok:{provider.provider}", endpoint, provider.model))
    return [_candidate(lane, own_key=True) for lane in own]


def _candidate(lane: Lane, *, own_key: bool = False) -> Candidate:
    from gateway.services.routing import Candidate

    return Candidate(
        provider=lane.provider.provider,
        config=lane.config,
        model=lane.upstream_model,
        endpoint=lane.endpoint,
        channel=lane.channel,
        rpm=lane.rpm,
        tpm=lane.tpm,
        own_key=own_key,
    )
