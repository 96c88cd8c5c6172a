"""The runtime catalog's pieces: prices scaled exactly by an account's ratio, price groups, channels."""

from __future__ import annotations

from decimal import Decimal
from math import ceil

import pytest
from pydantic import ValidationError

from gateway.catalog.registry import MAX_PRICE, Pricing, load_catalog
from gateway.catalog.runtime import Channel, ControlSettings, PriceGroup, Snapshot, priced, scaled
from tests.conftest import TEST_CATALOG

FULL = Pricing.model_validate(
    {
        "input": "3", "output": "15", "cached_input": "0.3", "cache_write_input": "3.75",
        "cache_write_1h_input": "6", "audio_input": "4", "request": "0.001",
        "tiers": [{"above_prompt_tokens": 200_000, "input": "6", "output": "22.5", "cached_input": "0.6"}],
        "image": {"1024x1024/hd": "0.08", "*": "0.04"}, "characters": "15", "audio_seconds": "0.0001",
    }
)  # fmt: skip


def test_every_price_is_scaled_and_no_count_is():
    half = scaled(FULL, Decimal("0.5"))
    assert (half.input, half.output, half.cached_input, half.cache_write_input) == (
        Decimal("1.5"), Decimal("7.5"), Decimal("0.15"), Decimal("1.875"),
    )  # fmt: skip
    assert (half.cache_write_1h_input, half.audio_input, half.request) == (Decimal(3), Decimal(2), Decimal("0.0005"))
    assert half.image == {"1024x1024/hd": Decimal("0.04"), "*": Decimal("0.02")}
    assert (half.characters, half.audio_seconds) == (Decimal("7.5"), Decimal("0.00005"))
    (tier,) = half.tiers
    assert (tier.above_prompt_tokens, tier.input, tier.output) == (200_000, Decimal(3), Decimal("11.25"))


@pytest.mark.parametrize("ratio", ["0.05", "0.8", "1.5", "0", "0.000001"])
def test_a_scaled_cost_is_the_ratio_of_the_exact_cost_rounded_up_once(ratio):
    exact = 1234 * Decimal(3) + 567 * Decimal(15) + Decimal("0.001") * 1_000_000
    assert scaled(FULL, Decimal(ratio)).cost(1234, 567) == ceil(exact * Decimal(ratio))
    assert scaled(FULL, Decimal(ratio)).cost_bound(1234, 567) >= scaled(FULL, Decimal(ratio)).cost(1234, 567)


def test_a_catalog_price_is_bounded_and_the_dearest_still_scales_by_the_largest_ratio():
    with pytest.raises(ValidationError):
        Pricing.model_validate({"input": "1e309"})  # held, it would ask for up to 6.5e+304 credits
    dearest = Pricing.model_validate({"input": MAX_PRICE, "image": {"*": MAX_PRICE}})
    assert scaled(dearest, Decimal(100)).input == scaled(dearest, Decimal(100)).image["*"] == MAX_PRICE * 100  # type: ignore[index]


def test_a_ratio_of_one_is_the_catalogs_own_prices():
    entry = load_catalog(TEST_CATALOG).models[0]
    assert scaled(FULL, Decimal(1)) is FULL
    assert priced(entry, Decimal("1.000")) is entry
    assert priced(entry, Decimal(2)).pricing.input == entry.pricing.input * 2


def test_an_account_pays_its_groups_ratio_else_the_default_groups_else_the_price():
    catalog = load_catalog(TEST_CATALOG)
    plain = Snapshot(version=1, catalog=catalog)
    assert plain.group_ratio(None) == plain.group_ratio("vip") == 1
    grouped = Snapshot(
        version=1,
        catalog=catalog,
        groups={
            "vip": PriceGroup(name="vip", ratio=Decimal("0.8")),
            "default": PriceGroup(name="default", ratio=Decimal("1.1")),
        },
        settings=ControlSettings(byok_fee_percent=Decimal("2.5")),
    )
    assert (grouped.group_ratio("vip"), grouped.group_ratio(None), grouped.group_ratio("gone")) == (
        Decimal("0.8"), Decimal("1.1"), Decimal("1.1"),
    )  # fmt: skip
    assert grouped.byok_ratio() == Decimal("0.025")


def test_a_channel_serves_its_models_under_their_upstream_names():
    channel = Channel(id="a-1", provider="fake", models=("test/echo",), model_map={"test/echo": "echo-v2"})
    assert channel.serves("test/echo")
    assert not channel.serves("test/multi")
    assert channel.upstream_model("test/echo", "echo") == "echo-v2"
    assert Channel(id="all", provider="fake").serves("anything")
    assert not Channel(id="off", provider="fake", enabled=False).serves("anything")


@pytest.mark.parametrize(
    "fields",
    [
        {"id": "Upper"},
        {"id": ""},
        {"base_url": "file:///etc/passwd"},
        {"base_url": "http://"},
        {"weight": -1},
        {"priority": 1001},
        {"rpm": 0},
        {"secret": "sk-inline"},  # a key is never a channel's field
    ],
)
def test_a_bad_channel_is_refused(fields):
    with pytest.raises(ValidationError):
        Channel.model_validate({"id": "ok", "provider": "fake", **fields})
