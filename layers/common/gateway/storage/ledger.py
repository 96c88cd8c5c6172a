"""Reads of the ledger's entries, for the audit: an account's grants, daily charges, open holds and
traced charges, every account, and the accounts active on a day. Nothing here writes."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from gateway.storage import dynamo, layout


@dataclass(frozen=True)
class Grant:
    amount: int
    source: str  # initial | top_up | opening (top-ups recorded before grants had a source: top_up)


@dataclass(frozen=True)
class Hold:
    """An open reservation: credits taken from the balance for a request not settled yet."""

    trace_id: str
    amount: int


@dataclass(frozen=True)
class Release:
    """Holds of requests that never settled, given back when their window ended."""

    shard: int
    window: int
    amount: int


class LedgerReader(dynamo.TableRepository):
    def grants(self, account_id: str) -> list[Grant]:
        """Every grant entry (initial credits, top-ups) of the account."""
        items = self._all(
            "query",
            KeyConditionExpression="pk = :pk AND begins_with(sk, :prefix)",
            ExpressionAttributeValues={
                ":pk": {"S": layout.account_pk(account_id)},
                ":prefix": {"S": layout.GRANT_PREFIX},
            },
            ProjectionExpression="amount, #source",
            ExpressionAttributeNames={"#source": "source"},
            ConsistentRead=True,
        )
        return [Grant(int(item["amount"]), item.get("source", "top_up")) for item in items]

    def releases(self, account_id: str) -> list[Release]:
        items = self._all(
            "query",
            KeyConditionExpression="pk = :pk AND begins_with(sk, :prefix)",
            ExpressionAttributeValues={
                ":pk": {"S": layout.account_pk(account_id)},
                ":prefix": {"S": layout.RELEASE_PREFIX},
            },
            ConsistentRead=True,
        )
        return [Release(int(item["shard"]), int(item["window"]), int(item["amount"])) for item in items]

    def daily_charges(self, account_id: str) -> tuple[dict[str, int], int]:
        """Credits charged per day, from the daily usage aggregates (kept for good), and how many
        aggregates there are."""
        by_day: dict[str, int] = defaultdict(int)
        count = 0
        for item in self._all(
            "query",
            KeyConditionExpression="pk = :pk",
            ExpressionAttributeValues={":pk": {"S": layout.usage_pk(account_id)}},
            ProjectionExpression="#day, credits",
            ExpressionAttributeNames={"#day": "day"},
            ConsistentRead=True,
        ):
            by_day[item["day"]] += int(item.get("credits", 0))
            count += 1
        return dict(by_day), count

    def open_holds(self, account_id: str) -> list[Hold]:
        """The account's reservations, from the sweeper's index (every shard; eventually consistent)."""
        holds = []
        for shard in range(layout.RESERVATION_SHARDS):
            for item in self._all(
                "query",
                IndexName=layout.GSI1,
                KeyConditionExpression="gsi1pk = :pk",
                FilterExpression="account_id = :account",
                ExpressionAttributeValues={
                    ":pk": {"S": layout.reservation_shard_pk(shard)},
                    ":account": {"S": account_id},
                },
                ProjectionExpression="trace_id, amount",
            ):
                holds.append(Hold(item["trace_id"], int(item["amount"])))
        return holds

    def traced_charges(self, account_id: str, created_from: str, created_to: str) -> dict[str, int]:
        """Credits of the account's request traces created in [created_from, created_to] (days), by the
        day they were settled (the day of their usage aggregate)."""
        by_day: dict[str, int] = defaultdict(int)
        for pk in layout.account_traces_pks(account_id):
            for item in self._all(
                "query",
                IndexName=layout.GSI1,
                KeyConditionExpression="gsi1pk = :pk AND gsi1sk BETWEEN :from AND :to",
                ExpressionAttributeValues={
                    ":pk": {"S": pk},
                    ":from": {"S": created_from},
                    ":to": {"S": f"{created_to}\uffff"},
                },
                ProjectionExpression="#day, credits",
                ExpressionAttributeNames={"#day": "day"},
            ):
                by_day[item["day"]] += int(item["credits"])
        return dict(by_day)

    def account_ids(self) -> Iterator[str]:
        """Every account in the table (a Scan: for operators, not for a schedule)."""
        for item in self._all(
            "scan",
            FilterExpression="sk = :account AND begins_with(pk, :prefix)",
            ExpressionAttributeValues={":account": {"S": "ACCOUNT"}, ":prefix": {"S": layout.account_pk("")}},
            ProjectionExpression="account_id",
        ):
            yield item["account_id"]

    def active_accounts(self, day: str) -> set[str]:
        """Accounts with at least one request settled on `day` (UTC)."""
        found: set[str] = set()
        for shard in range(layout.ACTIVE_SHARDS):
            for item in self._all(
                "query",
                IndexName=layout.GSI3,
                KeyConditionExpression="gsi3pk = :pk",
                ExpressionAttributeValues={":pk": {"S": layout.active_pk(day, shard)}},
            ):
                found.add(item["gsi3sk"])
        return found

    def _all(self, operation: str, **params: Any) -> Iterator[dict[str, Any]]:
        """Every item of a Query or Scan, page after page."""
        call = getattr(self.db, operation)
        params["TableName"] = self.table
        while True:
            page = call(**params)
            for item in page.get("Items", []):
                yield dynamo.from_item(item)
            if "LastEvaluatedKey" not in page:
                return
            params["ExclusiveStartKey"] = page["LastEvaluatedKey"]
