"""The model catalog: prices in integer micro-credits, ids and aliases, and the catalog we ship."""

from __future__ import annotations

import re
from decimal import Decimal
from math import ceil
from typing import Any

import pytest
import yaml
from pydantic import ValidationError

from gateway.catalog.registry import Catalog, Pricing, load_catalog
from gateway.catalog.runtime import scaled
from gateway.config import DEFAULT_CATALOG

PROVIDERS = {
    "openai": {
        "kind": "openai",
        "api_key_env": "OPENAI_API_KEY",
        "base_url_env": "OPENAI_BASE_URL",
        "default_base_url": "https://api.openai.com/v1",
    }
}


def model(model_id: str, *aliases: str, provider: str = "openai", **fields: Any) -> dict[str, Any]:
    return {
        "id": model_id,
        "aliases": list(aliases),
        "display_name": model_id,
        "owned_by": "openai",
        "context_length": 128_000,
        "max_output_tokens": 16_384,
        "pricing": {"input": "2.50", "output": "10.00", "cached_input": "1.25"},
        "providers": [{"provider": provider, "model": model_id.split("/")[-1]}],
        **fields,
    }


def catalog(*models: dict[str, Any]) -> Catalog:
    return Catalog.model_validate({"providers": PROVIDERS, "models": list(models)})


# ---------------------------------------------------------------- Pricing.cost


def test_cost_is_integer_micro_credits_at_the_per_million_token_price() -> None:
    # Given gpt-4o prices (2.50 in / 10.00 out credits per 1M tokens = micro-credits per token)
    pricing = Pricing(input=Decimal("2.50"), output=Decimal("10.00"), cached_input=Decimal("1.25"))
    # When 1,000 prompt and 500 completion tokens are billed
    cost = pricing.cost(1_000, 500)
    # Then the charge is 2,500 + 5,000 micro-credits, as an int
    assert cost == 7_500
    assert type(cost) is int


def test_cost_rounds_up_once_at_the_end_not_per_part() -> None:
    # Given half a micro-credit per token both ways
    pricing = Pricing(input=Decimal("0.5"), output=Decimal("0.5"))
    # When one prompt and one completion token are billed
    # Then the user pays 1 micro-credit (rounding each part up would charge 2)
    assert pricing.cost(1, 1) == 1
    # And any leftover fraction is rounded up, never down
    assert pricing.cost(1, 0) == 1
    assert Pricing(input=Decimal("0.15"), output=Decimal("0.60")).cost(1_000, 16_384) == 9_981  # 9980.4


def test_a_request_that_used_nothing_costs_nothing() -> None:
    assert Pricing(input=Decimal("0.15"), output=Decimal("0.60")).cost(0, 0) == 0


def test_cached_prompt_tokens_are_billed_at_the_cached_input_price() -> None:
    # Given prices with a cheaper cached input
    pricing = Pricing(input=Decimal("1.10"), output=Decimal("4.40"), cached_input=Decimal("0.275"))
    # When 1,536 prompt tokens of which 1,280 were cached, and 402 completion tokens are billed
    cost = pricing.cost(1_536, 402, cached_tokens=1_280)
    # Then 256 x 1.10 + 1,280 x 0.275 + 402 x 4.40 = 2,402.4 -> 2,403
    assert cost == 2_403
    assert cost < pricing.cost(1_536, 402)


def test_cached_tokens_beyond_the_prompt_are_not_discounted_twice() -> None:
    # Given an upstream that reports more cached tokens than prompt tokens
    pricing = Pricing(input=Decimal("2.00"), output=Decimal("8.00"), cached_input=Decimal("0.50"))
    # When billed, Then the cached count is capped at the prompt: every prompt token at the cached price
    assert pricing.cost(100, 0, cached_tokens=500) == pricing.cost(100, 0, cached_tokens=100) == 50
    # And the charge is never negative
    assert pricing.cost(0, 0, cached_tokens=1_000) == 0


def test_without_a_cached_price_cached_tokens_pay_the_input_price() -> None:
    pricing = Pricing(input=Decimal("1"), output=Decimal("1"))
    assert pricing.cost(100, 0, cached_tokens=60) == pricing.cost(100, 0) == 100


def test_prompt_tokens_written_to_a_cache_pay_the_cache_write_price() -> None:
    # Given Claude-like prices: writes at 1.25x input, reads at 0.1x
    pricing = Pricing(
        input=Decimal("3"), output=Decimal("15"), cached_input=Decimal("0.30"), cache_write_input=Decimal("3.75")
    )
    # When 1,000 prompt tokens were 600 written to the cache, 300 read from it and 100 plain
    cost = pricing.cost(1_000, 0, cached_tokens=300, cache_written=600)
    # Then each part pays its own price
    assert cost == 100 * 3 + 300 * Decimal("0.30") + 600 * Decimal("3.75")
    # and without a cache-write price the writes pay the input price
    assert Pricing(input=Decimal("3")).cost(1_000, 0, cache_written=600) == 3_000


def test_cache_counts_beyond_the_prompt_are_not_billed_twice() -> None:
    pricing = Pricing(input=Decimal("3"), cached_input=Decimal("0.30"), cache_write_input=Decimal("3.75"))
    assert pricing.cost(100, 0, cached_tokens=80, cache_written=80) == ceil(80 * 0.30 + 20 * 3.75)


@pytest.mark.parametrize(("cached", "written"), [(0, 0), (0, 500), (500, 0), (250, 750), (0, 1_000), (1_000, 0)])
def test_the_reservation_bound_covers_any_mix_of_cache_reads_and_writes(cached: int, written: int) -> None:
    pricing = Pricing(
        input=Decimal("3"),
        output=Decimal("15"),
        cached_input=Decimal("0.30"),
        cache_write_input=Decimal("3.75"),
        request=Decimal("0.001"),
    )
    assert pricing.cost(1_000, 200, cached, written) <= pricing.cost_bound(1_000, 200)
    assert pricing.cost_bound(1_000, 200) == pricing.cost(1_000, 200, 0, 1_000)


def test_a_per_request_fee_is_added_in_credits() -> None:
    # Given a flat fee of 0.001 credits per request (= 1,000 micro-credits)
    pricing = Pricing(input=Decimal("0.5"), output=Decimal("0.5"), request=Decimal("0.001"))
    # When billed, Then the fee is added to the token cost, once
    assert pricing.cost(0, 0) == 1_000
    assert pricing.cost(1, 1) == 1_001


@pytest.mark.parametrize("field", ["input", "output", "cached_input", "request"])
def test_negative_prices_are_refused(field: str) -> None:
    prices = {"input": "1", "output": "1", field: "-0.01"}
    with pytest.raises(ValidationError):
        Pricing.model_validate(prices)


# ---------------------------------------------------------------- Catalog validation


def test_a_model_resolves_by_id_and_by_each_alias() -> None:
    # Given a catalog with a model that has two aliases
    models = catalog(model("openai/gpt-4o", "gpt-4o", "gpt-4o-latest"), model("openai/gpt-4o-mini", "gpt-4o-mini"))
    # When a client names it any of those ways, Then it gets the same model
    for name in ("openai/gpt-4o", "gpt-4o", "gpt-4o-latest"):
        entry = models.resolve(name)
        assert entry is not None
        assert entry.id == "openai/gpt-4o"
    # And unknown or near-miss names resolve to nothing
    assert models.resolve("gpt-4") is None
    assert models.resolve("GPT-4O") is None
    assert models.resolve("") is None


@pytest.mark.parametrize(
    "models",
    [
        [model("openai/gpt-4o"), model("openai/gpt-4o")],
        [model("openai/gpt-4o", "gpt-4o"), model("openai/gpt-4o-2", "gpt-4o")],
        [model("openai/gpt-4o", "gpt-4o"), model("gpt-4o")],
        [model("openai/gpt-4o", "openai/gpt-4o")],
    ],
    ids=["duplicate-id", "duplicate-alias", "alias-equals-other-id", "alias-equals-own-id"],
)
def test_a_name_declared_twice_is_refused(models: list[dict[str, Any]]) -> None:
    # Given a catalog where one name would point to two declarations
    # When it is loaded, Then it fails instead of silently picking one
    with pytest.raises(ValidationError, match="declared twice"):
        Catalog.model_validate({"providers": PROVIDERS, "models": models})


def test_a_model_served_by_an_unknown_provider_is_refused() -> None:
    with pytest.raises(ValidationError, match="unknown provider 'anthropic'"):
        catalog(model("anthropic/claude-sonnet-4.5", provider="anthropic"))


def test_a_model_without_providers_is_refused() -> None:
    with pytest.raises(ValidationError):
        catalog({**model("openai/gpt-4o"), "providers": []})


def test_unknown_fields_in_the_catalog_are_refused() -> None:
    # Given a typo in a model entry (`price` for `pricing`), Then loading fails loudly
    with pytest.raises(ValidationError):
        catalog({**model("openai/gpt-4o"), "price": {"input": "1", "output": "1"}})


def test_a_disabled_model_is_not_resolved_by_id_or_alias() -> None:
    models = catalog(model("openai/gpt-4o", "gpt-4o", enabled=False), model("openai/gpt-4o-mini", "gpt-4o-mini"))
    assert models.resolve("openai/gpt-4o") is None
    assert models.resolve("gpt-4o") is None
    assert models.resolve("gpt-4o-mini") is not None


def test_the_model_list_shows_only_enabled_public_models_in_catalog_order() -> None:
    models = catalog(
        model("openai/b-model"),
        model("openai/hidden", public=False),
        model("openai/off", enabled=False),
        model("openai/a-model"),
    )
    assert [entry.id for entry in models.listed()] == ["openai/b-model", "openai/a-model"]
    # And a non-public model can still be called by name
    assert models.resolve("openai/hidden") is not None


# ---------------------------------------------------------------- the shipped catalog


@pytest.fixture(scope="module")
def shipped() -> Catalog:
    return load_catalog(DEFAULT_CATALOG)


def test_the_shipped_catalog_loads_and_lists_models(shipped: Catalog) -> None:
    assert shipped.listed()


def test_the_shipped_catalog_reads_the_same_with_libyaml_as_with_pyyamls_own_parser() -> None:
    assert yaml.__with_libyaml__  # the layer's PyYAML wheel has it: load_catalog reads through it
    text = DEFAULT_CATALOG.read_text(encoding="utf-8")
    assert yaml.load(text, Loader=yaml.CSafeLoader) == yaml.load(text, Loader=yaml.SafeLoader)


def test_every_shipped_model_has_a_configured_provider(shipped: Catalog) -> None:
    for entry in shipped.models:
        assert entry.providers, entry.id
        for candidate in entry.providers:
            config = shipped.providers.get(candidate.provider)
            assert config is not None, f"{entry.id}: no provider config for {candidate.provider}"
            if config.kind == "bedrock":  # the function's IAM role, in the region the template sets
                assert config.region_env
            else:
                assert config.api_key_env
                assert config.default_base_url
                assert config.default_base_url.startswith("https://")


def test_every_shipped_model_resolves_by_its_id_and_aliases(shipped: Catalog) -> None:
    for entry in shipped.models:
        if entry.enabled:
            for name in (entry.id, *entry.aliases):
                resolved = shipped.resolve(name)
                assert resolved is not None, name
                assert resolved.id == entry.id


def test_shipped_models_use_provider_slash_model_ids(shipped: Catalog) -> None:
    for entry in shipped.models:
        owner, _, name = entry.id.partition("/")
        assert owner, entry.id
        assert name, entry.id


def test_shipped_prices_and_limits_are_sane(shipped: Catalog) -> None:
    for entry in shipped.models:
        pricing = entry.pricing
        priced_in = {
            "chat": pricing.input > 0 or pricing.output > 0 or pricing.request > 0,
            "embedding": pricing.input > 0,
            "image": bool(pricing.image) and all(price > 0 for price in (pricing.image or {}).values()),
            "speech": (pricing.characters or 0) > 0,
            "transcription": (pricing.audio_seconds or 0) > 0,
        }
        assert priced_in[entry.category], f"{entry.id} has no price in its own unit"
        if pricing.cached_input is not None:
            assert pricing.cached_input <= pricing.input, f"{entry.id}: cached input dearer than input"
        assert entry.max_output_tokens <= entry.context_length, entry.id


def test_every_shipped_image_size_and_quality_has_a_price(shipped: Catalog) -> None:
    for entry in shipped.models:
        if entry.category == "image" and entry.media:
            for size in entry.media.sizes:
                for quality in entry.media.qualities or (None,):
                    assert entry.pricing.image_cost(size, quality, 1), (entry.id, size, quality)


def test_every_shipped_model_names_the_price_list_it_was_priced_from(shipped: Catalog) -> None:
    """Given prices copied from providers' public price lists
    When the shipped catalog is read
    Then each model says which list, and as of when (or that its price is an estimate, and why)."""
    for entry in shipped.models:
        assert entry.price_source, f"{entry.id} has no price_source"
        assert re.search(r"as of 20\d\d-\d\d", entry.price_source), entry.id


SEED_MODEL_NAMES = {
    # YouRouter
    "gpt-4o": "openai/gpt-4o",
    "claude-sonnet-4-20250514": "anthropic/claude-sonnet-4",
    "gemini-2.5-flash": "google/gemini-2.5-flash",
    # PotatoRouter
    "claude-3.5-sonnet": "anthropic/claude-3.5-sonnet",
    "deepseek-chat": "deepseek/deepseek-chat",
    "whisper-1": "openai/whisper-1",
    "tts-1": "openai/tts-1",
    # the credits platform
    "openai/gpt-5": "openai/gpt-5",
    "google/nano-banana-pro": "google/nano-banana-pro",
    # ARouter
    "openai/gpt-5.4": "openai/gpt-5.4",
    "anthropic/claude-sonnet-4.6": "anthropic/claude-sonnet-4.6",
    "claude-sonnet-4.6": "anthropic/claude-sonnet-4.6",
    "openai/text-embedding-3-small": "openai/text-embedding-3-small",
    # poeti
    "claude-3-5-sonnet-20241022": "anthropic/claude-3.5-sonnet",
}


@pytest.mark.parametrize(("name", "model_id"), sorted(SEED_MODEL_NAMES.items()))
def test_the_shipped_catalog_resolves_every_model_name_the_seed_platforms_use(
    shipped: Catalog, name: str, model_id: str
) -> None:
    entry = shipped.resolve(name)
    assert entry is not None, name
    assert entry.id == model_id
    assert entry.public


def test_the_shipped_catalog_answers_an_image_request_without_a_model_with_dall_e_3(shipped: Catalog) -> None:
    default = shipped.default_model("image")
    assert default == "openai/dall-e-3"
    entry = shipped.resolve(default)
    assert entry is not None
    assert entry.category == "image"


def test_the_shipped_catalog_passes_nothing_through(shipped: Catalog) -> None:
    """Passthrough is the operator's choice: off in the shipped catalog."""
    assert all(config.passthrough is None for config in shipped.providers.values())
    assert shipped.resolve("openai/gpt-unlisted") is None


# ---------------------------------------------------------------- provider names, defaults, passthrough


def test_a_provider_is_found_by_its_name_or_an_alias_in_any_case() -> None:
    models = Catalog.model_validate({"providers": {"gemini": {"kind": "gemini", "aliases": ["google"]}}, "models": []})
    assert [models.provider_named(name) for name in ("gemini", "Google", " GOOGLE ", "openai")] == [
        "gemini",
        "gemini",
        "gemini",
        None,
    ]


def test_a_provider_alias_that_is_another_providers_name_is_refused() -> None:
    with pytest.raises(ValidationError, match="declared twice"):
        Catalog.model_validate(
            {"providers": {**PROVIDERS, "gemini": {"kind": "gemini", "aliases": ["OpenAI"]}}, "models": []}
        )


def test_a_default_image_model_must_be_an_enabled_image_model() -> None:
    with pytest.raises(ValidationError, match=r"defaults\.image"):
        Catalog.model_validate(
            {"providers": PROVIDERS, "models": [model("openai/chat")], "defaults": {"image": "openai/chat"}}
        )
    with pytest.raises(ValidationError, match=r"defaults\.image"):
        Catalog.model_validate({"providers": PROVIDERS, "models": [], "defaults": {"image": "openai/none"}})


def passing(**passthrough: Any) -> Catalog:
    providers = {
        **PROVIDERS,
        "openai": {**PROVIDERS["openai"], "passthrough": passthrough},
        "gemini": {"kind": "gemini", "api_key_env": "GEMINI_API_KEY", "aliases": ["google"]},
    }
    return Catalog.model_validate({"providers": providers, "models": [model("openai/gpt-4o", "gpt-4o")]})


def test_an_unlisted_provider_model_id_passes_through_at_the_operators_price() -> None:
    models = passing(pricing={"input": "5", "output": "20"}, context_length=32_000, max_output_tokens=4_000)
    entry = models.resolve("openai/gpt-next")
    assert entry is not None
    assert (entry.id, entry.category, entry.public) == ("openai/gpt-next", "chat", False)
    assert [(c.provider, c.model) for c in entry.providers] == [("openai", "gpt-next")]
    assert (entry.pricing.input, entry.pricing.output) == (Decimal(5), Decimal(20))
    assert (entry.context_length, entry.max_output_tokens) == (32_000, 4_000)
    # listed models keep their own price; passthrough ids are never listed
    assert models.resolve("openai/gpt-4o").pricing.input == Decimal("2.50")  # type: ignore[union-attr]
    assert [e.id for e in models.listed()] == ["openai/gpt-4o"]


@pytest.mark.parametrize(
    "name",
    [
        "gpt-next",
        "gemini/gemini-next",
        "google/gemini-next",
        "openai/",
        "openai/-x",
        "openai/a b",
        "openai/" + "x" * 200,
    ],
)
def test_only_well_formed_ids_of_a_passing_provider_pass_through(name: str) -> None:
    """A bare name, a provider that passes nothing, an empty or malformed model part: unknown."""
    assert passing(pricing={"input": "5", "output": "20"}).resolve(name) is None


@pytest.mark.parametrize("prices", [{"input": "0", "output": "20"}, {"input": "5", "output": "0"}, {}])
def test_a_passthrough_is_never_free(prices: dict[str, str]) -> None:
    with pytest.raises(ValidationError, match="above 0"):
        passing(pricing=prices)


def test_a_disabled_model_does_not_pass_through_under_its_own_id() -> None:
    providers = {
        **PROVIDERS,
        "openai": {**PROVIDERS["openai"], "passthrough": {"pricing": {"input": "5", "output": "20"}}},
    }
    models = Catalog.model_validate({"providers": providers, "models": [model("openai/old", enabled=False)]})
    assert models.resolve("openai/old") is None


def test_every_shipped_model_with_a_cache_write_price_has_its_one_hour_price(shipped: Catalog) -> None:
    """Anthropic bills one-hour cache writes at 2x input: a model without that price would bill them
    at the 5-minute price, below cost."""
    for entry in shipped.models:
        for prices in (entry.pricing, *entry.pricing.tiers):
            if prices.cache_write_input is not None:
                assert prices.cache_write_1h_input == 2 * prices.input, entry.id


def test_a_cost_is_rounded_up_from_its_exact_value_whatever_its_prices_digits():
    # 5 tokens at 1.0000000000000000000000000001 are worth 5.0000000000000000000000000005: 6, not the 5
    # that 28 significant digits (the default context) round them to first
    assert Pricing.model_validate({"input": "1.0000000000000000000000000001"}).cost(5, 0) == 6
    # a flat fee of 10 credits does not swallow a token's 1e-21
    assert Pricing.model_validate({"request": "10", "input": "0.000000000000000000001"}).cost(1, 0) == 10_000_001
    # and scaling by a price group is exact too
    scaled_price = scaled(Pricing.model_validate({"input": "1.0000000000000000000000000001"}), Decimal("0.999999"))
    exact = (10**28 + 1) * 999_999 * 10**9, 10**34  # in integers: numerator, denominator
    assert scaled_price.cost(10**9, 0) == -(-exact[0] // exact[1])


def test_a_price_has_at_most_thirty_decimal_places():
    with pytest.raises(ValidationError, match="at most 30 decimal places"):
        Pricing.model_validate({"input": "0." + "0" * 30 + "1"})
