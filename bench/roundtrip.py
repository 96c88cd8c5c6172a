"""DynamoDB Local round trips from Python with the gateway's own client: a GetItem, a plain 4-item
transaction, and the hot path's own two transactions (the credit repository's reserve and settle)."""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass

from bench.loadgen import percentile


@dataclass(frozen=True)
class RoundTrip:
    name: str
    samples: int
    p50_ms: float
    p95_ms: float
    p99_ms: float


RESERVE = "reserve (TransactWriteItems, 3 items)"
SETTLE = "settle (TransactWriteItems, 5 items)"


def measure(
    table: str, account_id: str, samples: int = 300, warmup: int = 500, scratch: tuple[str, str] | None = None
) -> list[RoundTrip]:
    """GetItem (consistent, the key lookup's kind of read) of the account item, a 4-item
    TransactWriteItems on scratch items, and, given a scratch (account id, key hash) to charge, the
    repository's reserve and settle of one request, each `samples` times after `warmup` calls
    (DynamoDB Local's JIT: the gateway's load warms its transactions, not GetItem, which the key
    cache makes rare)."""
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
        client.transact_write_items(TransactItems=items)

    calls = [("GetItem (consistent)", get), ("TransactWriteItems (4 items)", transact)]
    if scratch is not None:
        calls += _hot_path_calls(table, *scratch)
    results = []
    for name, call in calls:
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


def _hot_path_calls(table: str, account_id: str, key_hash: str) -> list[tuple[str, Callable[[], None]]]:
    """The reserve and settle transactions of one request (1 micro-credit held, none charged), timed
    apart: each reserve leaves a reservation for a settle to take."""
    from gateway import clock
    from gateway.ids import new_trace_id
    from gateway.storage.credits import CreditRepository, KeyGuard, LedgerEntry, Reservation

    repository = CreditRepository(table)
    pending: list[Reservation] = []

    def reserve() -> None:
        now = clock.now_epoch()
        reservation = Reservation(
            new_trace_id(), account_id, key_hash, "sk-bench", "gpt-4o-mini", 1, clock.now_iso(), now + 600
        )
        repository.reserve(reservation, KeyGuard(version=1), now)
        pending.append(reservation)

    def settle() -> None:
        reservation = pending.pop() if pending else None
        if reservation is None:  # more settles than reserves: make one untimed
            reserve()
            reservation = pending.pop()
        entry = LedgerEntry(
            trace_id=reservation.trace_id,
            account_id=account_id,
            key_hash=key_hash,
            key_prefix="sk-bench",
            model="gpt-4o-mini",
            provider="openai",
            endpoint="chat",
            status="success",
            http_status=200,
            error_code=None,
            prompt_tokens=10,
            completion_tokens=5,
            credits=0,
            reserved=1,
            latency_ms=1,
            upstream_latency_ms=1,
            ttft_ms=None,
            stream=False,
            usage_estimated=False,
            created_at=reservation.created_at,
            day=reservation.created_at[:10],
        )
        repository.settle(reservation, entry, clock.now_epoch() + 86400)

    return [(RESERVE, reserve), (SETTLE, settle)]
