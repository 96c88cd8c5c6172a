"""Credits: decimal to people, integer micro-credits in storage. Never floats in arithmetic."""

from __future__ import annotations

import functools
from collections.abc import Callable
from decimal import ROUND_CEILING, ROUND_FLOOR, Context, Decimal, InvalidOperation, localcontext
from typing import ParamSpec, TypeVar

MICRO = 1_000_000
MAX_CREDITS = Decimal(10) ** 12
_SIX_PLACES = Decimal("0.000001")
# Prices have at most PRICE_PLACES decimal places and 7 whole digits, price groups' ratios 6 places
# and 3 whole digits, counts fewer than 16 digits: their products and sums fit in EXACT's digits, so
# a cost is exact until its one rounding, up (the default context's 28 digits would round it first).
PRICE_PLACES = 30
EXACT = Context(prec=90)
P = ParamSpec("P")
R = TypeVar("R")


def credits_to_micro(value: str | int | Decimal) -> int:
    """Parse a user-given credit amount exactly; more than 6 decimals is an error, not a rounding."""
    try:
        amount = Decimal(str(value))
    except InvalidOperation as exc:
        raise ValueError(f"not a number: {value!r}") from exc
    if not amount.is_finite() or amount < 0 or amount > MAX_CREDITS:
        raise ValueError(f"credits must be between 0 and {MAX_CREDITS}: {value!r}")
    if amount != amount.quantize(_SIX_PLACES):
        raise ValueError(f"credits have at most 6 decimal places: {value!r}")
    return int(amount.scaleb(6))  # exact: at most 19 digits after the range check


def micro_to_credits(micro: int) -> Decimal:
    return Decimal(micro).scaleb(-6)


def display(micro: int) -> float:
    """A JSON number for display; exact amounts travel as integers alongside."""
    return float(micro_to_credits(micro))


def usd(micro: int, credit_price_usd: str) -> float:
    """A credit amount in US dollars, at the operator's price of a credit (CREDIT_PRICE_USD)."""
    return float(micro_to_credits(micro) * Decimal(credit_price_usd))


def credits_for_usd(amount: Decimal, credit_price_usd: str) -> Decimal:
    """The most credits `amount` US dollars buy (a budget: never more than it), to the micro-credit."""
    return (amount / Decimal(credit_price_usd)).quantize(_SIX_PLACES, rounding=ROUND_FLOOR)


def ceil_micro(amount: Decimal) -> int:
    return int(amount.to_integral_value(rounding=ROUND_CEILING))


def exactly(function: Callable[P, R]) -> Callable[P, R]:
    """Runs `function`'s Decimal arithmetic in the EXACT context."""

    @functools.wraps(function)
    def exact(*args: P.args, **kwargs: P.kwargs) -> R:
        with localcontext(EXACT):
            return function(*args, **kwargs)

    return exact
