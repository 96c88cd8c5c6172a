"""API key records, found by the SHA-256 of the key. The key itself is never stored.

A revoked key keeps its item (marked `revoked`, out of the account's list, expiring by TTL) so that a
request still in flight can settle its usage totals onto it without re-creating a half item.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any, Literal

from gateway.storage import dynamo, layout
from gateway.storage.balances import BalanceRepository
from gateway.storage.profiles import AccountProfile

KeyKind = Literal["inference", "management", "operator"]  # operator: the admin API (gateway-admin makes them)
LimitReset = Literal["daily", "weekly", "monthly"]
REVOKED_RETENTION_SECONDS = 30 * 86_400

# Attributes a PATCH may change (None removes the attribute).
MUTABLE = (
    "name",
    "limit",
    "limit_reset",
    "rate_limit",
    "allowed_providers",
    "allowed_models",
    "expires_at",
    "disabled",
)


@dataclass(frozen=True)
class ApiKeyRecord:
    key_hash: str
    key_prefix: str
    account_id: str
    name: str
    kind: KeyKind
    disabled: bool
    created_at: str
    expires_at: int | None = None  # epoch seconds
    limit: int | None = None  # micro-credits per period (None: no key limit)
    limit_reset: LimitReset | None = None  # None: the limit never resets
    rate_limit: int | None = None  # requests per minute
    allowed_providers: tuple[str, ...] | None = None
    allowed_models: tuple[str, ...] | None = None
    version: int = 1  # bumped by every change; the reserve transaction checks it
    updated_at: str | None = None
    revoked: bool = False
    total_requests: int = 0
    total_credits: int = 0  # micro-credits
    # The inference key that created this one (PotatoRouter's and poeti's "own key" routes): its
    # limits, allow-lists and expiry bind this key too, checked on every request
    parent: str | None = None

    @classmethod
    def from_item(cls, item: dict[str, Any]) -> ApiKeyRecord:
        known = {f.name for f in fields(cls)}
        values = {name: item[name] for name in known if name in item}
        for name in ("allowed_providers", "allowed_models"):
            if values.get(name) is not None:
                values[name] = tuple(sorted(values[name]))
        return cls(**values)

    def values(self) -> dict[str, Any]:
        values = asdict(self)
        for name in ("allowed_providers", "allowed_models"):
            if values[name] is not None:
                values[name] = list(values[name])
        return values


@dataclass(frozen=True)
class KeySnapshot:
    """A key, its parent and its account's admission state, as one transaction read them."""

    record: ApiKeyRecord | None
    parent: ApiKeyRecord | None
    gate: int
    shards: int
    balances: tuple[int, ...]  # each balance shard's balance, by number
    profile: AccountProfile | None = None  # the account's price group and own keys
    account_disabled: bool = False  # by an operator
    limit_used: int | None = None  # micro-credits counted against the key's limit in the period read (if asked)


class ApiKeyRepository(dynamo.TableRepository):
    def create(self, record: ApiKeyRecord) -> None:
        values = {
            **record.values(),
            **layout.api_key_index(record.account_id, record.created_at, record.key_hash),
        }
        self.db.put_item(
            TableName=self.table,
            Item={**layout.api_key_key(record.key_hash), **dynamo.to_attributes(values)},
            ConditionExpression="attribute_not_exists(pk)",
        )

    def get(self, key_hash: str, *, consistent: bool = False) -> ApiKeyRecord | None:
        """The key's record; None for unknown keys and for stray items that are not keys."""
        answer = self.db.get_item(TableName=self.table, Key=layout.api_key_key(key_hash), ConsistentRead=consistent)
        item = answer.get("Item")
        if not item or "kind" not in item:
            return None
        return ApiKeyRecord.from_item(dynamo.from_item(item))

    def list_for_account(self, account_id: str) -> list[ApiKeyRecord]:
        """The account's keys, oldest first (revoked keys leave the index)."""
        items = self.db.query_all(
            TableName=self.table,
            IndexName=layout.GSI1,
            KeyConditionExpression="gsi1pk = :pk",
            ExpressionAttributeValues={":pk": {"S": layout.api_key_index(account_id, "", "")["gsi1pk"]}},
        )
        return [ApiKeyRecord.from_item(dynamo.from_item(item)) for item in items]

    def update(self, key_hash: str, account_id: str, changes: dict[str, Any], at_iso: str) -> ApiKeyRecord | None:
        """Apply `changes` (None removes) to a live key of the account; None if there is no such key."""
        unknown = set(changes) - set(MUTABLE)
        if unknown:
            raise ValueError(f"not changeable: {sorted(unknown)}")
        names = {"#version": "version", "#updated": "updated_at", "#account": "account_id", "#revoked": "revoked"}
        values: dict[str, Any] = {":one": 1, ":updated": at_iso, ":account": account_id}
        sets, removes = ["#updated = :updated"], []
        for index, (name, value) in enumerate(sorted(changes.items())):
            names[f"#f{index}"] = name
            if value is None:
                removes.append(f"#f{index}")
            else:
                values[f":f{index}"] = list(value) if isinstance(value, tuple) else value
                sets.append(f"#f{index} = :f{index}")
        expression = "SET " + ", ".join(sets) + " ADD #version :one"
        if removes:
            expression += " REMOVE " + ", ".join(removes)
        return self._conditional_update(key_hash, expression, names, values)

    def revoke(self, key_hash: str, account_id: str, at_epoch: int, at_iso: str) -> ApiKeyRecord | None:
        """Revoke a live key of the account: it stops working at once and leaves the list."""
        return self._conditional_update(
            key_hash,
            "SET #revoked = :true, #updated = :updated, #ttl = :ttl ADD #version :one REMOVE gsi1pk, gsi1sk",
            {
                "#revoked": "revoked",
                "#updated": "updated_at",
                "#ttl": "ttl",
                "#version": "version",
                "#account": "account_id",
            },
            {
                ":true": True,
                ":updated": at_iso,
                ":ttl": at_epoch + REVOKED_RETENTION_SECONDS,
                ":one": 1,
                ":account": account_id,
            },
        )

    def set_disabled(self, key_hash: str, disabled: bool) -> None:
        record = self.get(key_hash, consistent=True)
        changed = record and self._conditional_update(
            key_hash,
            "SET disabled = :disabled ADD #version :one",
            {"#version": "version"},
            {":disabled": disabled, ":one": 1, ":account": record.account_id},
        )
        if not changed:
            raise dynamo.DynamoError("ConditionalCheckFailedException", "no such live key")

    def snapshot(
        self, key_hash: str, account_id: str, parent: str | None, shards: int, limit_period: str | None = None
    ) -> KeySnapshot:
        """The key (and the key that created it) with its account's gate, shard count and (up to
        `shards`) shard balances, and its limit counter of `limit_period` when one is given, read in
        one transaction: a change to either key after this moment moves the gate this returns."""
        keys = [layout.api_key_key(key_hash), *([layout.api_key_key(parent)] if parent else [])]
        keys.append(layout.account_key(account_id))
        if limit_period is not None:
            keys.append(layout.key_limit_key(key_hash, limit_period))
        keys += [layout.balance_key(account_id, number) for number in range(min(shards, 99 - len(keys)))]
        answer = self.db.transact_get_items(TransactItems=[{"Get": {"TableName": self.table, "Key": k}} for k in keys])
        items = [dynamo.from_item(got["Item"]) if got.get("Item") else None for got in answer.get("Responses", [])]
        records = [ApiKeyRecord.from_item(item) if item and "kind" in item else None for item in items]
        at = 1 + bool(parent)
        account = items[at] or {}
        limit_used = None
        if limit_period is not None:
            at += 1
            limit_used = int((items[at] or {}).get("used", 0))
        balances = tuple(int(item["balance"]) for item in items[at + 1 :] if item is not None)
        return KeySnapshot(
            records[0],
            records[1] if parent else None,
            int(account.get("gate", 0)),
            int(account.get("shards", 0)),
            balances[: int(account.get("shards", 0))],
            AccountProfile.from_item(account) if account else None,
            bool(account.get("disabled")),
            limit_used,
        )

    def period_usage(self, key_hash: str, period: str) -> int:
        """Micro-credits held or charged against the key's limit in a period."""
        answer = self.db.get_item(TableName=self.table, Key=layout.key_limit_key(key_hash, period), ConsistentRead=True)
        item = answer.get("Item")
        return int(dynamo.from_item(item).get("used", 0)) if item else 0

    def requests_in_window(self, key_hash: str, window: int) -> int:
        answer = self.db.get_item(TableName=self.table, Key=layout.key_rate_key(key_hash, window), ConsistentRead=True)
        item = answer.get("Item")
        return int(dynamo.from_item(item).get("count", 0)) if item else 0

    def _conditional_update(
        self, key_hash: str, expression: str, names: dict[str, str], values: dict[str, Any]
    ) -> ApiKeyRecord | None:
        """Change a live key of the account and move the account's gate on, in one transaction: a
        hold that read the key before the change is refused (storage/balances.py). Keys of no account
        item (operator keys) hold nothing: they have no gate."""
        names.setdefault("#account", "account_id")
        names.setdefault("#revoked", "revoked")
        values[":not_revoked"] = False
        account_id = str(values[":account"])
        for _ in range(3):
            shards = self._shards_of(account_id)
            try:
                self.db.transact_write_items(
                    TransactItems=[
                        {
                            "Update": {
                                "TableName": self.table,
                                "Key": layout.api_key_key(key_hash),
                                "UpdateExpression": expression,
                                "ConditionExpression": (
                                    "attribute_exists(kind) AND #account = :account AND #revoked = :not_revoked"
                                ),
                                "ExpressionAttributeNames": names,
                                "ExpressionAttributeValues": dynamo.to_attributes(values),
                            }
                        },
                        *(
                            BalanceRepository(self.table, self._client).gate_items(account_id, shards)
                            if shards is not None
                            else []
                        ),
                    ]
                )
            except dynamo.DynamoError as error:
                codes = dynamo.cancellation_codes(error)
                if codes and codes[0] == "ConditionalCheckFailed":
                    return None  # no such live key in the account
                if "ConditionalCheckFailed" in codes or "TransactionConflict" in codes:
                    continue  # the account's shards changed meanwhile: count them again
                raise
            return self.get(key_hash, consistent=True)
        raise dynamo.DynamoError("TransactionConflictException", "the account kept changing")

    def _shards_of(self, account_id: str) -> int | None:
        """The account's balance shards (0: from before shards); None when it has no account item."""
        answer = self.db.get_item(
            TableName=self.table,
            Key=layout.account_key(account_id),
            ProjectionExpression="pk, shards",
            ConsistentRead=True,
        )
        item = answer.get("Item")
        return int(dynamo.from_item(item).get("shards", 0)) if item else None
