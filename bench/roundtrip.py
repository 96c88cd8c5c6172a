"""DynamoDB Local round trips from Python with the gateway's own client: a consistent GetItem, the
key's read with its account's gate (TransactGetItems), and the hot path's two writes (the credit
repository's hold, one UpdateItem, and its settlement, one transaction)."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from bench.loadgen import percentile

if TYPE_CHECKING:
    from bench.gateway import Tenant


@dataclass(frozen=True)
class RoundTrip:
    name: str
    samples: int
    p50_ms: float
    p95_ms: float
    p99_ms: float


GET = "GetItem (consistent)"
SNAPSHOT = "the key with its account's gate (TransactGetItems, 19 items)"
HOLD = "hold (UpdateItem of a balance shard)"
SETTLE = "settlement (TransactWriteItems, 2 items)"


def measure(table: str, tenant: Tenant, samples: int = 300, warmup: int = 300) -> list[RoundTrip]:
    """Each call `samples` times after `warmup` calls, on a tenant of its own."""
    from gateway.config import get_settings
    from gateway.storage import dynamo, layout
    from gateway.storage.stores import stores

    client = dynamo.client()
    account_key = layout.account_key(tenant.account_id)
    shards = get_settings().balance_shards

    def get() -> None:
        client.get_item(TableName=table, Key=account_key, ConsistentRead=True)

    def snapshot() -> None:
        stores().keys.snapshot(tenant.key_hash, tenant.account_id, None, shards)

    calls: list[tuple[str, Callable[[], None]]] = [(GET, get), (SNAPSHOT, snapshot), *_hot_path(tenant)]
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
            RoundTrip(name, samples, *(percentile(times, q) * 1000 for q in (50, 95, 99)))  # type: ignore[arg-type]
        )
    return results


def _hot_path(tenant: Tenant) -> list[tuple[str, Callable[[], None]]]:
    """The hold and the settlement of one request (1 micro-credit held, none charged), timed apart:
    each hold leaves a reservation for a settlement to take."""
    from gateway import clock
    from gateway.ids import new_trace_id
    from gateway.storage.credits import KeyGuard, LedgerEntry, Reservation
    from gateway.storage.stores import stores

    repository = stores().credits
    account = stores().accounts.get(tenant.account_id)
    assert account is not None
    pending: list[Reservation] = []
    turn = iter(range(10**9))

    def hold() -> None:
        now = clock.now_epoch()
        reservation = Reservation(
            new_trace_id(), tenant.account_id, tenant.key_hash, "sk-bench", "gpt-4o-mini", 1, clock.now_iso(),
            now + 600, shard=next(turn) % account.shards,
        )  # fmt: skip
        repository.reserve(reservation, KeyGuard(), now, gate=account.gate)
        pending.append(reservation)

    def settle() -> None:
        if not pending:  # more settlements than holds: make one untimed
            hold()
        reservation = pending.pop()
        entry = LedgerEntry(
            trace_id=reservation.trace_id, account_id=tenant.account_id, key_hash=tenant.key_hash,
            key_prefix="sk-bench", model="gpt-4o-mini", provider="openai", endpoint="chat.completions",
            status="success", http_status=200, error_code=None, prompt_tokens=10, completion_tokens=5, credits=0,
            reserved=1, latency_ms=1, upstream_latency_ms=1, ttft_ms=None, stream=False, usage_estimated=False,
            created_at=reservation.created_at, day=reservation.created_at[:10],
        )  # fmt: skip
        repository.settle(reservation, entry, clock.now_epoch() + 86400)

    return [(HOLD, hold), (SETTLE, settle)]
