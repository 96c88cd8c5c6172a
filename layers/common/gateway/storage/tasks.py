"""Image tasks: what was asked, how it went, where the images are. A task changes state only
inside the settlement of its reservation, so its outcome and its charge are one write."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from gateway.storage import dynamo, layout

TASK_RETENTION_SECONDS = 7 * 86_400
# The request is kept as its JSON text (a client's extra fields may hold numbers DynamoDB's number
# type refuses, such as floats), within what one item holds beside the task's other attributes.
MAX_REQUEST_BYTES = 300_000


def image_key(task_id: str, number: int) -> str:
    """Where a task's `number`th image is kept in the images bucket."""
    return f"tasks/{task_id}/{number}.png"


@dataclass(frozen=True)
class Task:
    task_id: str
    account_id: str
    key_hash: str
    model: str
    request: dict[str, Any]
    status: str  # pending | succeeded | failed
    created: int  # epoch seconds
    images: tuple[str, ...] = ()  # object keys in the images bucket
    error: str | None = None
    # The prices its hold was made with (the catalog's, at the account's terms), to charge it on; and
    # whether it was routed to the account's own provider key (its worker must route it there too)
    pricing: str | None = None  # JSON
    own_key: bool = False

    @classmethod
    def from_item(cls, item: dict[str, Any]) -> Task:
        return cls(
            task_id=item["task_id"],
            account_id=item["account_id"],
            key_hash=item["key_hash"],
            model=item["model"],
            request=json.loads(item["request"]) if isinstance(item["request"], str) else item["request"],
            status=item["status"],
            created=int(item["created"]),
            images=tuple(item.get("images") or ()),
            error=item.get("error"),
            pricing=item.get("pricing"),
            own_key=bool(item.get("own_key", False)),
        )


def request_text(request: dict[str, Any]) -> str:
    return json.dumps(request, separators=(",", ":"), ensure_ascii=False)


class TaskRepository(dynamo.TableRepository):
    def create_item(self, task: Task) -> dict[str, Any]:
        """The transaction item that writes a new pending task (with the reservation that pays for it)."""
        values = {
            "task_id": task.task_id,
            "account_id": task.account_id,
            "key_hash": task.key_hash,
            "model": task.model,
            "request": request_text(task.request),
            "status": task.status,
            "created": task.created,
            "ttl": task.created + TASK_RETENTION_SECONDS,
            "pricing": task.pricing,
            "own_key": task.own_key,
        }
        return {
            "Put": {
                "TableName": self.table,
                "Item": {**layout.task_key(task.task_id), **dynamo.to_attributes(values)},
                "ConditionExpression": "attribute_not_exists(pk)",
            }
        }

    def get(self, task_id: str) -> Task | None:
        answer = self.db.get_item(TableName=self.table, Key=layout.task_key(task_id), ConsistentRead=True)
        item = answer.get("Item")
        return Task.from_item(dynamo.from_item(item)) if item else None

    def claim(self, task_id: str, *, now: int, seconds: int) -> bool:
        """Takes a pending task for one worker's run of up to `seconds`: False while another delivery
        of its message holds it, so the provider is asked once. A run that died frees it as it ends."""
        try:
            self.db.update_item(
                TableName=self.table,
                Key=layout.task_key(task_id),
                UpdateExpression="SET claimed_until = :until",
                ConditionExpression=(
                    "#status = :pending AND (attribute_not_exists(claimed_until) OR claimed_until < :now)"
                ),
                ExpressionAttributeNames={"#status": "status"},
                ExpressionAttributeValues=dynamo.to_attributes(
                    {":pending": "pending", ":now": now, ":until": now + seconds}
                ),
            )
        except dynamo.DynamoError as error:
            if error.code == "ConditionalCheckFailedException":
                return False
            raise
        return True

    def finish_item(self, task_id: str, *, images: list[str] | None = None, error: str | None = None) -> dict[str, Any]:
        """The transaction item that moves a pending task to succeeded (images) or failed (error)."""
        values: dict[str, Any] = {
            ":pending": "pending",
            ":status": "failed" if error is not None else "succeeded",
            ":images": images or [],
            ":error": error or "",
        }
        return {
            "Update": {
                "TableName": self.table,
                "Key": layout.task_key(task_id),
                "UpdateExpression": "SET #status = :status, images = :images, #error = :error",
                "ConditionExpression": "#status = :pending",
                "ExpressionAttributeNames": {"#status": "status", "#error": "error"},
                "ExpressionAttributeValues": dynamo.to_attributes(values),
            }
        }
