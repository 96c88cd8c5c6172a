"""One DynamoDB Local round trip, measured from Python with boto3 as the gateway makes it."""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass

from bench.loadgen import percentile


@dataclass(frozen=True)
class RoundTrip:
    name: str
    samples: int
    p50_ms: float
    p95_ms: float
    p99_ms: float


def measure(table: str, account_id: str, samples: int = 300, warmup: int = 500) -> list[RoundTrip]:
    """GetItem (consistent, the key lookup's kind of read) of the account item, and a 4-item
    TransactWriteItems on scratch items (the shape of a reserve), each `samples` times after `warmup`
    calls (DynamoDB Local's JIT: the gateway's load warms its transactions, not GetItem, which the
    key cache makes rare)."""
    from gateway.storage import dynamo, layout

    client = dynamo.client()
    key = layout.account_key(account_id)

    def get() -> None:
        client.get_item(TableName=table, Key=key, ConsistentRead=True)

    counter = iter(range(10**9))
    run = secrets.token_hex(4)  # fresh items for each measurement

    def transact() -> None:
        n = next(counter)
        items = [
            {
                "Update": {
                    "TableName": table,
                    "Key": {"pk": {"S": f"BENCH#rt#{i}"}, "sk": {"S": "x"}},
                    "UpdateExpression": "ADD hits :one",
                    "ExpressionAttributeValues": {":one": {"N": "1"}},
                }
            }
            for i in range(3)
        ]
        items.append(
            {
                "Put": {
                    "TableName": table,
                    "Item": {"pk": {"S": f"BENCH#rt#{run}#{n}"}, "sk": {"S": "x"}},
                    "ConditionExpression": "attribute_not_exists(pk)",
                }
            }
        )
        client.transact_write_items(TransactItems=items)  # type: ignore[arg-type]

    results = []
    for name, call in (("GetItem (consistent)", get), ("TransactWriteItems (4 items)", transact)):
        for _ in range(warmup):
            call()
        times = []
        for _ in range(samples):
            started = time.perf_counter()
            call()
            times.append(time.perf_counter() - started)
        results.append(
            RoundTrip(
                name,
                samples,
                percentile(times, 50) * 1000,
                percentile(times, 95) * 1000,
                percentile(times, 99) * 1000,
            )
        )
    return results
