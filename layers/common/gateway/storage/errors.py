"""Storage outcomes the services act on, free of botocore types."""

from __future__ import annotations

from typing import Any, Literal

RefusalReason = Literal[
    "key_missing",
    "key_disabled",
    "key_expired",
    "key_wrong_kind",
    "key_changed",  # the key was changed since it was read: read it again and retry
    "key_limit",
    "rate_limited",
    "account_missing",
    "account_disabled",  # by an operator
    "insufficient_credits",
    "shard_short",  # the balance shard tried cannot cover the hold: try another, or move credits to one
    # the key that created the calling key (its parent), checked in the same transaction
    "parent_missing",
    "parent_disabled",
    "parent_expired",
    "parent_changed",
    "parent_limit",
    "parent_rate_limited",
    "profile_changed",  # the account's price group or own keys changed since it was read: read it again
    "channel_full",  # the channel the request was routed to is at its per-minute cap
]


class StorageUnavailable(Exception):
    """DynamoDB throttled or failed after retries; the caller may try again later."""


class ReservationRefused(Exception):
    def __init__(self, reason: RefusalReason, key_item: dict[str, Any] | None = None) -> None:
        super().__init__(reason)
        self.reason: RefusalReason = reason
        self.key_item = key_item


# The most a single hold may be: a million credits, in micro-credits. Far above any real request,
# far below where arithmetic on DynamoDB numbers could lose precision.
MAX_HOLD = 10**12


class InvalidAmount(ValueError):
    """A hold, charge, refund or top-up that is not a whole number of micro-credits in its range:
    a bug upstream of the credit store, refused before anything is written."""


def checked_amount(value: object, what: str, *, low: int, high: int) -> int:
    if type(value) is not int or not low <= value <= high:
        raise InvalidAmount(f"{what} must be a whole number of micro-credits from {low} to {high}, not {value!r}")
    return value


MAX_CREDITS_MICRO = 10**18  # a trillion credits: the most one top-up or grant may add
