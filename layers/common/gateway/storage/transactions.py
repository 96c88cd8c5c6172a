"""One TransactWriteItems, retried on write conflicts and throttling, answering which conditions
failed: for the control plane's writes (catalog changes, redeemed codes, provider keys)."""

from __future__ import annotations

import random
from typing import Any

from gateway.storage import dynamo, on_loop
from gateway.storage.dynamo_client import DynamoClient
from gateway.storage.errors import StorageUnavailable

CONFLICT_RETRIES = 12
TRANSACTION_ITEMS = 100  # DynamoDB's limit per TransactWriteItems


class ConditionsFailed(Exception):
    """A condition of the transaction failed: nothing was written. `codes` and `items` are per
    transaction item, in order (`items`: the item as it stood, where ALL_OLD was asked for)."""

    def __init__(self, codes: list[str], items: list[dict[str, Any] | None]) -> None:
        super().__init__(", ".join(codes))
        self.codes = codes
        self.items = items

    def failed(self, position: int) -> bool:
        return position < len(self.codes) and self.codes[position] == "ConditionalCheckFailed"

    def item(self, position: int) -> dict[str, Any] | None:
        return self.items[position] if position < len(self.items) else None


class AlsoRefused(Exception):
    """An item a caller wrote along with a change (`also`: the operator log's entry of the action)
    failed its condition, so nothing was written: the action was done before (a retried submit)."""


def transact_also(db: DynamoClient, items: list[dict[str, Any]], also: list[dict[str, Any]]) -> None:
    """`items` and `also` (written last) in one transaction. Raises AlsoRefused when a condition of
    `also` failed, ConditionsFailed when one of `items` did."""
    try:
        transact(db, [*items, *also])
    except ConditionsFailed as failed:
        if any(failed.failed(position) for position in range(len(items), len(items) + len(also))):
            raise AlsoRefused from failed
        raise


def transact(db: DynamoClient, items: list[dict[str, Any]]) -> None:
    """All of `items` or none. Raises ConditionsFailed when a condition failed, StorageUnavailable
    when DynamoDB could not be made to take it; a ValidationException (items DynamoDB can never take:
    a bug, or input nobody checked) as it came."""
    for attempt in range(CONFLICT_RETRIES):
        try:
            db.transact_write_items(TransactItems=items)
        except dynamo.DynamoError as error:
            if error.code == "ValidationException":
                raise
            if error.code != "TransactionCanceledException":
                raise StorageUnavailable(str(error)) from error
            codes = dynamo.cancellation_codes(error)
            if "ConditionalCheckFailed" in codes:
                raise ConditionsFailed(codes, dynamo.cancellation_items(error)) from error
            if any(code in ("TransactionConflict", "ThrottlingError") for code in codes):
                on_loop.pause(random.uniform(0, min(0.4, 0.01 * 2**attempt)))
                continue
            raise StorageUnavailable(f"transaction cancelled: {codes}") from error
        return
    raise StorageUnavailable("too many write conflicts")
