"""Channels on the test catalog: the order a request tries a provider's channels in (priority, then a
weighted draw), channels at their cap left out, and the price a route's account pays."""

from __future__ import annotations

import math
import random
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal

import anyio
import pytest

from gateway.catalog import live
from gateway.catalog.registry import ProviderCandidate, load_catalog
from gateway.catalog.runtime import Channel, PriceGroup, Snapshot
from gateway.errors import RateLimited
from gateway.providers import capacity
from gateway.providers.capabilities import CHAT
from gateway.providers.credentials import Endpoint
from gateway.services.admission import admit
from gateway.services.channels import Lane, ordered
from gateway.services.routing import route_for
from gateway.storage import stores
from gateway.storage.profiles import AccountProfile
from tests.conftest import TEST_CATALOG
from tests.support.recording_stores import (
    RecordingCredits,
    RecordingKeys,
    RecordingProfiles,
    key_record,
    principal,
    recording_stores,
)

pytestmark = pytest.mark.usefixtures("fixture_catalog")
PROVIDER = ProviderCandidate(provider="fake", model="echo")


def lane(channel: str, priority: int = 0, weight: int = 1) -> Lane:
    config = load_catalog(TEST_CATALOG).providers["fake"]
    return Lane(PROVIDER, config, channel, Endpoint("http://127.0.0.1:9/v1", None), "echo", priority, weight)


def test_within_a_priority_a_channel_comes_first_in_proportion_to_its_weight():
    """20,000 draws of weights 1, 2 and 7: each first 10%, 20% and 70% of the time (sd ~0.3%)."""
    lanes = [lane("one", weight=1), lane("two", weight=2), lane("seven", weight=7)]
    draw = random.Random(20261130).random
    firsts = Counter(ordered(lanes, draw)[0].channel for _ in range(20_000))
    for channel, share in (("one", 0.1), ("two", 0.2), ("seven", 0.7)):
        assert abs(firsts[channel] / 20_000 - share) < 0.015, firsts


def test_higher_priorities_come_first_and_weight_zero_only_after_its_peers():
    lanes = [lane("low", priority=-5, weight=100), lane("idle", weight=0), lane("main", weight=1), lane("top", 10)]
    draw = random.Random(7).random
    for _ in range(200):
        assert [chosen.channel for chosen in ordered(lanes, draw)] == ["top", "main", "idle", "low"]


@dataclass
class Serving:
    credits: RecordingCredits
    profiles: RecordingProfiles


@pytest.fixture
def serving() -> Iterator[Serving]:
    """The test catalog with two keyless channels for `fake` (b capped), a half-price group, and
    recording stores."""
    catalog = load_catalog(TEST_CATALOG)
    snapshot = Snapshot(
        version=9,
        catalog=catalog,
        channels=(
            Channel(id="fake-a", provider="fake", base_url="http://127.0.0.1:9/a", priority=5),
            Channel(id="fake-b", provider="fake", base_url="http://127.0.0.1:9/b", priority=6, rpm=10),
        ),
        groups={"half": PriceGroup(name="half", ratio=Decimal("0.5"))},
    )
    recorded = Serving(RecordingCredits(), RecordingProfiles())
    stores.use(recording_stores(recorded.credits, RecordingKeys(), recorded.profiles))
    with live.pinned(snapshot):
        yield recorded
    stores.use(None)
    capacity.reset()


def channels_of(model: str = "test/echo") -> list[str]:
    return [candidate.channel for candidate in route_for(model, key_record(), CHAT).candidates]


def test_a_provider_expands_into_its_channels_by_priority_then_its_built_in_one(serving):
    assert channels_of() == ["fake-b", "fake-a", "fake"]  # fake: the environment's key, priority 0
    route = route_for("test/multi", key_record(), CHAT)
    assert [c.channel for c in route.candidates] == ["fake-b", "fake-a", "fake", "fake-anthropic"]
    assert (route.first.rpm, route.first.endpoint.base_url) == (10, "http://127.0.0.1:9/b")


def test_a_channel_at_its_cap_is_left_out_until_its_minute_ends(serving):
    capacity.mark_full("fake-b", 4_000_000_000)
    assert channels_of() == ["fake-a", "fake"]
    capacity.mark_full("fake-b", 1)  # a minute long gone
    assert "fake-b" in channels_of()


def test_every_channel_at_its_cap_is_a_429_naming_no_provider_fault(serving):
    for channel in ("fake-a", "fake-b", "fake"):
        capacity.mark_full(channel, 4_000_000_000)
    with pytest.raises(RateLimited) as refused:
        channels_of()
    assert refused.value.code == "provider_rate_limited"
    assert "Retry-After" in refused.value.headers


def test_an_account_in_a_group_is_held_at_its_ratio_on_one_catalog_version(serving):
    serving.profiles.profiles["acct_unit"] = AccountProfile(version=4, group="half")
    admission = anyio.run(
        lambda: admit(principal(), "test/echo", CHAT, lambda entry: entry.pricing.cost(1000, 100), "gen-g")
    )
    ((held, _, _),) = serving.credits.reserved
    full = load_catalog(TEST_CATALOG).resolve("test/echo").pricing.cost(1000, 100)  # type: ignore[union-attr]
    assert admission.route.entry.pricing.input == Decimal("0.25")
    assert (held.amount, held.price_ratio, held.catalog_version, held.profile_version) == (
        math.ceil(Decimal(full) / 2), "0.5", 9, 4,
    )  # fmt: skip


def test_a_profile_changed_since_it_was_read_is_read_again_with_the_key_and_the_request_priced_on_it(serving):
    """A profile change moved the account's gate (storage/gates.py): the hold is refused as stale, the
    key read again with the gate and the profile as they stand, and the request priced on that."""
    serving.credits.refusals = ["key_changed"]
    keys = RecordingKeys(records={"a" * 64: key_record()}, profile=AccountProfile(version=5, group="half"))
    stores.use(recording_stores(serving.credits, keys, serving.profiles))
    anyio.run(lambda: admit(principal(), "test/echo", CHAT, lambda _: 1_000, "gen-p"))
    ((held, _, _),) = serving.credits.reserved
    assert (held.profile_version, held.price_ratio) == (5, "0.5")
    assert serving.profiles.reads == 1  # the first try's (the principal given had no profile); then the key's read


def test_a_first_channel_found_full_by_the_reservation_is_skipped_on_the_retry(serving):
    serving.credits.refusals = ["channel_full"]  # the capped fake-b, routed first, is full this minute
    admission = anyio.run(lambda: admit(principal(), "test/echo", CHAT, lambda _: 1_000, "gen-c"))
    assert capacity.full("fake-b")
    assert admission.route.first.channel == "fake-a"
    ((held, _, _),) = serving.credits.reserved
    assert held.channel is None  # fake-a has no cap: nothing to count
