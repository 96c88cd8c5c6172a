"""An account's balance, split over shards so that concurrent requests do not all write one item.

Each shard is its own partition (`layout.balance_key`) and keeps its own books, so that at every
committed state, summed over the account's shards,

    balance + held + recorded + charged == the account's granted credits

- `balance`   what may still be held;
- `held`      holds of requests in flight, counted by the 5-minute window their reservation expires
              in (no item per request): settled one by one, the rest released when the window ends;
- `recorded`  holds that do have a reservation item (image tasks, worked by another invocation);
- `charged`   charges, by the day they were settled (`charged_before`: days folded away);
- `gate`      bumped, on every shard at once, whenever a key of the account changes: a hold checks
              the gate it read with the key, instead of checking the key item itself;
- `seen`      the last few reservations per slot, so a hold retried after a lost answer is not taken twice.

Money never leaves a shard but by a request's charge; credits move between shards only in a
transaction that takes from one exactly what it adds to another.
"""

from __future__ import annotations

import zlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from gateway.storage import dynamo, layout

SEEN_SLOTS = 8
WINDOW = "w"  # held map keys: w{window}
ZERO = {"N": "0"}
FOLD_DAYS_PER_WRITE = 50  # days folded by one update (its expressions stay far below DynamoDB's 4 KB)


def window_name(window: int) -> str:
    return f"{WINDOW}{window}"


def seen_slot(trace_id: str) -> str:
    return f"s{zlib.crc32(trace_id.encode()) % SEEN_SLOTS}"


@dataclass(frozen=True)
class Shard:
    account_id: str
    number: int
    balance: int
    held: dict[int, int] = field(default_factory=dict)  # expiry window -> micro-credits
    recorded: int = 0
    charged: dict[str, int] = field(default_factory=dict)  # day -> micro-credits
    charged_before: int = 0
    gate: int = 0
    seen: dict[str, str] = field(default_factory=dict)

    @property
    def holds(self) -> int:
        return sum(self.held.values()) + self.recorded

    @property
    def charges(self) -> int:
        return sum(self.charged.values()) + self.charged_before

    @property
    def books(self) -> int:
        """What this shard accounts for: its part of the account's granted credits."""
        return self.balance + self.holds + self.charges

    @classmethod
    def from_item(cls, item: dict[str, Any]) -> Shard:
        return cls(
            account_id=item["account_id"],
            number=int(item["shard"]),
            balance=int(item["balance"]),
            held={int(name[len(WINDOW) :]): int(value) for name, value in (item.get("held") or {}).items()},
            recorded=int(item.get("recorded", 0)),
            charged={day: int(value) for day, value in (item.get("charged") or {}).items()},
            charged_before=int(item.get("charged_before", 0)),
            gate=int(item.get("gate", 0)),
            seen=dict(item.get("seen") or {}),
        )


SPREAD_MIN = 10_000_000  # a grant is spread over the shards only if each gets at least this (10 credits)


def split(amount: int, shards: int) -> list[int]:
    """`amount` in `shards` whole parts that add up to it exactly (the first ones get the remainder)."""
    base, rest = divmod(amount, shards)
    return [base + (1 if number < rest else 0) for number in range(shards)]


def spread(amount: int, shards: int) -> list[int]:
    """How a grant is put on the shards: evenly when each part is worth spreading, else all on shard 0
    (an account that small is not busy enough to need its shards; credits move when it is)."""
    if amount // shards >= SPREAD_MIN:
        return split(amount, shards)
    return [amount] + [0] * (shards - 1)


class BalanceRepository(dynamo.TableRepository):
    def create_items(self, account_id: str, parts: list[int], gate: int = 0) -> list[dict[str, Any]]:
        """The transaction items that create the shards, holding `parts` of the opening balance."""
        return [
            {
                "Put": {
                    "TableName": self.table,
                    "Item": {
                        **layout.balance_key(account_id, number),
                        **dynamo.to_attributes(
                            {
                                "account_id": account_id,
                                "shard": number,
                                "balance": part,
                                "held": {},
                                "recorded": 0,
                                "charged": {},
                                "charged_before": 0,
                                "gate": gate,
                                "seen": {},
                            }
                        ),
                    },
                    "ConditionExpression": "attribute_not_exists(pk)",
                }
            }
            for number, part in enumerate(parts)
        ]

    def grant_items(self, account_id: str, parts: list[int]) -> list[dict[str, Any]]:
        """Credits added to each shard (a top-up spread over them), as transaction items."""
        return [
            {
                "Update": {
                    "TableName": self.table,
                    "Key": layout.balance_key(account_id, number),
                    "UpdateExpression": "SET balance = balance + :part",
                    "ConditionExpression": "attribute_exists(pk)",
                    "ExpressionAttributeValues": {":part": {"N": str(part)}},
                }
            }
            for number, part in enumerate(parts)
            if part
        ]

    def gate_items(self, account_id: str, shards: int) -> list[dict[str, Any]]:
        """The account's gate moved on, on the account item and every shard at once, as transaction
        items: holds that checked the old gate are refused and read the keys again."""
        bump = {":one": {"N": "1"}, ":shards": {"N": str(shards)}}
        account = {
            "Update": {
                "TableName": self.table,
                "Key": layout.account_key(account_id),
                "UpdateExpression": "ADD gate :one",
                "ConditionExpression": "attribute_exists(pk) AND "
                + ("shards = :shards" if shards else "attribute_not_exists(shards)"),
                "ExpressionAttributeValues": bump if shards else {":one": bump[":one"]},
            }
        }
        return [
            account,
            *(
                {
                    "Update": {
                        "TableName": self.table,
                        "Key": layout.balance_key(account_id, number),
                        "UpdateExpression": "ADD gate :one",
                        "ConditionExpression": "attribute_exists(pk)",
                        "ExpressionAttributeValues": {":one": bump[":one"]},
                    }
                }
                for number in range(shards)
            ),
        ]

    def snapshot(
        self, account_id: str, shards: int, others: Sequence[dict[str, Any]] = ()
    ) -> tuple[list[Shard], list[dict[str, Any] | None]]:
        """Every shard (and the items of the `others` keys, in order), read in one transaction: one
        consistent moment."""
        keys = [*others, *(layout.balance_key(account_id, number) for number in range(shards))]
        answer = self.db.transact_get_items(
            TransactItems=[{"Get": {"TableName": self.table, "Key": key}} for key in keys]
        )
        items = [dynamo.from_item(got["Item"]) if got.get("Item") else None for got in answer.get("Responses", [])]
        found = [Shard.from_item(item) for item in items[len(others) :] if item is not None]
        return found, items[: len(others)]

    def move(self, account_id: str, moves: dict[int, int]) -> bool:
        """Credits moved between shards (negative: taken), in one transaction; they must add up to
        nothing. False when a shard no longer has what was to be taken from it."""
        if sum(moves.values()) != 0:
            raise ValueError("a move between shards must take exactly what it adds")
        items = []
        for number, delta in sorted(moves.items()):
            if delta == 0:
                continue
            update: dict[str, Any] = {
                "TableName": self.table,
                "Key": layout.balance_key(account_id, number),
                "UpdateExpression": "SET balance = balance + :delta",
                "ConditionExpression": "attribute_exists(pk)" + (" AND balance >= :taken" if delta < 0 else ""),
                "ExpressionAttributeValues": {
                    ":delta": {"N": str(delta)},
                    **({":taken": {"N": str(-delta)}} if delta < 0 else {}),
                },
            }
            items.append({"Update": update})
        if len(items) < 2:
            return True
        try:
            self.db.transact_write_items(TransactItems=items)
        except dynamo.DynamoError as error:
            codes = dynamo.cancellation_codes(error)
            if "ConditionalCheckFailed" in codes or "TransactionConflict" in codes:
                return False
            raise
        return True

    def release(self, shard: Shard, window: int, amount: int, at_iso: str) -> bool:
        """The holds left in an ended window back into the balance (their requests never settled),
        with a release entry for the ledger when there was anything to give back. False when the
        window changed meanwhile."""
        name = {"#w": window_name(window)}
        update: dict[str, Any] = {
            "TableName": self.table,
            "Key": layout.balance_key(shard.account_id, shard.number),
            "UpdateExpression": "SET balance = balance + :amount REMOVE held.#w",
            "ConditionExpression": "held.#w = :amount",
            "ExpressionAttributeNames": name,
            "ExpressionAttributeValues": {":amount": {"N": str(amount)}},
        }
        try:
            if amount == 0:
                self.db.update_item(**update)
                return True
            values = {
                "account_id": shard.account_id,
                "shard": shard.number,
                "window": window,
                "amount": amount,
                "released_at": at_iso,
            }
            entry = {
                "Put": {
                    "TableName": self.table,
                    "Item": {
                        **layout.release_key(shard.account_id, window, shard.number),
                        **dynamo.to_attributes(values),
                    },
                    "ConditionExpression": "attribute_not_exists(pk)",
                }
            }
            self.db.transact_write_items(TransactItems=[{"Update": update}, entry])
        except dynamo.DynamoError as error:
            if error.code == "ConditionalCheckFailedException" or "ConditionalCheckFailed" in dynamo.cancellation_codes(
                error
            ):
                return False
            raise
        return True

    def fold(self, shard: Shard, days: list[str]) -> bool:
        """Old days' charges folded into `charged_before`, keeping the item small, FOLD_DAYS_PER_WRITE
        at a time (an expression is at most 4 KB). False when they changed meanwhile."""
        for start in range(0, len(days), FOLD_DAYS_PER_WRITE):
            if not self._fold(shard, days[start : start + FOLD_DAYS_PER_WRITE]):
                return False
        return True

    def _fold(self, shard: Shard, days: list[str]) -> bool:
        names = {f"#d{n}": day for n, day in enumerate(days)}
        values = {f":d{n}": {"N": str(shard.charged[day])} for n, day in enumerate(days)}
        values[":sum"] = {"N": str(sum(shard.charged[day] for day in days))}
        try:
            self.db.update_item(
                TableName=self.table,
                Key=layout.balance_key(shard.account_id, shard.number),
                UpdateExpression="SET charged_before = charged_before + :sum REMOVE "
                + ", ".join(f"charged.{name}" for name in names),
                ConditionExpression=" AND ".join(f"charged.{name} = {name.replace('#', ':')}" for name in names),
                ExpressionAttributeNames=names,
                ExpressionAttributeValues=values,
            )
        except dynamo.DynamoError as error:
            if error.code == "ConditionalCheckFailedException":
                return False
            raise
        return True

    def quiet_shards(self, window: int) -> list[tuple[str, int]]:
        """(account, shard) of every shard whose latest hold fell in `window` (eventually consistent)."""
        found = []
        for spread in range(layout.HOLD_INDEX_SHARDS):
            params: dict[str, Any] = {
                "TableName": self.table,
                "IndexName": layout.GSI3,
                "KeyConditionExpression": "gsi3pk = :pk",
                "ExpressionAttributeValues": {":pk": {"S": layout.holds_pk(window, spread)}},
            }
            for item in self.db.query_all(**params):
                account_id, _, number = item["gsi3sk"]["S"].rpartition("#")
                found.append((account_id, int(number)))
        return found

    def get(self, account_id: str, shard: int) -> Shard | None:
        answer = self.db.get_item(TableName=self.table, Key=layout.balance_key(account_id, shard), ConsistentRead=True)
        item = answer.get("Item")
        return Shard.from_item(dynamo.from_item(item)) if item else None
