"""What tools the upstream runs itself (web search, web fetch, Google Search grounding, code
execution) can add to a request's cost, from what the request allows them (`Exchange.server_tools`,
read by its format): a fee per use from the catalog, and up to a context window of input for each
server-side round (their results are read by the model as input). A request that lets the upstream
run a tool its model has no price for is refused, naming the field."""

from __future__ import annotations

from gateway.catalog.registry import ModelEntry
from gateway.errors import InvalidRequest
from gateway.formats.inbound import Exchange
from gateway.money import ceil_micro

_NAMES = {"web_search": "web search", "web_fetch": "web fetch", "grounding": "Google Search grounding"}


def extra_prompt_tokens(exchange: Exchange, context: int) -> int:
    """Up to the request's own context window (the long-context beta's, when it asked for it) for each
    server-side round."""
    return exchange.server_tools.rounds * context


def fee_bound(exchange: Exchange, entry: ModelEntry) -> int:
    """Micro-credits: every use the request allows, at the catalog's price."""
    tools, pricing = exchange.server_tools, entry.pricing
    uses = {"web_search": tools.web_searches, "web_fetch": tools.web_fetches, "grounding": int(tools.grounded)}
    prices = {"web_search": pricing.web_search, "web_fetch": pricing.web_fetch, "grounding": pricing.grounding}
    for kind, count in uses.items():
        if count and prices[kind] is None:
            raise InvalidRequest(
                f"`{entry.id}` has no price for {_NAMES[kind]} in this gateway's catalog, so it cannot be used.",
                param=tools.param(kind),
            )
    return ceil_micro(pricing.tool_fees(tools.web_searches, tools.web_fetches, int(tools.grounded)))
