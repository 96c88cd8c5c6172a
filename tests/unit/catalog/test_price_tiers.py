"""Long-prompt tiers and audio prices: a request is priced at the tier of its prompt, and the hold,
priced at the tier the prompt can reach, covers every charge the request can come to."""

from __future__ import annotations

import math
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from gateway.catalog.registry import Pricing, load_catalog
from gateway.config import DEFAULT_CATALOG

SONNET = Pricing.model_validate(
    {
        "input": "3.00",
        "output": "15.00",
        "cached_input": "0.30",
        "cache_write_input": "3.75",
        "cache_write_1h_input": "6.00",
        "tiers": [
            {"above_prompt_tokens": 200_000, "input": "6.00", "output": "22.50", "cached_input": "0.60",
             "cache_write_input": "7.50", "cache_write_1h_input": "12.00"},
        ],
    }
)  # fmt: skip
FLASH = Pricing.model_validate({"input": "0.30", "output": "2.50", "cached_input": "0.075", "audio_input": "1.00"})
FLASH_CACHED_AUDIO = FLASH.model_copy(update={"cached_audio_input": Decimal("0.25")})


def test_a_prompt_past_the_threshold_prices_every_token_at_the_tier() -> None:
    assert SONNET.cost(200_000, 1_000) == 200_000 * 3 + 1_000 * 15
    assert SONNET.cost(200_001, 1_000) == 200_001 * 6 + int(1_000 * 22.5)


def test_cache_reads_and_writes_take_the_prices_of_the_prompt_tier() -> None:
    # 300K prompt tokens: 100K read from the cache, 50K written to it
    assert SONNET.cost(300_000, 0, cached_tokens=100_000, cache_written=50_000) == (
        150_000 * 6 + int(100_000 * 0.6) + int(50_000 * 7.5)
    )


def test_audio_prompt_tokens_pay_the_audio_price() -> None:
    assert FLASH.cost(1_000, 100, audio_tokens=600) == int(400 * 0.3 + 600 * 1.0 + 100 * 2.5)
    # and the hold prices every prompt token at the dearest rate: audio
    assert FLASH.cost_bound(1_000, 100) == int(1_000 * 1.0 + 100 * 2.5)


@pytest.mark.parametrize(
    "tiers",
    [
        [{"above_prompt_tokens": 200_000, "input": "2.00", "output": "22.50"}],  # cheaper input than below
        [{"above_prompt_tokens": 200_000, "input": "6.00", "output": "10.00"}],  # cheaper output than below
        [
            {"above_prompt_tokens": 200_000, "input": "6.00", "output": "22.50"},
            {"above_prompt_tokens": 100_000, "input": "9.00", "output": "30.00"},  # starts nearer
        ],
    ],
)
def test_tiers_that_would_let_a_charge_outgrow_its_hold_are_refused(tiers: list[dict[str, object]]) -> None:
    with pytest.raises(ValidationError):
        Pricing.model_validate({"input": "3.00", "output": "15.00", "tiers": tiers})


counts = st.integers(min_value=0, max_value=2_000_000)


@settings(max_examples=300, deadline=None)
@given(
    prompt_bound=counts,
    completion_bound=counts,
    used=st.tuples(*[st.floats(min_value=0, max_value=1)] * 6),
    cached_audio=st.integers(min_value=0, max_value=3_000_000),
    pricing=st.sampled_from([SONNET, FLASH, FLASH_CACHED_AUDIO]),
)
def test_no_charge_ever_exceeds_the_hold_priced_at_the_reachable_tier(
    prompt_bound: int, completion_bound: int, used: tuple[float, ...], cached_audio: int, pricing: Pricing
) -> None:
    """Whatever the real counts under the bounds and however the prompt splits into cache reads,
    cache writes, audio and text (and whatever cached audio is reported), the charge is at most the
    hold."""
    prompt = int(prompt_bound * used[0])
    cached = int(prompt * used[2])
    written = int((prompt - cached) * used[3])
    audio = int((prompt - cached - written) * used[4])
    completion = int(completion_bound * used[1])
    charged = pricing.cost(prompt, completion, cached, written, audio, cached_audio_tokens=cached_audio)
    assert 0 <= charged <= pricing.cost_bound(prompt_bound, completion_bound)


def test_cached_audio_pays_its_own_price_when_the_model_has_one() -> None:
    """Gemini 2.5 Flash: 1,000 prompt tokens, 600 audio, 500 read from the cache of which 400 audio
    (cacheTokensDetails): 100 cached text, 400 cached audio, 200 fresh audio, 300 fresh text."""

    def micro(*parts: tuple[int, str]) -> int:  # rounded up once, as a charge is
        return math.ceil(sum(count * Decimal(price) for count, price in parts))

    bill = micro((100, "0.075"), (400, "0.25"), (200, "1.00"), (300, "0.30"), (10, "2.50"))
    assert FLASH_CACHED_AUDIO.cost(1_000, 10, cached_tokens=500, audio_tokens=600, cached_audio_tokens=400) == bill
    # without a cached audio price it pays the audio price, and the text split stays the reported one
    assert FLASH.cost(1_000, 10, cached_tokens=500, audio_tokens=600, cached_audio_tokens=400) == micro(
        (100, "0.075"), (600, "1.00"), (300, "0.30"), (10, "2.50")
    )
    # unreported, the audio that cannot be fresh (600 audio, 500 uncached) was read from the cache
    assert FLASH_CACHED_AUDIO.cost(1_000, 0, cached_tokens=500, audio_tokens=600) == micro(
        (400, "0.075"), (100, "0.25"), (500, "1.00")
    )
    # a report beyond the cached tokens or the audio counts no more than they hold
    assert FLASH_CACHED_AUDIO.cost(1_000, 0, cached_tokens=500, audio_tokens=600, cached_audio_tokens=10**9) == micro(
        (500, "0.25"), (100, "1.00"), (400, "0.30")
    )
    # the hold still prices every prompt token at the dearest: fresh audio
    assert FLASH_CACHED_AUDIO.cost_bound(1_000, 0) == 1_000


def test_the_shipped_long_context_models_carry_their_tiers() -> None:
    catalog = load_catalog(DEFAULT_CATALOG)
    sonnet = catalog.resolve("claude-sonnet-4.5")
    pro = catalog.resolve("gemini-2.5-pro")
    assert sonnet is not None
    assert pro is not None
    assert sonnet.extended_context_length == 1_000_000
    assert [(t.above_prompt_tokens, t.input, t.output) for t in sonnet.pricing.tiers] == [
        (200_000, Decimal("6.00"), Decimal("22.50"))
    ]
    assert [(t.above_prompt_tokens, t.input, t.output) for t in pro.pricing.tiers] == [
        (200_000, Decimal("2.50"), Decimal("15.00"))
    ]


def test_cache_writes_kept_for_an_hour_pay_their_own_price() -> None:
    pricing = Pricing.model_validate(
        {"input": "3.00", "output": "15.00", "cache_write_input": "3.75", "cache_write_1h_input": "6.00"}
    )
    # 1,000 prompt tokens: 400 written to the cache, 300 of them for an hour
    assert pricing.cost(1_000, 0, cache_written=400, cache_written_1h=300) == int(600 * 3 + 100 * 3.75 + 300 * 6)
    # the hold prices every prompt token at the dearest: the 1-hour write
    assert pricing.cost_bound(1_000, 0) == 6_000


def test_anthropic_usage_reports_its_one_hour_cache_writes() -> None:
    from gateway.canonical import usage_from
    from gateway.providers.anthropic.response import usage_dict

    usage = usage_dict(
        {
            "input_tokens": 100, "output_tokens": 5, "cache_read_input_tokens": 0,
            "cache_creation_input_tokens": 400,
            "cache_creation": {"ephemeral_5m_input_tokens": 100, "ephemeral_1h_input_tokens": 300},
        }
    )  # fmt: skip
    counted = usage_from({"usage": usage})
    assert counted is not None
    assert (counted.prompt_tokens, counted.cache_write_tokens, counted.cache_write_1h_tokens) == (500, 400, 300)
