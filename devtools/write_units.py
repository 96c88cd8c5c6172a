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
