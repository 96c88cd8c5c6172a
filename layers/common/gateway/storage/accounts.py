"""Accounts and their credit balance."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from gateway.storage import dynamo, layout
from gateway.storage.errors import MAX_CREDITS_MICRO, checked_amount


@dataclass(frozen=True)
class Account:
    account_id: str
    name: str
    balance: int  # micro-credits
    granted: int  # micro-credits ever added
    created_at: str
    email: str | None = None  # the account holder's, if the operator gave one

    @classmethod
    def from_item(cls, item: dict[str, Any]) -> Account:
        return cls(
            account_id=item["account_id"],
            name=item["name"],
            balance=int(item["balance"]),
            granted=int(item["granted"]),
            created_at=item["created_at"],
            email=item.get("email"),
        )


class AccountRepository:
    def __init__(self, table: str) -> None:
        self.table = table

    def create(self, account: Account) -> None:
        item = {
            "account_id": account.account_id,
            "name": account.name,
            "balance": account.balance,
            "granted": account.granted,
            "created_at": account.created_at,
            **({"email": account.email} if account.email else {}),
        }
        dynamo.client().put_item(
            TableName=self.table,
            Item={**layout.account_key(account.account_id), **dynamo.to_attributes(item)},
            ConditionExpression="attribute_not_exists(pk)",
        )

    def get(self, account_id: str) -> Account | None:
        answer = dynamo.client().get_item(TableName=self.table, Key=layout.account_key(account_id), ConsistentRead=True)
        item = answer.get("Item")
        return Account.from_item(dynamo.from_item(item)) if item else None

    def top_up(self, account_id: str, amount: int, *, topup_id: str, at_iso: str) -> Account:
        """Add credits and record the grant, in one transaction."""
        checked_amount(amount, "a top-up", low=1, high=MAX_CREDITS_MICRO)
        dynamo.client().transact_write_items(
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
                {
                    "Put": {
                        "TableName": self.table,
                        "Item": {
                            **layout.topup_key(account_id, at_iso, topup_id),
                            **dynamo.to_attributes({"account_id": account_id, "amount": amount, "created_at": at_iso}),
                        },
                        "ConditionExpression": "attribute_not_exists(pk)",
                    }
                },
            ]
        )
        account = self.get(account_id)
        assert account is not None
        return account
