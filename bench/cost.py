"""Cost model per 1M chat requests, from what the code writes (gateway/storage/credits.py) and the
sizes of the items the bench's own run left in DynamoDB Local. Prices are assumptions, labelled."""

from __future__ import annotations

import math
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

# On-demand list prices, us-east-1, as assumed here (check the AWS pricing pages before relying on them).
PRICES = {
    "dynamodb_write_per_million": 0.625,  # USD per 1M write request units (on-demand)
    "dynamodb_read_per_million": 0.125,  # USD per 1M read request units (on-demand)
    "lambda_gb_second_arm64": 0.0000133334,  # USD per GB-s, arm64
    "lambda_request_per_million": 0.20,  # USD per 1M invocations
    "api_gateway_rest_per_million": 3.50,  # USD per 1M REST API calls (first 333M/month)
}
PRICE_LABELS = {
    "dynamodb_write_per_million": "DynamoDB on-demand, per 1M write request units",
    "dynamodb_read_per_million": "per 1M read request units",
    "lambda_gb_second_arm64": "Lambda arm64 per GB-s",
    "lambda_request_per_million": "Lambda per 1M requests",
    "api_gateway_rest_per_million": "API Gateway REST per 1M requests",
}
MEMORY_GB = 1.0  # template.yaml Globals: MemorySize 1024
LAMBDA_VCPU_AT_1024MB = 1024 / 1769  # Lambda gives one full vCPU at 1769 MB


def item_size(item: dict[str, Any]) -> int:
    """DynamoDB's item size (bytes) for a low-level item: attribute names plus values."""
    return sum(len(name.encode()) + _value_size(value) for name, value in item.items())


def _value_size(value: dict[str, Any]) -> int:
    ((kind, inner),) = value.items()
    if kind == "S":
        return len(str(inner).encode())
    if kind == "N":
        digits = len(str(Decimal(inner)).replace("-", "").replace(".", "").lstrip("0")) or 1
        return math.ceil(digits / 2) + 1
    if kind == "B":
        return len(inner)
    if kind in ("BOOL", "NULL"):
        return 1
    if kind == "L":
        return 3 + sum(1 + _value_size(v) for v in inner)
    if kind == "M":
        return 3 + sum(1 + len(k.encode()) + _value_size(v) for k, v in inner.items())
    if kind in ("SS", "NS", "BS"):
        return sum(_value_size({kind[0]: v}) for v in inner)
    return 0


@dataclass(frozen=True)
class Write:
    step: str
    item: str
    action: str
    kb: int  # 1 KB units of the item
    wcu: int  # transactional: 2 per KB
    gsi_wcu: int  # standard writes to the GSIs the item is (or was) in: 1 per KB per index


def writes_per_request(sizes: dict[str, int]) -> list[Write]:
    """The writes of one successful chat request by a key without a credit limit or rate limit whose
    answer cost less than its reservation (so the settlement refunds the difference)."""

    def kb(name: str) -> int:
        return max(1, math.ceil(sizes.get(name, 1) / 1024))

    return [
        Write("reserve", "api key", "ConditionCheck", kb("key"), 2 * kb("key"), 0),
        Write("reserve", "account", "Update balance", kb("account"), 2 * kb("account"), 0),
        Write(
            "reserve",
            "reservation",
            "Put (GSI1: expiry index)",
            kb("reservation"),
            2 * kb("reservation"),
            kb("reservation"),
        ),
        Write(
            "settle",
            "reservation",
            "Delete (and its GSI1 entry)",
            kb("reservation"),
            2 * kb("reservation"),
            kb("reservation"),
        ),
        Write(
            "settle", "ledger entry", "Put (GSI1 account, GSI2 key)", kb("ledger"), 2 * kb("ledger"), 2 * kb("ledger")
        ),
        Write("settle", "daily usage", "Update (ADD counters)", kb("usage"), 2 * kb("usage"), 0),
        Write("settle", "api key", "Update totals (GSI1: account's keys)", kb("key"), 2 * kb("key"), kb("key")),
        Write("settle", "account", "Update refund", kb("account"), 2 * kb("account"), 0),
    ]


@dataclass
class CostModel:
    writes: list[Write]
    sizes: dict[str, int]
    wcu_per_request: int
    rcu_key_worst: float  # key read on every request (a cold environment each time)
    rcu_key_warm: float  # per 1M requests, 20 warm environments each refreshing every 30 s over the hour
    gb_seconds: dict[str, float]
    own_seconds: float  # the gateway's own billed time per request
    fixed_usd: float  # per 1M requests, without the upstream wait
    table: list[tuple[str, str, float]]  # (line, units per 1M, USD per 1M)


def model(sizes: dict[str, int], gateway_seconds: float, gateway_cpu_seconds: float) -> CostModel:
    """`gateway_seconds`: the gateway's own wall time per request (added latency at c=1);
    `gateway_cpu_seconds`: its CPU time per request here; Lambda at 1024 MB runs ~0.58 vCPU."""
    writes = writes_per_request(sizes)
    wcu = sum(w.wcu + w.gsi_wcu for w in writes)
    lambda_own = max(gateway_seconds, gateway_cpu_seconds / LAMBDA_VCPU_AT_1024MB)
    gb_seconds = {
        "gateway only (upstream answers instantly)": MEMORY_GB * lambda_own,
        "+ 1 s upstream": MEMORY_GB * (lambda_own + 1),
        "+ 5 s upstream": MEMORY_GB * (lambda_own + 5),
    }
    million = 1_000_000
    warm_reads = 20 * 120  # 20 environments x 120 refreshes (one per 30 s) in an hour that serves 1M requests
    table = [
        ("DynamoDB writes (WRU)", f"{wcu * million:,}", wcu * PRICES["dynamodb_write_per_million"]),
        ("DynamoDB reads, key lookup, worst case (RRU)", f"{million:,}", PRICES["dynamodb_read_per_million"]),
        (
            "DynamoDB reads, key lookup, warm cache (RRU)",
            f"{warm_reads:,}",
            warm_reads / million * PRICES["dynamodb_read_per_million"],
        ),
        ("API Gateway REST requests", f"{million:,}", PRICES["api_gateway_rest_per_million"]),
        ("Lambda invocations", f"{million:,}", PRICES["lambda_request_per_million"]),
    ]
    for label, seconds in gb_seconds.items():
        table.append(
            (f"Lambda GB-s, {label}", f"{seconds * million:,.0f}", seconds * million * PRICES["lambda_gb_second_arm64"])
        )
    fixed = sum(usd for line, _, usd in table[:5] if "warm cache" not in line)
    fixed += lambda_own * MEMORY_GB * million * PRICES["lambda_gb_second_arm64"]
    return CostModel(writes, sizes, wcu, million, warm_reads, gb_seconds, lambda_own, fixed, table)


def measured_sizes(table: str, account_id: str, key_hash: str) -> dict[str, int]:
    """Sizes of the items one request touched, read back from DynamoDB Local after the run."""
    from gateway import clock
    from gateway.storage import dynamo, layout
    from gateway.storage.credits import Reservation

    client = dynamo.client()
    sizes: dict[str, int] = {}
    for name, key in (("account", layout.account_key(account_id)), ("key", layout.api_key_key(key_hash))):
        item = client.get_item(TableName=table, Key=key).get("Item")
        if item:
            sizes[name] = item_size(item)
    traces = client.query(
        TableName=table,
        IndexName=layout.GSI1,
        KeyConditionExpression="gsi1pk = :pk",
        ExpressionAttributeValues={":pk": {"S": layout.account_traces_pk(account_id, 0)}},
        Limit=1,
    ).get("Items", [])
    if traces:
        sizes["ledger"] = item_size(traces[0])
        trace = dynamo.from_item(traces[0])
        usage = client.query(
            TableName=table,
            KeyConditionExpression="pk = :pk",
            ExpressionAttributeValues={
                ":pk": layout.usage_key(account_id, trace["day"], trace["model"], key_hash)["pk"]
            },
            Limit=1,
        ).get("Items", [])
        if usage:
            sizes["usage"] = item_size(usage[0])
        # The reservation is gone once settled: rebuild it as reserve() writes it.
        from dataclasses import asdict

        reservation = Reservation.from_item({**trace, "amount": trace["reserved"], "expires_at": int(clock.now())})
        values = {**asdict(reservation), **layout.reservation_index(reservation.trace_id, reservation.expires_at)}
        sizes["reservation"] = item_size(
            {**layout.reservation_key(reservation.trace_id), **dynamo.to_attributes(values)}
        )
    return sizes
