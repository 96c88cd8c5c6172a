"""Per-channel caps: requests and tokens an upstream channel took in a one-minute window.

A capped channel costs writes only where a request already writes: its request is counted by one more
item of the reservation's transaction (for the channel the request is routed to first), its tokens by
one more item of the settlement's. A fallback to another capped channel counts its request with one
conditional UpdateItem of its own. Uncapped channels cost nothing."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from gateway.storage import dynamo, layout

WINDOW_RETENTION = 180  # seconds a window's item outlives its minute (TTL)


@dataclass(frozen=True)
class ChannelGuard:
    """A channel's caps and the window a request counts in."""

    channel: str
    window: int  # epoch minute
    rpm: int | None = None  # requests per minute
    tpm: int | None = None  # tokens per minute (counted when requests settle)

    @property
    def capped(self) -> bool:
        return self.rpm is not None or self.tpm is not None


def count_request(table: str, guard: ChannelGuard) -> dict[str, Any]:
    """The Update that counts one request, unless the window already holds `rpm` requests or `tpm`
    tokens: for a transaction, or alone."""
    conditions, values = [], {":one": 1, ":ttl": _ttl(guard.window)}
    if guard.rpm is not None:
        conditions.append("(attribute_not_exists(requests) OR requests < :rpm)")
        values[":rpm"] = guard.rpm
    if guard.tpm is not None:
        conditions.append("(attribute_not_exists(tokens) OR tokens < :tpm)")
        values[":tpm"] = guard.tpm
    update: dict[str, Any] = {
        "TableName": table,
        "Key": layout.channel_rate_key(guard.channel, guard.window),
        "UpdateExpression": "ADD requests :one SET #ttl = :ttl",
        "ExpressionAttributeNames": {"#ttl": "ttl"},
        "ExpressionAttributeValues": dynamo.to_attributes(values),
    }
    if conditions:
        update["ConditionExpression"] = " AND ".join(conditions)
    return {"Update": update}


def count_tokens(table: str, channel: str, window: int, tokens: int) -> dict[str, Any]:
    """The Update that adds a settled request's tokens to its channel's window (for the settlement)."""
    return {
        "Update": {
            "TableName": table,
            "Key": layout.channel_rate_key(channel, window),
            "UpdateExpression": "ADD tokens :tokens SET #ttl = :ttl",
            "ExpressionAttributeNames": {"#ttl": "ttl"},
            "ExpressionAttributeValues": dynamo.to_attributes({":tokens": tokens, ":ttl": _ttl(window)}),
        }
    }


class ChannelWindowRepository(dynamo.TableRepository):
    def take(self, guard: ChannelGuard) -> bool:
        """Count one request on its own (a fallback to a capped channel); False when it is full."""
        try:
            self.db.update_item(**count_request(self.table, guard)["Update"])
        except dynamo.DynamoError as error:
            if error.code == "ConditionalCheckFailedException":
                return False
            raise
        return True

    def usage(self, channel: str, window: int) -> tuple[int, int]:
        """(requests, tokens) of a channel's window, for operators."""
        answer = self.db.get_item(
            TableName=self.table, Key=layout.channel_rate_key(channel, window), ConsistentRead=True
        )
        item = dynamo.from_item(answer["Item"]) if answer.get("Item") else {}
        return int(item.get("requests", 0)), int(item.get("tokens", 0))


def _ttl(window: int) -> int:
    return (window + 1) * 60 + WINDOW_RETENTION
