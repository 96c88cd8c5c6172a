"""Write units, counted from the code's own writes: every write call this process makes is sent with
`ReturnConsumedCapacity: INDEXES` and recorded with the items it wrote and what DynamoDB (Local)
says it consumed. DynamoDB Local counts a transactional write at a multiple of what AWS bills (AWS:
2 units per 1 KB item, and 1 per index entry written); `calibrate()` measures that multiple on
scratch items and `aws_units()` divides by it. Used by tests/integration/test_write_units.py and by
`make bench`'s cost model."""

from __future__ import annotations

import contextlib
import math
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

WRITES = {"PutItem", "UpdateItem", "DeleteItem", "TransactWriteItems", "BatchWriteItem"}


@dataclass(frozen=True)
class Write:
    operation: str
    thread: str
    items: tuple[str, ...]  # the pk of each item written (condition checks too: AWS bills them as writes)
    table: float  # units DynamoDB Local reported for the table
    indexes: dict[str, float]  # ... and for each index

    @property
    def transactional(self) -> bool:
        return self.operation == "TransactWriteItems"


@dataclass
class Recorder:
    writes: list[Write] = field(default_factory=list)
    conflicts: int = 0  # writes refused because another transaction held an item (they are retried)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def by_thread(self, *, aggregator: bool) -> list[Write]:
        from devtools.aggregator import THREAD

        return [write for write in self.writes if (write.thread == THREAD) == aggregator]


@contextlib.contextmanager
def recording() -> Iterator[Recorder]:
    """Records every write call of this process (any thread) while it lasts."""
    from gateway.storage.dynamo import cancellation_codes
    from gateway.storage.dynamo_client import DynamoClient, DynamoError

    recorder = Recorder()
    original = DynamoClient.call

    def call(self: DynamoClient, operation: str, params: dict[str, Any]) -> dict[str, Any]:
        if operation not in WRITES:
            return original(self, operation, params)
        answer = original(self, operation, {**params, "ReturnConsumedCapacity": "INDEXES"})
        consumed = answer.get("ConsumedCapacity") or {}
        if isinstance(consumed, list):  # transactions answer one entry per table
            consumed = consumed[0] if consumed else {}
        indexes = {
            name: float(used.get("CapacityUnits", 0))
            for name, used in consumed.get("GlobalSecondaryIndexes", {}).items()
        }
        table = float((consumed.get("Table") or {}).get("CapacityUnits", consumed.get("CapacityUnits", 0)))
        write = Write(operation, threading.current_thread().name, _written(operation, params), table, indexes)
        with recorder.lock:
            recorder.writes.append(write)
        return answer

    sent = DynamoClient._send

    def send(self: DynamoClient, operation: str, body: bytes) -> dict[str, Any]:
        try:
            return sent(self, operation, body)
        except DynamoError as error:  # each attempt, the client's own retries included
            if error.code == "TransactionConflictException" or "TransactionConflict" in cancellation_codes(error):
                with recorder.lock:
                    recorder.conflicts += 1
            raise

    DynamoClient.call = call  # type: ignore[method-assign]
    DynamoClient._send = send  # type: ignore[method-assign]
    try:
        yield recorder
    finally:
        DynamoClient.call = original  # type: ignore[method-assign]
        DynamoClient._send = sent  # type: ignore[method-assign]


def _written(operation: str, params: dict[str, Any]) -> tuple[str, ...]:
    if operation == "TransactWriteItems":
        found = []
        for item in params["TransactItems"]:
            ((_, action),) = item.items()
            key = action.get("Key") or action.get("Item") or {}
            found.append(str(key["pk"]["S"]))
        return tuple(found)
    key = params.get("Key") or params.get("Item") or {}
    return (str(key["pk"]["S"]),) if "pk" in key else ()


@dataclass(frozen=True)
class Factors:
    """DynamoDB Local's units per AWS unit: for a transactional item, and an index entry a transaction writes."""

    transactional_item: float
    transactional_index: float


def calibrate(table: str, index: str = "GSI3") -> Factors:
    """A small transactional write (no index), then one writing an index entry, on scratch items;
    compared with AWS's documented 2 units per item and 1 per index entry."""
    import secrets

    from gateway.storage import dynamo

    client, scratch = dynamo.client(), f"CALIBRATION#{secrets.token_hex(6)}"
    plain = client.transact_write_items(
        TransactItems=[{"Put": {"TableName": table, "Item": {"pk": {"S": scratch}, "sk": {"S": "a"}}}}],
        ReturnConsumedCapacity="INDEXES",
    )["ConsumedCapacity"][0]
    indexed = client.transact_write_items(
        TransactItems=[
            {
                "Put": {
                    "TableName": table,
                    "Item": {
                        "pk": {"S": scratch},
                        "sk": {"S": "b"},
                        "gsi3pk": {"S": scratch},
                        "gsi3sk": {"S": "b"},
                    },
                }
            }
        ],
        ReturnConsumedCapacity="INDEXES",
    )["ConsumedCapacity"][0]
    for sk in ("a", "b"):
        client.delete_item(TableName=table, Key={"pk": {"S": scratch}, "sk": {"S": sk}})
    return Factors(
        transactional_item=float(plain["Table"]["CapacityUnits"]) / 2,
        transactional_index=float(indexed["GlobalSecondaryIndexes"][index]["CapacityUnits"]) / 1,
    )


def aws_units(write: Write, factors: Factors) -> tuple[float, float]:
    """(table units, index units) as AWS bills the write."""
    if write.transactional:
        return write.table / factors.transactional_item, sum(write.indexes.values()) / factors.transactional_index
    return write.table, sum(write.indexes.values())


def kb(size: int) -> int:
    return max(1, math.ceil(size / 1024))


RATE = 2_500  # requests/s of one account, all through one key: what one account and one key must sustain
ITEM_LIMIT = 1_000  # write units/s DynamoDB gives one partition (so one item, one index key)
STREAM_SHARDS = 32  # the table's stream shards assumed busy, each invoking the aggregator once a second


def kind(pk: str, account_id: str) -> str:
    """What an item written is, by its partition key (layout.py); other items: their key."""
    from gateway.storage import layout

    for prefix, name in (
        (f"BALANCE#{account_id}#", "balance shard"),
        ("TRACE#", "ledger entry"),
        ("KEY#", "api key"),
        (layout.usage_pk(account_id), "daily usage"),
        ("AGGREGATOR#", "aggregator checkpoint"),
        (layout.account_pk(account_id), "account"),
    ):
        if pk.startswith(prefix):
            return name
    return pk


@dataclass(frozen=True)
class PerRequest:
    """What `requests` requests of one account through one key wrote, per request."""

    requests: int
    shards: int  # the account's balance shards
    writes: dict[str, float]  # item kind -> writes
    table: float  # AWS write units of the table items
    traces_index: float  # ... of the ledger entries' listing indexes (GSI1, GSI2)
    holds_index: float  # ... of the balance shards' index of quiet holds (GSI3): once per shard and window
    aggregator: float  # the aggregator's, amortized over the requests
    aggregator_per_transaction: float
    distinct_shards: int
    units: dict[str, float] = field(default_factory=dict)  # item kind -> AWS table units per request

    @property
    def total(self) -> float:
        return self.table + self.traces_index + self.holds_index + self.aggregator

    def rates(self) -> dict[str, float]:
        """Write units/s each item or index partition takes at RATE requests/s of one account and key."""
        from gateway.storage import layout

        shard_units = self.writes.get("balance shard hold", 0) * 1 + self.writes.get("balance shard settlement", 0) * 2
        invocations = max(STREAM_SHARDS, math.ceil(RATE / 1_000))
        return {
            f"one balance shard (1/{self.shards} of the holds and settlements)": shard_units * RATE / self.shards,
            f"one partition of the account's traces index, GSI1 (1/{layout.TRACE_SHARDS})": RATE / layout.TRACE_SHARDS,
            f"one partition of the key's traces index, GSI2 (1/{layout.TRACE_SHARDS})": RATE / layout.TRACE_SHARDS,
            "the day's usage item, the key's item (once per aggregator transaction)": invocations
            * self.aggregator_per_transaction,
            "a ledger entry (a new item, written once)": 2.0,
        }


def per_request(recorder: Recorder, factors: Factors, account_id: str, requests: int, shards: int) -> PerRequest:
    mine = [w for w in recorder.by_thread(aggregator=False) if any(kind(pk, account_id) != pk for pk in w.items)]
    added = recorder.by_thread(aggregator=True)
    writes: dict[str, float] = {}
    for write in mine:
        for pk in write.items:
            name = kind(pk, account_id)
            if name == "balance shard":
                name += " hold" if write.operation == "UpdateItem" else " settlement"
            writes[name] = writes.get(name, 0) + 1
    writes = {name: count / requests for name, count in writes.items()}  # counted whole, then divided
    table = sum(aws_units(write, factors)[0] for write in mine) / requests
    traces = sum(w.indexes.get(i, 0) for w in mine for i in ("GSI1", "GSI2")) / requests / factors.transactional_index
    holds = sum(w.indexes.get("GSI3", 0) for w in mine if not w.transactional) / requests
    per_transaction = max((sum(aws_units(write, factors)) for write in added), default=0.0)
    aggregator = sum(sum(aws_units(write, factors)) for write in added) / requests
    distinct = len({pk for write in mine for pk in write.items if pk.startswith("BALANCE#")})
    units: dict[str, float] = {}
    for write, prefix in [(w, "") for w in mine] + [(w, "aggregator: ") for w in added]:
        share = aws_units(write, factors)[0] / max(len(write.items), 1) / requests  # items under 1 KB: equal shares
        for pk in write.items:
            name = prefix + kind(pk, account_id)
            if name == "balance shard":
                name += " hold" if write.operation == "UpdateItem" else " settlement"
            units[name] = units.get(name, 0) + share
    return PerRequest(requests, shards, writes, table, traces, holds, aggregator, per_transaction, distinct, units)
