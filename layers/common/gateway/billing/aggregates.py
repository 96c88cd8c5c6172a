"""The usage aggregator: daily usage (day x model x key) and each key's totals, added from the table's
stream of ledger entries rather than by every request's settlement, so that no item is written by
every request of a busy account or key.

Each ledger entry is a TRACE item written once (its settlement's `attribute_not_exists`), so the
stream delivers each exactly once as an INSERT. The aggregator adds a batch's entries in a few
transactions (up to 98 target items each) that also move a checkpoint on: a batch delivered again
(a Lambda retry, a restarted poller) is added once. A run of N entries of one account, key and
model and day writes 2 items, however large N is.

The aggregates lag the ledger by the stream's delay (about a second; the IteratorAge alarm watches
it). Money does not wait for them: balances and charges are on the balance shards, written by the
settlement itself; the ledger audit compares aggregates only for days the aggregator has finished.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from gateway.clock import now_epoch
from gateway.config import get_settings
from gateway.storage import dynamo
from gateway.storage.aggregates import (
    CHECKPOINT_RETENTION_SECONDS,
    MAX_TARGETS,
    AggregateRepository,
    Checkpoint,
    Deltas,
)


class CheckpointMoved(Exception):
    """Another delivery of the same records got further meanwhile: run the batch again to skip them."""


def is_ledger_entry(record: dict[str, Any]) -> bool:
    keys = (record.get("dynamodb") or {}).get("Keys") or {}
    return record.get("eventName") == "INSERT" and keys.get("sk", {}).get("S") == "TRACE"


def entry_of(record: dict[str, Any]) -> dict[str, Any] | None:
    image = (record.get("dynamodb") or {}).get("NewImage")
    if not image:
        return None
    entry = dynamo.from_item(image)
    needed = ("account_id", "day", "model", "key_hash")
    return entry if all(isinstance(entry.get(name), str) for name in needed) else None


def add_records(
    records: Sequence[dict[str, Any]],
    name: str,
    start: str | None,
    positions: Sequence[str],
    expires: bool = False,
    repository: AggregateRepository | None = None,
) -> tuple[int, str | None]:
    """Add the ledger entries among `records` (positions[i]: the checkpoint after records[i]), from
    the checkpoint `name` at `start`; returns how many entries were added and where the checkpoint
    now is. Raises CheckpointMoved when the checkpoint is no longer at `start`."""
    repository = repository or AggregateRepository(get_settings().table_name)
    expires_at = now_epoch() + CHECKPOINT_RETENTION_SECONDS if expires else None
    deltas, position, added = Deltas(), start, 0
    for index, record in enumerate(records):
        entry = entry_of(record) if is_ledger_entry(record) else None
        if entry is None:
            continue
        if deltas.targets_with(entry) > MAX_TARGETS:  # this transaction is full: up to the record before
            if not repository.apply(deltas, Checkpoint(name, position, positions[index - 1]), expires_at):
                raise CheckpointMoved(name)
            deltas, position = Deltas(), positions[index - 1]
        deltas.add(entry)
        added += 1
    if len(deltas):
        if not repository.apply(deltas, Checkpoint(name, position, positions[-1]), expires_at):
            raise CheckpointMoved(name)
        position = positions[-1]
    return added, position


def handle_batch(event: dict[str, Any]) -> dict[str, Any]:
    """A Lambda batch from the table's stream (filtered to ledger entries): its checkpoint is named
    by its first record and counts the records of the batch already added."""
    records = event.get("Records") or []
    if not records:
        return {"added": 0}
    name = f"batch-{records[0]['eventID']}"
    done = AggregateRepository(get_settings().table_name).position(name)
    applied = int(done) if done else 0
    positions = [f"{applied + number + 1:06d}" for number in range(len(records) - applied)]
    added, _ = add_records(records[applied:], name, done, positions, expires=True)
    return {"added": added, "skipped": applied}
