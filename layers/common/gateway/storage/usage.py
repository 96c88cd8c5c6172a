"""Daily usage aggregates (the usage aggregator adds the ledger's entries to them) and request traces
(the ledger)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from gateway.storage import dynamo, layout
from gateway.storage.trace_listing import merged

# Trace items one listing call may read, matching or not: a filter that rarely matches answers fewer
# than a page (even none) and a cursor, instead of reading the whole range in one request.
PAGE_READ_LIMIT = 1_000


@dataclass(frozen=True)
class Page:
    items: list[dict[str, Any]]
    cursor: str | None  # opaque: where the next page starts
    read: int  # items DynamoDB read to answer (for cost checks)


class UsageRepository(dynamo.TableRepository):
    def daily(self, account_id: str, day_from: str, day_to: str) -> Page:
        """Every aggregate (day x model x key) of the account in [day_from, day_to]: cost grows with
        days x models x keys, never with the number of requests."""
        items: list[dict[str, Any]] = []
        read = 0
        kwargs: dict[str, Any] = {
            "TableName": self.table,
            "KeyConditionExpression": "pk = :pk AND sk BETWEEN :start AND :end",
            "ExpressionAttributeValues": {
                ":pk": {"S": layout.usage_pk(account_id)},
                ":start": {"S": f"{day_from}#"},
                ":end": {"S": f"{day_to}#\uffff"},
            },
        }
        while True:
            page = self.db.query(**kwargs)
            read += page.get("ScannedCount", 0)
            items.extend(dynamo.from_item(item) for item in page.get("Items", []))
            if "LastEvaluatedKey" not in page:
                return Page(items, None, read)
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]


class TraceRepository(dynamo.TableRepository):
    def get(self, trace_id: str) -> dict[str, Any] | None:
        answer = self.db.get_item(TableName=self.table, Key=layout.trace_key(trace_id))
        item = answer.get("Item")
        return dynamo.from_item(item) if item else None

    def page(
        self,
        *,
        account_id: str,
        key_hash: str | None,
        since_iso: str,
        until_iso: str,
        filters: dict[str, Any],
        size: int,
        cursor: str | None,
        read_limit: int = PAGE_READ_LIMIT,
    ) -> Page:
        """Traces newest first, by account (GSI1) or by key (GSI2), matching `filters` (attribute =
        value), reading at most `read_limit` items across the index partitions they are spread over.
        The cursor resumes right after the last trace returned from each partition, or after the last
        one read when the limit came first."""
        index, pk_name, sk_name, pks = (
            (layout.GSI2, "gsi2pk", "gsi2sk", layout.key_traces_pks(key_hash))
            if key_hash
            else (layout.GSI1, "gsi1pk", "gsi1sk", layout.account_traces_pks(account_id))
        )
        names = {"#pk": pk_name, "#sk": sk_name}
        values: dict[str, Any] = {
            ":pk": pks[0],
            ":since": since_iso,
            ":until": f"{until_iso}\uffff",
            ":account": account_id,
        }
        conditions = ["#account = :account"]
        names["#account"] = "account_id"
        for number, (name, value) in enumerate(sorted(filters.items())):
            names[f"#f{number}"] = name
            values[f":f{number}"] = value
            conditions.append(f"#f{number} = :f{number}")
        query: dict[str, Any] = {
            "TableName": self.table,
            "IndexName": index,
            "KeyConditionExpression": "#pk = :pk AND #sk BETWEEN :since AND :until",
            "FilterExpression": " AND ".join(conditions),
            "ExpressionAttributeNames": names,
            "ExpressionAttributeValues": dynamo.to_attributes(values),
            "ScanIndexForward": False,
        }
        bounds = (since_iso, values[":until"])
        listing = merged(self.db, query, pks, (pk_name, sk_name), size, cursor, read_limit, bounds)
        return Page([dynamo.from_item(item) for item in listing.items], listing.cursor, listing.read)

    def attempts_since(self, account_id: str, since_iso: str, *, read_limit: int) -> list[dict[str, Any]]:
        """The account's traces created at `since_iso` or later, newest first, at most `read_limit` of
        them across the index partitions they are spread over: each as its `created_at` and upstream
        `attempts` only (channel health reads these)."""
        pks = layout.account_traces_pks(account_id)
        query: dict[str, Any] = {
            "TableName": self.table,
            "IndexName": layout.GSI1,
            "KeyConditionExpression": "gsi1pk = :pk AND gsi1sk >= :since",
            "ExpressionAttributeValues": dynamo.to_attributes({":pk": pks[0], ":since": since_iso}),
            "ProjectionExpression": "pk, sk, gsi1pk, gsi1sk, created_at, attempts",  # keys: merged's positions
            "ScanIndexForward": False,
        }
        listing = merged(self.db, query, pks, ("gsi1pk", "gsi1sk"), read_limit, None, read_limit * len(pks))
        return [
            {name: value for name, value in dynamo.from_item(item).items() if name in ("created_at", "attempts")}
            for item in listing.items
        ]
