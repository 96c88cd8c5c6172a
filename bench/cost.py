"""Cost model per 1M chat requests, from this run: the write units the code's own writes consumed
(bench/writes.py), the CPU time each process spent per request, and the added latency. Prices are
assumptions, labelled; nothing is fetched."""

from __future__ import annotations

import math
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from bench.run import Results

# On-demand list prices, us-east-1, as assumed here (check the AWS pricing pages before relying on them).
PRICES = {
    "dynamodb_write_per_million": 0.625,  # USD per 1M write request units (on-demand)
    "dynamodb_read_per_million": 0.125,  # USD per 1M read request units (on-demand)
    "lambda_gb_second_arm64": 0.0000133334,  # USD per GB-s, arm64
    "lambda_request_per_million": 0.20,  # USD per 1M invocations (Lambda and Lambda Managed Instances)
    "api_gateway_rest_per_million": 3.50,  # USD per 1M REST API calls (first 333M/month)
    "m7g_large_hour": 0.0816,  # USD per hour, EC2 m7g.large on demand (2 vCPU, 8 GiB), Linux
    "managed_instances_fee": 0.15,  # Lambda Managed Instances: 15% of the EC2 on-demand price
}
PRICE_LABELS = {
    "dynamodb_write_per_million": "DynamoDB on-demand, per 1M write request units",
    "dynamodb_read_per_million": "per 1M read request units",
    "lambda_gb_second_arm64": "Lambda arm64 per GB-s",
    "lambda_request_per_million": "Lambda (and Managed Instances) per 1M requests",
    "api_gateway_rest_per_million": "API Gateway REST per 1M requests",
    "m7g_large_hour": "EC2 m7g.large per hour",
    "managed_instances_fee": "Managed Instances' management fee, share of the EC2 price",
}
MILLION = 1_000_000
MEMORY_GB = 1.0  # template.yaml Globals: MemorySize 1024
LAMBDA_VCPU_AT_1024MB = 1024 / 1769  # Lambda gives one full vCPU at 1769 MB
AGGREGATOR_BATCH = 78  # records per aggregator invocation at 2,500 requests/s over 32 stream shards
AGGREGATOR_WAIT_MS = 20.0  # an invocation's wait on DynamoDB (reads of its checkpoint, its transaction)
MANAGED_UTILISATION = 0.6  # CPU share Managed Instances' scaling aims at (it scales out before 100%)
MANAGED_STREAMS = 64  # template: ManagedInstancesStreamsPerEnvironment (one vCPU and 2 GB each)
WAITS_S = (0.0, 1.0, 5.0)  # the model's time per request: none, 1 s, 5 s


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
class Line:
    what: str
    units: float  # write units per request (AWS's)


@dataclass(frozen=True)
class Option:
    """One way of serving 1M chat requests: USD for each model wait in WAITS_S."""

    name: str
    usd: tuple[float, ...]
    basis: str


@dataclass
class CostModel:
    lines: list[Line]
    wcu_per_request: float
    own_ms: dict[str, float]  # target -> its billed time per request on Lambda (1024 MB), without the model
    cpu_ms: dict[str, float]  # target -> CPU ms per buffered request in this run
    options: list[Option]
    aggregator_usd: float  # per 1M requests, in the gateway's lines


def model(results: Results) -> CostModel | None:
    from bench import report

    measured = results.writes
    if measured is None:
        return None
    per = measured.per_request
    lines = [Line(kind, units) for kind, units in sorted(per.units.items(), key=lambda kv: kv[0].startswith("agg"))]
    lines.append(Line("ledger entry's two listing indexes (GSI1 account, GSI2 key)", per.traces_index))
    lines.append(Line("balance shards' quiet-holds index (GSI3; once per shard and 5-minute window)", per.holds_index))
    aggregator_index = per.aggregator - sum(u for k, u in per.units.items() if k.startswith("aggregator: "))
    lines.append(Line("aggregator: index entries (a day's first usage of a model and key)", aggregator_index))
    wcu = per.total
    cpu: dict[str, float] = {}
    own: dict[str, float] = {}
    for target, process in (("gateway", "gateway"), ("litellm", "litellm"), ("portkey", "portkey")):
        phase = report.find(results, target, 0, stream=False, concurrency=10)
        added = report.added_latency(results, target, 0, stream=False, concurrency=1, q=50)
        if phase is None or process not in phase.cpu_ms_per_request or added is None:
            continue
        cpu[target] = phase.cpu_ms_per_request[process]
        # the gateway's invocation lasts past its answer by the settlement's round trip (gateway/afterwards.py)
        after = _settlement_ms(results) if target == "gateway" else 0.0
        own[target] = max(added + after, cpu[target] / LAMBDA_VCPU_AT_1024MB)
    aggregator_cpu = _aggregator_cpu(results)
    options = []
    fixed = PRICES["api_gateway_rest_per_million"] + PRICES["lambda_request_per_million"]
    writes_usd = wcu * PRICES["dynamodb_write_per_million"]
    aggregator_ms = aggregator_cpu / LAMBDA_VCPU_AT_1024MB + AGGREGATOR_WAIT_MS / AGGREGATOR_BATCH
    aggregator_usd = (
        PRICES["lambda_request_per_million"] / AGGREGATOR_BATCH
        + aggregator_ms / 1000 * MILLION * MEMORY_GB * PRICES["lambda_gb_second_arm64"]
    )
    for target, label in (
        ("gateway", "gateway on Lambda (the template's default)"),
        ("litellm", "LiteLLM"),
        ("portkey", "Portkey"),
    ):
        if target not in own:
            continue
        extra = writes_usd + aggregator_usd if target == "gateway" else 0.0
        usd = tuple(
            fixed + extra + (own[target] / 1000 + wait) * MEMORY_GB * MILLION * PRICES["lambda_gb_second_arm64"]
            for wait in WAITS_S
        )
        basis = f"API Gateway + Lambda requests, {own[target]:.1f} ms x 1 GB of its own per request" + (
            f", {wcu:.2f} write units, the aggregator" if target == "gateway" else ", no database"
        )
        options.append(
            Option(label if target == "gateway" else f"{label}, deployed as the chat function is", usd, basis)
        )
    if "gateway" in cpu:
        options.append(_managed(cpu["gateway"], writes_usd + aggregator_usd))
    return CostModel(lines, wcu, own, cpu, options, aggregator_usd)


def _settlement_ms(results: Results) -> float:
    from bench import roundtrip

    return next((trip.p50_ms for trip in results.roundtrips if trip.name == roundtrip.SETTLE), 0.0)


def _aggregator_cpu(results: Results) -> float:
    from bench import report

    phase = report.find(results, "gateway", 0, stream=False, concurrency=10)
    return phase.cpu_ms_per_request.get("aggregator", 0.0) if phase else 0.0


def _managed(cpu_ms: float, database_usd: float) -> Option:
    """The chat function on Lambda Managed Instances: billed by instance hour (+15%), not by wait. One
    execution environment = 1 vCPU and 2 GB, MANAGED_STREAMS requests at once; environments needed =
    the larger of the CPU they burn (at MANAGED_UTILISATION) and the streams they hold open."""
    vcpu_hour = PRICES["m7g_large_hour"] * (1 + PRICES["managed_instances_fee"]) / 2
    usd = []
    for wait in WAITS_S:
        cpu_hours = MILLION * cpu_ms / 1000 / MANAGED_UTILISATION / 3600
        stream_hours = MILLION * wait / MANAGED_STREAMS / 3600
        usd.append(
            PRICES["api_gateway_rest_per_million"]
            + PRICES["lambda_request_per_million"]
            + database_usd
            + max(cpu_hours, stream_hours) * vcpu_hour
        )
    basis = (
        f"API Gateway + $0.20/M requests + m7g.large vCPU-hours +15% for {cpu_ms:.2f} CPU ms/request at "
        f"{MANAGED_UTILISATION:.0%} or {MANAGED_STREAMS} open streams per vCPU, whichever needs more; "
        "the same writes; steady load (its floor of 3 instances while idle is not in it)"
    )
    return Option("gateway on Lambda Managed Instances (ChatCompute=managed-instances)", tuple(usd), basis)
