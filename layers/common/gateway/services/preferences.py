"""OpenRouter's provider preferences beyond order / only / ignore: `sort` (price, throughput, latency),
`max_price` (USD per 1M prompt or completion tokens, per request, per image) and
`require_parameters`; checked at the boundary like every number a client sends."""

from __future__ import annotations

import math
from collections.abc import Sequence
from decimal import Decimal
from typing import Any, TypeVar

from gateway.catalog.registry import ModelEntry
from gateway.config import get_settings
from gateway.errors import InvalidRequest
from gateway.providers import health

SORTS = ("price", "throughput", "latency")
PRICE_FIELDS = ("prompt", "completion", "request", "image")
MAX_PRICE_USD = 1_000_000  # per 1M tokens, per request, per image: far above any real price

P = TypeVar("P")


def checked_extras(fields: dict[str, Any]) -> dict[str, Any]:
    """`sort`, `max_price` and `require_parameters` of a `provider` object, checked."""
    extras: dict[str, Any] = {}
    sort = fields.get("sort")
    if sort is not None:
        if sort not in SORTS:
            raise InvalidRequest("`provider.sort` is `price`, `throughput` or `latency`.", param="provider.sort")
        extras["sort"] = sort
    limits = fields.get("max_price")
    if limits is not None:
        if not isinstance(limits, dict) or not set(limits) <= set(PRICE_FIELDS):
            raise InvalidRequest(
                "`provider.max_price` takes `prompt`, `completion`, `request` and `image` (USD).",
                param="provider.max_price",
            )
        extras["max_price"] = {name: _usd(value, f"provider.max_price.{name}") for name, value in limits.items()}
    required = fields.get("require_parameters", False)
    if not isinstance(required, bool):
        raise InvalidRequest(
            "`provider.require_parameters` must be true or false.", param="provider.require_parameters"
        )
    extras["require_parameters"] = required
    return extras


def _usd(value: Any, param: str) -> Decimal:
    finite = isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
    if not finite or not 0 <= value <= MAX_PRICE_USD:
        raise InvalidRequest(f"`{param}` must be a number of US dollars from 0 to {MAX_PRICE_USD}.", param=param)
    return Decimal(str(value))


def within_max_price(entry: ModelEntry, limits: dict[str, Decimal] | None) -> bool:
    """The model's catalog prices, in US dollars, are within every limit given. A model priced in
    tiers is held to its base prices (those OpenRouter lists); images to their dearest size."""
    if not limits:
        return True
    usd = Decimal(get_settings().credit_price_usd)
    pricing = entry.pricing
    prices = {
        "prompt": pricing.input,
        "completion": pricing.output,
        "request": pricing.request,
        "image": max((pricing.image or {}).values(), default=Decimal(0)),
    }
    return all(prices[name] * usd <= limit for name, limit in limits.items())


def ranked(candidates: Sequence[P], providers: Sequence[str], sort: str | None) -> list[P]:
    """`candidates` (whose provider names are `providers`) in the order `sort` asks. Every provider of
    a model has the model's catalog price, so `price` keeps the catalog order; `latency` and
    `throughput` put first the providers that answered fastest in this process (a moving average of
    time to the answer or the first streamed event), then those not measured yet, in catalog order."""
    if sort not in ("latency", "throughput"):
        return list(candidates)
    measured = [health.latency(provider) for provider in providers]
    order = sorted(range(len(candidates)), key=lambda i: (measured[i] is None, measured[i] or 0.0, i))
    return [candidates[i] for i in order]
