"""Listing request traces newest first across the partitions of their index: an account's (GSI1) and a
key's (GSI2) traces are spread over TRACE_SHARDS index partitions (layout.trace_index), so that one
busy account or key does not write one index partition at every request. A listing merges them,
reading each a little at a time; its cursor is each partition's position."""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass, field
from typing import Any

from gateway.storage.dynamo_client import DynamoError

Position = dict[str, dict[str, str]]  # an item's keys (table and index), as DynamoDB answers them


@dataclass
class _Partition:
    pk: str
    start: Position | None  # where this listing resumes in it (None: from its newest; {}: nothing left)
    next: Position | None = None  # where its next read begins
    done: bool = False  # nothing left to read in it
    buffered: list[dict[str, Any]] = field(default_factory=list)  # read, not yet taken (newest first)
    taken: Position | None = None  # the last item taken from it


@dataclass(frozen=True)
class Listing:
    items: list[dict[str, Any]]  # raw DynamoDB items, newest first
    cursor: str | None
    read: int


def merged(
    db: Any,
    query: dict[str, Any],
    partitions: list[str],
    names: tuple[str, str],
    size: int,
    cursor: str | None,
    read_limit: int,
    sk_range: tuple[str, str] | None = None,
) -> Listing:
    """The `size` newest items of `query` (a Query on an index, newest first, its key condition on
    `:pk`) across `partitions`, reading at most `read_limit` items. `names`: the index's key attributes;
    `sk_range`: the sort keys the query's condition admits (first, last). Raises ValueError for a
    cursor made for another listing (or another range), or forged."""
    pk_name, sk_name = names
    positions = _positions(cursor, partitions)
    for pk, position in positions:
        if position and not _resumes(position, pk, names, sk_range):
            raise ValueError("invalid cursor")
    state = [_Partition(pk, start, next=start or None, done=start == {}) for pk, start in positions]
    items: list[dict[str, Any]] = []
    read = 0
    while len(items) < size:
        for partition in state:
            while not partition.done and not partition.buffered and read < read_limit:
                share = -(-(size - len(items)) // sum(not p.done for p in state)) + 1
                read += _fill(db, query, partition, min(share, read_limit - read))
        if any(not p.done and not p.buffered for p in state):  # out of reads before all could answer
            break
        ready = [p for p in state if p.buffered]
        if not ready:
            break
        newest = max(ready, key=lambda p: p.buffered[0][sk_name]["S"])
        item = newest.buffered.pop(0)
        newest.taken = {name: item[name] for name in ("pk", "sk", pk_name, sk_name)}
        items.append(item)
    if all(p.done and not p.buffered for p in state):
        return Listing(items, None, read)
    return Listing(items, _encode(state), read)


def _fill(db: Any, query: dict[str, Any], partition: _Partition, limit: int) -> int:
    params = {**query, "Limit": max(limit, 1)}
    params["ExpressionAttributeValues"] = {**query["ExpressionAttributeValues"], ":pk": {"S": partition.pk}}
    if partition.next:
        params["ExclusiveStartKey"] = partition.next
    try:
        page = db.query(**params)
    except DynamoError as error:  # a start DynamoDB refuses is the cursor's (a page's own are never refused)
        if error.code == "ValidationException" and partition.next is not None and partition.next is partition.start:
            raise ValueError("invalid cursor") from error
        raise
    partition.buffered.extend(page.get("Items", []))
    partition.next = page.get("LastEvaluatedKey")
    partition.done = "LastEvaluatedKey" not in page
    return int(page.get("ScannedCount", 0))


def _positions(cursor: str | None, partitions: list[str]) -> list[tuple[str, Position | None]]:
    if not cursor:
        return [(pk, None) for pk in partitions]
    try:
        decoded = json.loads(base64.urlsafe_b64decode(cursor.encode()))
    except (ValueError, UnicodeDecodeError, RecursionError) as error:  # JSON nested past the parser's limit
        raise ValueError("invalid cursor") from error
    if not isinstance(decoded, dict) or sorted(decoded) != sorted(partitions):
        raise ValueError("invalid cursor")  # made for another listing
    for position in decoded.values():
        if position is not None and not (
            isinstance(position, dict)  # {}: nothing left in it
            and all(isinstance(v, dict) and set(v) == {"S"} and isinstance(v["S"], str) for v in position.values())
        ):
            raise ValueError("invalid cursor")
    return [(pk, decoded[pk]) for pk in partitions]


def _resumes(position: Position, pk: str, names: tuple[str, str], sk_range: tuple[str, str] | None) -> bool:
    """A position in partition `pk` of this query: an item's table and index keys, its sort key in range."""
    pk_name, sk_name = names
    if set(position) != {"pk", "sk", pk_name, sk_name} or position[pk_name]["S"] != pk:
        return False
    return sk_range is None or sk_range[0] <= position[sk_name]["S"] <= sk_range[1]


def _encode(state: list[_Partition]) -> str:
    """Each partition's position: {} when it has nothing more; past everything read from it when
    nothing read is left untaken (the rest did not match); else after its last item taken (where it
    started if none was), so what was read but not taken is read again."""
    positions: dict[str, Position | None] = {}
    for partition in state:
        if partition.done and not partition.buffered:
            positions[partition.pk] = {}
        elif not partition.buffered:
            positions[partition.pk] = partition.next
        else:
            positions[partition.pk] = partition.taken or partition.start
    return base64.urlsafe_b64encode(json.dumps(positions, separators=(",", ":")).encode()).decode()
