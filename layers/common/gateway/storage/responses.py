"""Stored Responses API answers (`store`, the default): what `previous_response_id`,
`GET /v1/responses/{id}` and its `input_items` read. One item per response, kept
`RESPONSE_RETENTION_DAYS` (TTL); its body (the response, its own input and the conversation it
continued) is compressed JSON in the item, or in the responses bucket when larger than an item holds."""

from __future__ import annotations

import json
import zlib
from dataclasses import dataclass, field
from typing import Any

from gateway import clock
from gateway.storage import dynamo, layout, objects

IN_ITEM_BYTES = 300_000  # compressed body kept in the item (DynamoDB items hold 400 KB in all)


class ResponseTooLarge(Exception):
    """The body is larger than an item holds and no bucket is configured for it."""


@dataclass(frozen=True)
class StoredResponse:
    id: str
    account_id: str
    key_hash: str
    created_at: int  # epoch seconds
    response: dict[str, Any]
    input_items: list[dict[str, Any]]  # the request's own input
    history: list[dict[str, Any]] = field(default_factory=list)  # the conversation it continued
    object_key: str | None = None  # where its body is, when in the bucket

    def conversation(self) -> list[dict[str, Any]]:
        """What a response continuing this one replays: the whole conversation, this answer included."""
        return [*self.history, *self.input_items, *(self.response.get("output") or [])]


class ResponseRepository(dynamo.TableRepository):
    def put(self, stored: StoredResponse, expires_at: int, bucket: str | None) -> None:
        body = zlib.compress(
            json.dumps(
                {"response": stored.response, "input_items": stored.input_items, "history": stored.history},
                separators=(",", ":"),
                ensure_ascii=False,
            ).encode()
        )
        values: dict[str, Any] = {
            "response_id": stored.id,
            "account_id": stored.account_id,
            "key_hash": stored.key_hash,
            "created_at": stored.created_at,
            "ttl": expires_at,
        }
        if len(body) <= IN_ITEM_BYTES:
            values["body"] = body
        elif bucket is not None:
            values["object_key"] = object_key(stored.account_id, stored.id)
            objects.put_bytes(bucket, values["object_key"], body)
        else:
            raise ResponseTooLarge(stored.id)
        self.db.put_item(TableName=self.table, Item={**layout.response_key(stored.id), **dynamo.to_attributes(values)})

    def get(self, response_id: str, bucket: str | None) -> StoredResponse | None:
        answer = self.db.get_item(TableName=self.table, Key=layout.response_key(response_id), ConsistentRead=True)
        item = dynamo.from_item(answer["Item"]) if answer.get("Item") else None
        if item is None or int(item.get("ttl", 0)) <= clock.now_epoch():
            return None  # past its time: TTL deletes lazily, and the bucket may have let its body go
        body = item.get("body")
        if body is None and item.get("object_key") and bucket is not None:
            body = objects.read_bytes(bucket, item["object_key"])
        if body is None:
            return None
        content = json.loads(zlib.decompress(body))
        return StoredResponse(
            id=item["response_id"],
            account_id=item["account_id"],
            key_hash=item["key_hash"],
            created_at=int(item["created_at"]),
            response=content["response"],
            input_items=content["input_items"],
            history=content.get("history") or [],
            object_key=item.get("object_key"),
        )

    def delete(self, stored: StoredResponse, bucket: str | None) -> None:
        self.db.delete_item(TableName=self.table, Key=layout.response_key(stored.id))
        if bucket is not None and stored.object_key is not None:
            objects.delete(bucket, stored.object_key)


def object_key(account_id: str, response_id: str) -> str:
    return f"responses/{account_id}/{response_id}.json.z"
