"""Top-up codes: an operator mints them, a customer redeems one. Only a code's SHA-256 is kept.

A redemption is one transaction: the code moves from active to redeemed (its condition: still active,
unexpired, the same amount), the account's balance and granted total rise, and a grant entry of the
ledger (`source: code`) is written. However many redeem the same code at once, one transaction wins."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any, Literal

from gateway.storage import dynamo, layout
from gateway.storage.accounts import AccountRepository
from gateway.storage.errors import MAX_CREDITS_MICRO, checked_amount
from gateway.storage.transactions import TRANSACTION_ITEMS, ConditionsFailed, transact, transact_also

CODE_GRANT = "code"  # the grant entry's source
Status = Literal["active", "redeemed", "disabled"]
Refusal = Literal["unknown", "redeemed", "disabled", "expired", "account_missing"]


@dataclass(frozen=True)
class TopUpCode:
    code_hash: str
    amount: int  # micro-credits
    status: Status
    created_at: str
    batch: str
    expires_at: int | None = None  # epoch seconds
    redeemed_by: str | None = None
    redeemed_at: str | None = None

    @classmethod
    def from_item(cls, item: dict[str, Any]) -> TopUpCode:
        return cls(**{name: item[name] for name in cls.__dataclass_fields__ if name in item})


class CodeRefused(Exception):
    def __init__(self, reason: Refusal) -> None:
        super().__init__(reason)
        self.reason: Refusal = reason


class CodeRepository(dynamo.TableRepository):
    def create(self, codes: list[TopUpCode], *, also: Sequence[dict[str, Any]] = ()) -> None:
        """Write new codes (their hashes are of 128 random bits, so they never collide). With `also`
        (the operator log's entry), the first codes are written in one transaction with it, so a
        refused entry (AlsoRefused: the minting was done before) writes no code; the rest follow,
        25 to a batch."""
        items = [
            {
                **layout.code_key(code.code_hash),
                **dynamo.to_attributes({**asdict(code), **layout.code_index(code.created_at, code.code_hash)}),
            }
            for code in codes
        ]
        if also:
            first = TRANSACTION_ITEMS - len(also)
            puts = [{"Put": {"TableName": self.table, "Item": item}} for item in items[:first]]
            transact_also(self.db, puts, list(also))
            items = items[first:]
        requests = [{"PutRequest": {"Item": item}} for item in items]
        for start in range(0, len(requests), 25):
            pending = {self.table: requests[start : start + 25]}
            for _ in range(8):
                pending = self.db.batch_write_item(RequestItems=pending).get("UnprocessedItems") or {}
                if not pending:
                    break
            else:
                raise dynamo.DynamoError("", "the codes could not all be written (unprocessed items)")

    def get(self, code_hash: str) -> TopUpCode | None:
        answer = self.db.get_item(TableName=self.table, Key=layout.code_key(code_hash), ConsistentRead=True)
        item = answer.get("Item")
        return TopUpCode.from_item(dynamo.from_item(item)) if item else None

    def page(self, limit: int, after: TopUpCode | None = None) -> tuple[list[TopUpCode], bool]:
        """Codes, newest first, `limit` per page, after the code `after`; and whether more follow."""
        params: dict[str, Any] = {
            "TableName": self.table,
            "IndexName": layout.GSI1,
            "KeyConditionExpression": "gsi1pk = :pk",
            "ExpressionAttributeValues": {":pk": {"S": layout.CODES_PK}},
            "ScanIndexForward": False,
            "Limit": limit,
        }
        if after is not None:
            params["ExclusiveStartKey"] = {
                **layout.code_key(after.code_hash),
                **dynamo.to_attributes(layout.code_index(after.created_at, after.code_hash)),
            }
        answer = self.db.query(**params)
        codes = [TopUpCode.from_item(dynamo.from_item(item)) for item in answer.get("Items", [])]
        return codes, "LastEvaluatedKey" in answer

    def set_disabled(self, code_hash: str, disabled: bool, *, also: Sequence[dict[str, Any]] = ()) -> TopUpCode | None:
        """Disable (or enable again) a code nobody redeemed; None when there is no such code or it was
        redeemed. `also` (the operator log's entry) is written in the same transaction (AlsoRefused)."""
        update = {
            "TableName": self.table,
            "Key": layout.code_key(code_hash),
            "UpdateExpression": "SET #status = :status",
            "ConditionExpression": "attribute_exists(pk) AND #status <> :redeemed",
            "ExpressionAttributeNames": {"#status": "status"},
            "ExpressionAttributeValues": dynamo.to_attributes(
                {":status": "disabled" if disabled else "active", ":redeemed": "redeemed"}
            ),
        }
        if also:
            try:
                transact_also(self.db, [{"Update": update}], list(also))
            except ConditionsFailed:
                return None
            return self.get(code_hash)
        try:
            answer = self.db.update_item(**update, ReturnValues="ALL_NEW")
        except dynamo.DynamoError as error:
            if error.code == "ConditionalCheckFailedException":
                return None
            raise
        return TopUpCode.from_item(dynamo.from_item(answer["Attributes"]))

    def redeem(self, code: TopUpCode, account_id: str, *, grant_id: str, at_iso: str, now: int) -> None:
        """Credit `code` to the account, once: raises CodeRefused when it cannot be (anymore)."""
        checked_amount(code.amount, "a top-up", low=1, high=MAX_CREDITS_MICRO)
        values = {
            ":active": "active",
            ":redeemed": "redeemed",
            ":amount": code.amount,
            ":now": now,
            ":account": account_id,
            ":at": at_iso,
        }
        claim = {
            "Update": {
                "TableName": self.table,
                "Key": layout.code_key(code.code_hash),
                "UpdateExpression": "SET #status = :redeemed, redeemed_by = :account, redeemed_at = :at",
                "ConditionExpression": (
                    "#status = :active AND amount = :amount AND (attribute_not_exists(expires_at) OR expires_at > :now)"
                ),
                "ExpressionAttributeNames": {"#status": "status"},
                "ExpressionAttributeValues": dynamo.to_attributes(values),
                "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
            }
        }
        try:  # granted on the account item (the second item), the credits spread over its balance shards
            credit = AccountRepository(self.table, self._client).credit_items(account_id, code.amount)
        except KeyError as missing:
            raise CodeRefused("account_missing") from missing
        entry = AccountRepository(self.table, self._client).grant_entry(
            account_id, code.amount, grant_id, at_iso, CODE_GRANT, code_hash=code.code_hash
        )
        try:
            transact(self.db, [claim, *credit, entry])
        except ConditionsFailed as failed:
            if failed.failed(0):
                raise CodeRefused(_why(failed.item(0), now)) from failed
            if failed.failed(1):
                raise CodeRefused("account_missing") from failed
            raise


def _why(item: dict[str, Any] | None, now: int) -> Refusal:
    if item is None:
        return "unknown"
    if item.get("status") == "redeemed":
        return "redeemed"
    if item.get("status") == "disabled":
        return "disabled"
    if item.get("expires_at") is not None and int(item["expires_at"]) <= now:
        return "expired"
    return "unknown"
