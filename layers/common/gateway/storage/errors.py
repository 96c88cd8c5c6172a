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
    "insufficient_credits",
]


class StorageUnavailable(Exception):
    """DynamoDB throttled or failed after retries; the caller may try again later."""


class ReservationRefused(Exception):
    def __init__(self, reason: RefusalReason, key_item: dict[str, Any] | None = None) -> None:
        super().__init__(reason)
        self.reason: RefusalReason = reason
        self.key_item = key_item
