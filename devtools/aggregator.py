"""The usage aggregator off AWS: a thread that reads DynamoDB Local's stream of the gateway's table
and hands its records to the same code as the Lambda (gateway.billing.aggregates), checkpointed per
stream shard in the table itself, so a restart adds nothing twice. Like the Lambda's event source
(BatchSize 1000, MaximumBatchingWindowInSeconds 1), it adds a shard's records once a second or once
a thousand are waiting. `drain()` wakes it, adds what waits at once, and returns when everything
written before it was called is added (tests read usage after it)."""

from __future__ import annotations

import threading
import time
from typing import Any

_current: StreamAggregator | None = None
THREAD = "usage-aggregator"


class StreamAggregator:
    def __init__(
        self, table: str, endpoint: str, idle_seconds: float = 0.25, batch_seconds: float = 1.0, batch_size: int = 1000
    ) -> None:
        import boto3

        from gateway.storage.aggregates import AggregateRepository
        from gateway.storage.dynamo_client import DynamoClient
        from gateway.storage.sigv4 import Credentials

        credentials = {"region_name": "us-east-1", "aws_access_key_id": "local", "aws_secret_access_key": "local"}
        self.table = table
        # its own client, on DynamoDB Local itself (not whatever endpoint the gateway is pointed at)
        stand_in = Credentials("local", "local")
        self.repository = AggregateRepository(table, DynamoClient(endpoint, "us-east-1", lambda: stand_in))
        self.tables = boto3.client("dynamodb", endpoint_url=endpoint, **credentials)  # type: ignore[call-overload]
        self.streams = boto3.client("dynamodbstreams", endpoint_url=endpoint, **credentials)  # type: ignore[call-overload]
        self.idle_seconds = idle_seconds
        self.batch_seconds, self.batch_size = batch_seconds, batch_size
        self.waiting: dict[str, list[dict[str, Any]]] = {}  # shard -> records read, not added yet
        self.waiting_since: dict[str, float] = {}
        self._flushing = 0  # drain() calls under way: add what waits at once
        self.iterators: dict[str, str | None] = {}  # shard -> next iterator (None: the shard is closed)
        self.positions: dict[str, str | None] = {}  # shard -> checkpoint
        self.added = 0
        self._cycle = self._quiet = 0
        self._changed = threading.Condition()
        self._stop = threading.Event()
        self._wake = threading.Event()  # set by stop() and drain(): poll now
        self._thread = threading.Thread(target=self._run, name=THREAD, daemon=True)
        self.error: BaseException | None = None

    def start(self) -> StreamAggregator:
        global _current
        self._thread.start()
        _current = self
        return self

    def stop(self) -> None:
        global _current
        self._stop.set()
        self._wake.set()
        self._thread.join(timeout=10)
        if _current is self:
            _current = None

    def drain(self, timeout: float = 20.0) -> None:
        """Returns once a whole read of the stream that began after this call found nothing new, and
        nothing waits to be added."""
        with self._changed:
            self._flushing += 1
            started = self._cycle
            self._wake.set()
            try:
                if not self._changed.wait_for(lambda: self._quiet > started or self.error is not None, timeout):
                    raise TimeoutError("the usage aggregator did not catch up")
            finally:
                self._flushing -= 1
        if self.error is not None:
            raise RuntimeError("the usage aggregator failed") from self.error

    def _run(self) -> None:
        while not self._stop.is_set():
            with self._changed:
                self._cycle += 1
                cycle = self._cycle
            try:
                read = self.poll_once()
            except Exception as error:  # kept for drain() to raise; the next cycle tries again
                self.error = error
                read = -1
            else:
                self.error = None
            with self._changed:
                if read == 0 and not any(self.waiting.values()):
                    self._quiet = cycle
                self._changed.notify_all()
            if read <= 0 and not self._flushing:
                self._wake.wait(self.idle_seconds)
            self._wake.clear()

    def poll_once(self) -> int:
        """One read of every shard of the stream, adding what has waited long enough; returns the
        records read."""
        from gateway.billing.aggregates import CheckpointMoved, add_records

        arn = self.tables.describe_table(TableName=self.table)["Table"].get("LatestStreamArn")
        if not arn:
            return 0
        read = 0
        for shard in self._shards(arn):
            name = f"shard-{shard}"
            if shard not in self.iterators:
                position = self.repository.position(name)
                self.positions[shard] = position
                start: dict[str, Any] = (
                    {"ShardIteratorType": "AFTER_SEQUENCE_NUMBER", "SequenceNumber": position}
                    if position
                    else {"ShardIteratorType": "TRIM_HORIZON"}
                )
                self.iterators[shard] = self.streams.get_shard_iterator(StreamArn=arn, ShardId=shard, **start)[
                    "ShardIterator"
                ]
            iterator = self.iterators[shard]
            if iterator is None:
                continue
            answer = self.streams.get_records(ShardIterator=iterator, Limit=1000)
            records = answer.get("Records", [])
            self.iterators[shard] = answer.get("NextShardIterator")
            read += len(records)
            waiting = self.waiting.setdefault(shard, [])
            if records and not waiting:
                self.waiting_since[shard] = time.monotonic()
            waiting += records
            due = time.monotonic() - self.waiting_since.get(shard, 0) >= self.batch_seconds
            if waiting and (due or len(waiting) >= self.batch_size or self._flushing):
                positions = [record["dynamodb"]["SequenceNumber"] for record in waiting]
                try:
                    added, self.positions[shard] = add_records(
                        waiting, name, self.positions[shard], positions, repository=self.repository
                    )
                except CheckpointMoved:  # another process added them: start again from its checkpoint
                    del self.iterators[shard]
                    self.waiting[shard] = []
                    continue
                self.added += added
                self.waiting[shard] = []
        return read

    def _shards(self, arn: str) -> list[str]:
        shards: list[str] = []
        params: dict[str, Any] = {"StreamArn": arn}
        while True:
            description = self.streams.describe_stream(**params)["StreamDescription"]
            shards += [shard["ShardId"] for shard in description.get("Shards", [])]
            if not description.get("LastEvaluatedShardId"):
                return shards
            params["ExclusiveStartShardId"] = description["LastEvaluatedShardId"]


def current() -> StreamAggregator | None:
    """The aggregator this process runs, if any."""
    return _current


def drain(timeout: float = 20.0) -> None:
    """Wait for this process's aggregator (if it runs one) to add everything written so far."""
    if _current is not None:
        _current.drain(timeout)
