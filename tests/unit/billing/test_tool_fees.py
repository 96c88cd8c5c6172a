"""Tools the upstream runs itself: a fee per use from the catalog, in the hold for every use the request
allows and in the charge for the uses reported (or, when nothing is reported, every use allowed)."""

from __future__ import annotations

from decimal import Decimal

import pytest

from gateway.billing.charges import for_tokens
from gateway.canonical import ServerTools, Usage, usage_from
from gateway.catalog.registry import Pricing

PRICING = Pricing(input=Decimal("1"), output=Decimal("2"), web_search=Decimal("0.01"), grounding=Decimal("0.035"))


def test_a_charge_adds_the_fee_of_each_reported_use() -> None:
    charge = for_tokens(PRICING, Usage(100, 10, web_searches=2, grounded=1), prompt_bound=0, produced_bytes=0)
    assert charge.cost == 100 + 20 + 2 * 10_000 + 35_000
    assert charge.units == {"web_searches": 2, "grounded": 1}


def test_without_reported_usage_every_allowed_use_is_charged() -> None:
    allowed = ServerTools(web_searches=3, rounds=3)
    charge = for_tokens(PRICING, None, prompt_bound=50, produced_bytes=4, tools=allowed)
    assert charge.estimated
    assert charge.cost == 50 + 8 + 3 * 10_000


def test_an_unpriced_tool_counts_nothing_in_a_charge() -> None:
    assert Pricing(input=Decimal(1)).tool_fees(web_searches=5, web_fetches=5, grounded=1) == 0


def test_the_canonical_usage_extension_reads_the_uses() -> None:
    usage = usage_from(
        {
            "usage": {
                "prompt_tokens": 1,
                "completion_tokens": 1,
                "server_tool_use": {"web_search_requests": 2, "web_fetch_requests": 1},
            }
        }
    )
    assert usage is not None
    assert (usage.web_searches, usage.web_fetches, usage.grounded) == (2, 1, 0)


@pytest.mark.parametrize("tools", [ServerTools(web_fetches=1, params=(("web_fetch", "tools[3]"),))])
def test_the_hold_refuses_a_tool_the_model_has_no_price_for(tools: ServerTools) -> None:
    from types import SimpleNamespace

    from gateway.errors import InvalidRequest
    from gateway.services.server_tools import fee_bound

    exchange = SimpleNamespace(server_tools=tools)
    entry = SimpleNamespace(id="m", pricing=PRICING)
    with pytest.raises(InvalidRequest) as refused:
        fee_bound(exchange, entry)  # type: ignore[arg-type]
    assert refused.value.param == "tools[3]"
    allowed = SimpleNamespace(server_tools=ServerTools(web_searches=4, grounded=True))
    assert fee_bound(allowed, entry) == 4 * 10_000 + 35_000  # type: ignore[arg-type]
