"""Accounts and their credit balance, which their balance shards hold (storage/balances.py)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from gateway.storage import dynamo, layout
from gateway.storage.balances import BalanceRepository, Shard, spread
from gateway.storage.errors import MAX_CREDITS_MICRO, checked_amount
from gateway.storage.transactions import transact_also

INITIAL_GRANT = "initial"  # the credits an account was created with
TOP_UP = "top_up"
OPENING_GRANT = "opening"  # recorded afterwards for credits granted before grants had entries


@dataclass(frozen=True)
class Account:
    account_id: str
    name: str
    balance: int  # micro-credits: the sum of its shards' balances (what may still be held)
    granted: int  # micro-credits ever added
    created_at: str
    email: str | None = None  # the account holder's, if the operator gave one
    disabled: bool = False  # by an operator: no request of the account is admitted
    shards: int = 0  # balance shards (0: an account from before shards, its balance on this item)
    gate: int = 0  # moves on with every change to the account's keys (storage/balances.py)
    balance_shards: tuple[Shard, ...] = field(default=(), compare=False, repr=False)

    @property
    def holds(self) -> int:
        """Credits held for requests in flight (and not yet settled)."""
        return sum(shard.holds for shard in self.balance_shards)

    @classmethod
    def from_item(cls, item: dict[str, Any], shards: list[Shard] | None = None) -> Account:
        found = shards or []
        return cls(
            account_id=item["account_id"],
            name=item["name"],
            balance=sum(shard.balance for shard in found) + int(item.get("balance", 0)),
            granted=int(item["granted"]),
            created_at=item["created_at"],
            email=item.get("email"),
            shards=int(item.get("shards", 0)),
            gate=int(item.get("gate", 0)),
            balance_shards=tuple(found),
            disabled=bool(item.get("disabled")),
        )


class AccountRepository(dynamo.TableRepository):
    @property
    def balances(self) -> BalanceRepository:
        return BalanceRepository(self.table, self._client)

    def create(self, account: Account, *, grant_id: str) -> None:
        """Write the account, its balance shards holding its opening credits and, when it starts
        with credits, their grant entry: one transaction."""
        item = {
            "account_id": account.account_id,
            "name": account.name,
            "granted": account.granted,
            "created_at": account.created_at,
            "shards": account.shards,
            "gate": 0,
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
            },
            *self.balances.create_items(account.account_id, spread(account.balance, account.shards)),
        ]
        if account.granted:
            writes.append(
                self._grant_entry(account.account_id, account.granted, grant_id, account.created_at, INITIAL_GRANT)
            )
        self.db.transact_write_items(TransactItems=writes)

    def get(self, account_id: str) -> Account | None:
        """The account with its balance summed over its shards, read at one moment."""
        answer = self.db.get_item(TableName=self.table, Key=layout.account_key(account_id), ConsistentRead=True)
        item = answer.get("Item")
        if not item:
            return None
        shards = int(dynamo.from_item(item).get("shards", 0))
        if not shards:
            return Account.from_item(dynamo.from_item(item))
        found, (again,) = self.balances.snapshot(account_id, shards, [layout.account_key(account_id)])
        return Account.from_item(again or dynamo.from_item(item), found) if again else None

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
        """Add credits, spread over the account's shards, and record the grant entry (and any `also` items:
        the operator log's entry), in one transaction, retried while requests' holds conflict with it.
        Raises AlsoRefused when an `also` item's condition failed (the action was done before)."""
        checked_amount(amount, "a top-up", low=1, high=MAX_CREDITS_MICRO)
        transact_also(
            self.db,
            [*self.credit_items(account_id, amount), self._grant_entry(account_id, amount, grant_id, at_iso, source)],
            list(also),
        )
        granted = self.get(account_id)
        assert granted is not None
        return granted

    def credit_items(self, account_id: str, amount: int) -> list[dict[str, Any]]:
        """The transaction items that add `amount` to the account: `granted` on its item (the first
        item), the balance spread over its shards. Raises KeyError for an unknown account."""
        account = self.sharded(account_id)
        return [
            {
                "Update": {
                    "TableName": self.table,
                    "Key": layout.account_key(account_id),
                    "UpdateExpression": "ADD granted :amount",
                    "ConditionExpression": "attribute_exists(pk) AND shards = :shards",
                    "ExpressionAttributeValues": {
                        ":amount": {"N": str(amount)},
                        ":shards": {"N": str(account.shards)},
                    },
                }
            },
            *self.balances.grant_items(account_id, spread(amount, account.shards)),
        ]

    def sharded(self, account_id: str, shards: int | None = None) -> Account:
        """The account, its balance on shards: an account from before shards gets them now (its
        balance split over `shards`, its open reservations counted as recorded holds of shard 0).
        Raises KeyError for an unknown account."""
        account = self.get(account_id)
        if account is None:
            raise KeyError(account_id)
        if account.shards:
            return account
        from gateway.config import get_settings

        count = shards or get_settings().balance_shards
        from gateway.storage.ledger import LedgerReader

        reader = LedgerReader(self.table, self._client)
        open_holds = sum(hold.amount for hold in reader.open_holds(account_id))
        charged, _ = reader.daily_charges(account_id)  # what it was charged so far, on shard 0's books
        creation = self.balances.create_items(account_id, spread(account.balance, count))
        creation[0]["Put"]["Item"].update(dynamo.to_attributes({"recorded": open_holds, "charged": charged}))
        try:
            self.db.transact_write_items(
                TransactItems=[
                    {
                        "Update": {
                            "TableName": self.table,
                            "Key": layout.account_key(account_id),
                            "UpdateExpression": "SET shards = :shards, gate = :zero REMOVE balance",
                            "ConditionExpression": "attribute_not_exists(shards) AND balance = :balance",
                            "ExpressionAttributeValues": {
                                ":shards": {"N": str(count)},
                                ":zero": {"N": "0"},
                                ":balance": {"N": str(account.balance)},
                            },
                        }
                    },
                    *creation,
                ]
            )
        except dynamo.DynamoError as error:
            if "ConditionalCheckFailed" not in dynamo.cancellation_codes(error):
                raise
        again = self.get(account_id)
        if again is None or not again.shards:
            return self.sharded(account_id, shards)  # it changed meanwhile: once more
        return again

    def add_shards(self, account: Account, shards: int) -> Account:
        """More balance shards for a busy account (empty: credits are moved to them next), in one
        transaction that moves the gate on too, so that cached keys are read again with the new count."""
        if shards <= account.shards:
            return account
        gate = account.gate + 1
        self.db.transact_write_items(
            TransactItems=[
                {
                    "Update": {
                        "TableName": self.table,
                        "Key": layout.account_key(account.account_id),
                        "UpdateExpression": "SET shards = :shards, gate = :next",
                        "ConditionExpression": "shards = :before AND gate = :gate",
                        "ExpressionAttributeValues": {
                            ":shards": {"N": str(shards)},
                            ":before": {"N": str(account.shards)},
                            ":gate": {"N": str(account.gate)},
                            ":next": {"N": str(gate)},
                        },
                    }
                },
                *self.balances.gate_items(account.account_id, account.shards)[1:],
                *self.balances.create_items(account.account_id, [0] * shards, gate=gate)[account.shards :],
            ]
        )
        return replace(account, shards=shards, gate=gate)

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

    def grant_entry(
        self, account_id: str, amount: int, grant_id: str, at_iso: str, source: str, **extra: str
    ) -> dict[str, Any]:
        """The Put of a grant entry, for a transaction that changes the balance itself (a redeemed code)."""
        entry = self._grant_entry(account_id, amount, grant_id, at_iso, source)
        entry["Put"]["Item"].update(dynamo.to_attributes(extra))
        return entry

    def _grant_entry(self, account_id: str, amount: int, grant_id: str, at_iso: str, source: str) -> dict[str, Any]:
        values = {"account_id": account_id, "amount": amount, "created_at": at_iso, "source": source}
        return {
            "Put": {
                "TableName": self.table,
                "Item": {**layout.grant_key(account_id, at_iso, grant_id), **dynamo.to_attributes(values)},
                "ConditionExpression": "attribute_not_exists(pk)",
            }
        }
