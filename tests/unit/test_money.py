"""Credits are decimals to people and integer micro-credits in storage: never rounded silently."""

from __future__ import annotations

from decimal import Decimal

import pytest

from gateway.money import MAX_CREDITS, MICRO, ceil_micro, credits_to_micro, display, micro_to_credits


@pytest.mark.parametrize(
    ("given", "micro"),
    [
        ("1.5", 1_500_000),
        ("0.000001", 1),
        ("0", 0),
        ("10", 10_000_000),
        ("123.456789", 123_456_789),
        ("1.500000", 1_500_000),
        (7, 7_000_000),
        (Decimal("0.25"), 250_000),
        ("1e-6", 1),
        (str(MAX_CREDITS), int(MAX_CREDITS) * MICRO),
    ],
)
def test_credit_amounts_convert_exactly_to_micro_credits(given: str | int | Decimal, micro: int) -> None:
    # Given an amount of credits as an operator types it
    # When it is converted for storage
    result = credits_to_micro(given)
    # Then it is the exact integer number of micro-credits
    assert result == micro
    assert type(result) is int


@pytest.mark.parametrize(
    "given",
    [
        "0.0000001",  # 7 decimals
        "1.2345678",
        "-1",
        "-0.000001",
        "NaN",
        "sNaN",
        "Infinity",
        "-Infinity",
        "abc",
        "",
        "1,5",
        str(MAX_CREDITS + 1),
        "1e13",
        "1e400",
    ],
)
def test_amounts_that_cannot_be_stored_exactly_are_rejected(given: str) -> None:
    # Given an amount that is not a non-negative number with at most 6 decimals within the cap
    # When it is converted, Then the operator gets an error instead of a rounded amount
    with pytest.raises(ValueError, match=r"credits|number"):
        credits_to_micro(given)


def test_an_amount_with_too_many_decimals_names_the_rule() -> None:
    # Given 7 decimal places, When converted, Then the error says why
    with pytest.raises(ValueError, match="at most 6 decimal places"):
        credits_to_micro("0.1234567")


def test_an_amount_with_many_decimals_is_rejected_not_rounded() -> None:
    # Given an amount whose 29th significant digit is not zero (far beyond 6 decimals)
    given = "1.0000000000000000000000000001"
    # When it is converted, Then it is rejected like any other amount with more than 6 decimals
    with pytest.raises(ValueError, match="at most 6 decimal places"):
        credits_to_micro(given)


@pytest.mark.parametrize(
    ("micro", "credits"),
    [(0, Decimal(0)), (1, Decimal("0.000001")), (1_500_000, Decimal("1.5")), (123_456_789, Decimal("123.456789"))],
)
def test_micro_credits_convert_back_to_the_same_decimal(micro: int, credits: Decimal) -> None:
    # Given a stored amount, When shown to people as a decimal, Then the value is exact
    assert micro_to_credits(micro) == credits


@pytest.mark.parametrize("text", ["0", "0.000001", "1.5", "10", "42.000001", "999999.999999", "1000000000000"])
def test_credits_survive_a_round_trip_through_storage(text: str) -> None:
    # Given an amount typed by an operator, When stored and read back, Then it is unchanged
    assert micro_to_credits(credits_to_micro(text)) == Decimal(text)


@pytest.mark.parametrize(
    ("micro", "shown"),
    [(0, 0.0), (1, 0.000001), (1_500_000, 1.5), (10_000_000, 10.0), (-2_500_000, -2.5)],
)
def test_display_gives_a_json_number_in_credits(micro: int, shown: float) -> None:
    # Given a stored amount (negative when a balance is overdrawn by a stream)
    # When displayed in a JSON answer, Then it is a float of the credits
    result = display(micro)
    assert isinstance(result, float)
    assert result == pytest.approx(shown, abs=1e-12)


@pytest.mark.parametrize(
    ("amount", "micro"),
    [
        (Decimal("0"), 0),
        (Decimal("1"), 1),
        (Decimal("0.0000001"), 1),
        (Decimal("1.000001"), 2),
        (Decimal("2.5"), 3),
        (Decimal("9980.4"), 9981),
        (Decimal("-0.5"), 0),
    ],
)
def test_ceil_micro_rounds_fractions_of_a_micro_credit_up(amount: Decimal, micro: int) -> None:
    # Given a computed cost in (fractional) micro-credits
    # When charged, Then any fraction is rounded up to the next whole micro-credit
    result = ceil_micro(amount)
    assert result == micro
    assert type(result) is int
