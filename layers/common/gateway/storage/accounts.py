"""Accounts and their credit balance."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from gateway.storage import dynamo, layout
from gateway.storage.errors import MAX_CREDITS_MICRO, checked_amount

INITIAL_GRANT = "initial"  # the credits an account was created with
TOP_UP = "top_up"
OPENING_GRANT = "opening"  # recorded afterwards for credits granted before grants had entries


@dataclass(frozen=True)
class Account:
    account_id: str
    name: str
    balance: int  # micro-credits
    granted: int  # micro-credits ever added
    created_at: str
    email: str | None = None  # the account holder's, if the operator gave one
    disabled: bool = False  # by an operator: no request of the account is admitted

    @classmethod
    def from_item(cls, item: dict[str, Any]) -> Account:
        return cls(
            account_id=item["account_id"],
            name=item["name"],
            balance=int(item["balance"]),
            granted=int(item["granted"]),
            created_at=item["created_at"],
            email=item.get("email"),
            disabled=bool(item.get("disabled")),
        )


class AccountRepository(dynamo.TableRepository):
    def create(self, account: Account, *, grant_id: str) -> None:
        """Write the account and, when it starts with credits, their grant entry: one transaction."""
        item = {
            "account_id": account.account_id,
            "name": account.name,
            "balance": account.balance,
            "granted": account.granted,
            "created_at": account.created_at,
            **({"email": account.email} if account.email else {}),
            **layout.account_directory_index(account.account_id, account.name),
        }
        writes: list[dict[str, Any]] = [
            {
                "Put": {
                    "TableName": self.table,
                    "Item": {**layout.account_key(account.account_id), **dynamo.to_attributes(item)},
                    "ConditionExpression": "attribute_not_exists(pk)",
                }
            }
        ]
        if account.granted:
            writes.append(
                self._grant_entry(account.account_id, account.granted, grant_id, account.created_at, INITIAL_GRANT)
            )
        self.db.transact_write_items(TransactItems=writes)

    def get(self, account_id: str) -> Account | None:
        answer = self.db.get_item(TableName=self.table, Key=layout.account_key(account_id), ConsistentRead=True)
        item = answer.get("Item")
        return Account.from_item(dynamo.from_item(item)) if item else None

    def grant(
        self,
        account_id: str,
        amount: int,
        *,
        grant_id: str,
        at_iso: str,
        source: str,
        also: Sequence[dict[str, Any]] = (),
    ) -> Account:
        """Add credits and record the grant entry (and any `also` items: the operator log's entry), in one
        transaction."""
        checked_amount(amount, "a top-up", low=1, high=MAX_CREDITS_MICRO)
        self.db.transact_write_items(
            TransactItems=[
                {
                    "Update": {
                        "TableName": self.table,
                        "Key": layout.account_key(account_id),
                        "UpdateExpression": "ADD balance :amount, granted :amount",
                        "ConditionExpression": "attribute_exists(pk)",
                        "ExpressionAttributeValues": {":amount": {"N": str(amount)}},
                    }
                },
                self._grant_entry(account_id, amount, grant_id, at_iso, source),
                *also,
            ]
        )
        account = self.get(account_id)
        assert account is not None
        return account

    def record_opening_grant(self, account: Account, amount: int, *, grant_id: str, recorded_at: str) -> bool:
        """Record an entry for credits the account was granted without one (the balance is unchanged),
        dated at its creation; False when its granted total is no longer `account.granted`."""
        entry = self._grant_entry(account.account_id, amount, grant_id, account.created_at, OPENING_GRANT)
        entry["Put"]["Item"]["recorded_at"] = {"S": recorded_at}
        try:
            self.db.transact_write_items(
                TransactItems=[
                    {
                        "ConditionCheck": {
                            "TableName": self.table,
                            "Key": layout.account_key(account.account_id),
                            "ConditionExpression": "granted = :granted",
                            "ExpressionAttributeValues": {":granted": {"N": str(account.granted)}},
                        }
                    },
                    entry,
                ]
            )
        except dynamo.DynamoError as error:
            if "ConditionalCheckFailed" in dynamo.cancellation_codes(error):
                return False
            raise
        return True

    def _grant_entry(self, account_id: str, amount: int, grant_id: str, at_iso: str, source: str) -> dict[str, Any]:
        values = {"account_id": account_id, "amount": amount, "created_at": at_iso, "source": source}
        return {
            "Put": {
                "TableName": self.table,
                "Item": {**layout.grant_key(account_id, at_iso, grant_id), **dynamo.to_attributes(values)},
                "ConditionExpression": "attribute_not_exists(pk)",
            }
        }
