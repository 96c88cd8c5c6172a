"""API key records, found by the SHA-256 of the key. The key itself is never stored."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from gateway.storage import dynamo, layout

KeyKind = Literal["inference", "management"]


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

    @classmethod
    def from_item(cls, item: dict[str, Any]) -> ApiKeyRecord:
        expires = item.get("expires_at")
        return cls(
            key_hash=item["key_hash"],
            key_prefix=item["key_prefix"],
            account_id=item["account_id"],
            name=item["name"],
            kind=item["kind"],
            disabled=bool(item["disabled"]),
            created_at=item["created_at"],
            expires_at=int(expires) if expires is not None else None,
        )


class ApiKeyRepository:
    def __init__(self, table: str) -> None:
        self.table = table

    def create(self, record: ApiKeyRecord) -> None:
        values = {
            "key_hash": record.key_hash,
            "key_prefix": record.key_prefix,
            "account_id": record.account_id,
            "name": record.name,
            "kind": record.kind,
            "disabled": record.disabled,
            "created_at": record.created_at,
            "expires_at": record.expires_at,
            **layout.api_key_index(record.account_id, record.created_at, record.key_hash),
        }
        dynamo.client().put_item(
            TableName=self.table,
            Item={**layout.api_key_key(record.key_hash), **dynamo.to_attributes(values)},
            ConditionExpression="attribute_not_exists(pk)",
        )

    def get(self, key_hash: str) -> ApiKeyRecord | None:
        answer = dynamo.client().get_item(TableName=self.table, Key=layout.api_key_key(key_hash))
        item = answer.get("Item")
        return ApiKeyRecord.from_item(dynamo.from_item(item)) if item else None

    def set_disabled(self, key_hash: str, disabled: bool) -> None:
        dynamo.client().update_item(
            TableName=self.table,
            Key=layout.api_key_key(key_hash),
            UpdateExpression="SET disabled = :disabled",
            ConditionExpression="attribute_exists(pk)",
            ExpressionAttributeValues={":disabled": {"BOOL": disabled}},
        )
