"""Writes of the usage aggregator: daily usage items and per-key totals, added from a batch of ledger
entries in transactions that also move a checkpoint on, so that a batch delivered twice is added once."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from gateway.storage import dynamo, layout

MAX_TARGETS = 98  # items of one transaction (the limit is 100), besides its checkpoint
CHECKPOINT_RETENTION_SECONDS = 2 * 86_400


@dataclass
class UsageDelta:
    account_id: str
    day: str
    model: str
    key_hash: str
    key_prefix: str
    requests: int = 0
    errors: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    credits: int = 0


@dataclass
class KeyDelta:
    key_hash: str
    requests: int = 0
    credits: int = 0


@dataclass
class Deltas:
    """What a run of ledger entries adds, by target item."""

    usage: dict[tuple[str, str, str, str], UsageDelta] = field(default_factory=dict)
    keys: dict[str, KeyDelta] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.usage) + len(self.keys)

    def targets_with(self, entry: dict[str, Any]) -> int:
        """How many target items there would be with `entry` added."""
        usage = (entry["account_id"], entry["day"], entry["model"], entry["key_hash"])
        return len(self) + (usage not in self.usage) + (entry["key_hash"] not in self.keys)

    def add(self, entry: dict[str, Any]) -> None:
        usage_key = (entry["account_id"], entry["day"], entry["model"], entry["key_hash"])
        usage = self.usage.setdefault(usage_key, UsageDelta(*usage_key[:4], entry.get("key_prefix", "")))
        credits = int(entry.get("credits", 0))
        usage.requests += 1
        usage.errors += 0 if entry.get("status") == "success" else 1
        usage.prompt_tokens += int(entry.get("prompt_tokens", 0))
        usage.completion_tokens += int(entry.get("completion_tokens", 0))
        usage.credits += credits
        key = self.keys.setdefault(entry["key_hash"], KeyDelta(entry["key_hash"]))
        key.requests += 1
        key.credits += credits


@dataclass(frozen=True)
class Checkpoint:
    """How far the aggregator got through one stream of records: `before` must still be the
    position (None: none yet) for the transaction to apply; it leaves `after`."""

    name: str
    before: str | None
    after: str


class AggregateRepository(dynamo.TableRepository):
    def position(self, name: str) -> str | None:
        answer = self.db.get_item(TableName=self.table, Key=layout.checkpoint_key(name), ConsistentRead=True)
        item = answer.get("Item") or {}
        return str(item["position"]["S"]) if "position" in item else None

    def apply(self, deltas: Deltas, checkpoint: Checkpoint, expires_at: int | None = None) -> bool:
        """Add `deltas` and move the checkpoint, in one transaction. False when the checkpoint was no
        longer at `before` (another delivery of the same records got there first): nothing written."""
        items = [_usage_update(self.table, delta) for delta in deltas.usage.values()]
        items += [_key_update(self.table, delta) for delta in deltas.keys.values()]
        items.append(self._checkpoint(checkpoint, expires_at))
        try:
            self.db.transact_write_items(TransactItems=items)
        except dynamo.DynamoError as error:
            if dynamo.cancellation_codes(error)[-1:] == ["ConditionalCheckFailed"]:
                return False
            raise
        return True

    def _checkpoint(self, checkpoint: Checkpoint, expires_at: int | None) -> dict[str, Any]:
        values: dict[str, Any] = {":after": {"S": checkpoint.after}}
        if checkpoint.before is None:
            condition = "attribute_not_exists(#position)"
        else:
            condition = "#position = :before"
            values[":before"] = {"S": checkpoint.before}
        expression = "SET #position = :after"
        names = {"#position": "position"}
        if expires_at is not None:
            expression += ", #ttl = :ttl"
            names["#ttl"] = "ttl"
            values[":ttl"] = {"N": str(expires_at)}
        return {
            "Update": {
                "TableName": self.table,
                "Key": layout.checkpoint_key(checkpoint.name),
                "UpdateExpression": expression,
                "ConditionExpression": condition,
                "ExpressionAttributeNames": names,
                "ExpressionAttributeValues": values,
            }
        }


def _usage_update(table: str, delta: UsageDelta) -> dict[str, Any]:
    active = layout.active_index(delta.account_id, delta.day)
    return {
        "Update": {
            "TableName": table,
            "Key": layout.usage_key(delta.account_id, delta.day, delta.model, delta.key_hash),
            "UpdateExpression": (
                "ADD #requests :requests, #errors :errors, #prompt :prompt, #completion :completion, #credits :credits"
                " SET #account = :account, #day = :day, #model = :model, #key = :key, #prefix = :prefix,"
                " gsi3pk = :active_pk, gsi3sk = :active_sk"
            ),
            "ExpressionAttributeNames": {
                "#requests": "requests",
                "#errors": "errors",
                "#prompt": "prompt_tokens",
                "#completion": "completion_tokens",
                "#credits": "credits",
                "#account": "account_id",
                "#day": "day",
                "#model": "model",
                "#key": "key_hash",
                "#prefix": "key_prefix",
            },
            "ExpressionAttributeValues": {
                ":requests": {"N": str(delta.requests)},
                ":errors": {"N": str(delta.errors)},
                ":prompt": {"N": str(delta.prompt_tokens)},
                ":completion": {"N": str(delta.completion_tokens)},
                ":credits": {"N": str(delta.credits)},
                ":account": {"S": delta.account_id},
                ":day": {"S": delta.day},
                ":model": {"S": delta.model},
                ":key": {"S": delta.key_hash},
                ":prefix": {"S": delta.key_prefix},
                ":active_pk": {"S": active["gsi3pk"]},
                ":active_sk": {"S": active["gsi3sk"]},
            },
        }
    }


def _key_update(table: str, delta: KeyDelta) -> dict[str, Any]:
    return {
        "Update": {
            "TableName": table,
            "Key": layout.api_key_key(delta.key_hash),
            "UpdateExpression": "ADD total_requests :requests, total_credits :credits",
            "ExpressionAttributeValues": {
                ":requests": {"N": str(delta.requests)},
                ":credits": {"N": str(delta.credits)},
            },
        }
    }
