"""Changes to what a hold relies on but does not read: the account's profile (price group, own
provider keys) and its `disabled` switch. A hold checks only its balance shard's `gate`
(storage/balances.py), so each such change moves the gate on the account item and on every shard of
the account, in the same transaction as the change itself: a request priced or admitted on the
account as it was before is refused and reads it again (auth/authenticate.py reads the key, the
account's gate and its profile at one moment)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from gateway.storage import dynamo, layout
from gateway.storage.dynamo_client import DynamoClient
from gateway.storage.transactions import ConditionsFailed, transact

TRIES = 4


def change_account(
    db: DynamoClient,
    table: str,
    account_id: str,
    expression: str,
    values: dict[str, Any],
    *,
    before: Sequence[dict[str, Any]] = (),
    after: Sequence[dict[str, Any]] = (),
) -> bool:
    """Update the account item with `expression` (which must `ADD gate :one`; `values` are its other
    values, plain) and move the gate on every balance shard, with the `before` and `after` items, all
    or nothing. False when there is no such account; raises ConditionsFailed (positions: before...,
    the account, its shards..., after...) when an item of `before` or `after` refused."""
    for _ in range(TRIES):
        shards = _shards_of(db, table, account_id)
        if shards is None:
            return False
        items = [*before, _account_update(table, account_id, expression, values, shards)]
        items += [_shard_bump(table, account_id, number) for number in range(shards)]
        try:
            transact(db, [*items, *after])
        except ConditionsFailed as failed:
            others = [position for position, code in enumerate(failed.codes) if code == "ConditionalCheckFailed"]
            if others == [len(before)]:
                continue  # the account's shards changed meanwhile (or it is gone): count them again
            raise
        return True
    raise ConditionsFailed(["TransactionConflict"], [])


def _shards_of(db: DynamoClient, table: str, account_id: str) -> int | None:
    answer = db.get_item(
        TableName=table, Key=layout.account_key(account_id), ProjectionExpression="pk, shards", ConsistentRead=True
    )
    item = answer.get("Item")
    return int(dynamo.from_item(item).get("shards", 0)) if item else None


def _account_update(
    table: str, account_id: str, expression: str, values: dict[str, Any], shards: int
) -> dict[str, Any]:
    assert "gate :one" in expression, "an account change that a hold relies on moves the gate"
    condition = "attribute_exists(pk) AND " + ("shards = :shards" if shards else "attribute_not_exists(shards)")
    attributes = dynamo.to_attributes({**values, ":one": 1, **({":shards": shards} if shards else {})})
    return {
        "Update": {
            "TableName": table,
            "Key": layout.account_key(account_id),
            "UpdateExpression": expression,
            "ConditionExpression": condition,
            "ExpressionAttributeValues": attributes,
        }
    }


def _shard_bump(table: str, account_id: str, number: int) -> dict[str, Any]:
    return {
        "Update": {
            "TableName": table,
            "Key": layout.balance_key(account_id, number),
            "UpdateExpression": "ADD gate :one",
            "ConditionExpression": "attribute_exists(pk)",
            "ExpressionAttributeValues": {":one": {"N": "1"}},
        }
    }
