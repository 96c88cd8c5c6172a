"""Listing traces spread over index partitions: newest first across all of them, page after page by
the cursor, never reading more than the bound, each trace exactly once."""

from __future__ import annotations

import random
from typing import Any

import pytest

from gateway.storage.trace_listing import merged

PARTITIONS = ["P#0", "P#1", "P#2", "P#3", "P"]


class Index:
    """A Query on one index partition, newest first, Limit and ExclusiveStartKey as DynamoDB does them
    (a FilterExpression keeps `status = :status` when the query names one)."""

    def __init__(self, items: dict[str, list[str]]) -> None:
        self.items = {pk: sorted(sks, reverse=True) for pk, sks in items.items()}
        self.read = 0

    def query(self, **params: Any) -> dict[str, Any]:
        pk = params["ExpressionAttributeValues"][":pk"]["S"]
        wanted = params["ExpressionAttributeValues"].get(":status", {}).get("S")
        sks = self.items.get(pk, [])
        start = params.get("ExclusiveStartKey")
        position = sks.index(start["gsi1sk"]["S"]) + 1 if start else 0
        scanned = sks[position : position + params["Limit"]]
        self.read += len(scanned)
        answer: dict[str, Any] = {
            "Items": [self.item(pk, sk) for sk in scanned if wanted is None or sk.endswith(wanted)],
            "ScannedCount": len(scanned),
        }
        if position + params["Limit"] < len(sks):
            answer["LastEvaluatedKey"] = self.key(pk, scanned[-1])
        return answer

    @staticmethod
    def key(pk: str, sk: str) -> dict[str, dict[str, str]]:
        return {"pk": {"S": f"T#{sk}"}, "sk": {"S": "T"}, "gsi1pk": {"S": pk}, "gsi1sk": {"S": sk}}

    def item(self, pk: str, sk: str) -> dict[str, Any]:
        return self.key(pk, sk)


def query(status: str | None = None) -> dict[str, Any]:
    values = {":pk": {"S": ""}, **({":status": {"S": status}} if status else {})}
    return {"TableName": "t", "IndexName": "GSI1", "ExpressionAttributeValues": values, "ScanIndexForward": False}


def index_of(count: int, seed: int, rare: int | None = None) -> tuple[Index, list[str]]:
    rng = random.Random(seed)
    every = [f"2026-11-30T{n:08d}#{'error' if rare is not None and n == rare else 'ok'}" for n in range(count)]
    spread: dict[str, list[str]] = {pk: [] for pk in PARTITIONS}
    for sk in every:
        spread[rng.choice(PARTITIONS[:4]) if rng.random() > 0.05 else "P"].append(sk)
    return Index(spread), sorted(every, reverse=True)


@pytest.mark.parametrize(("count", "size"), [(0, 10), (7, 10), (250, 20), (1_000, 100)])
def test_pages_follow_each_other_newest_first_across_every_partition(count: int, size: int) -> None:
    index, expected = index_of(count, seed=count)
    listed: list[str] = []
    cursor = None
    while True:
        page = merged(index, query(), PARTITIONS, ("gsi1pk", "gsi1sk"), size, cursor, read_limit=1_000)
        assert len(page.items) <= size
        listed += [item["gsi1sk"]["S"] for item in page.items]
        cursor = page.cursor
        if cursor is None:
            break
    assert listed == expected


def test_a_rarely_matching_filter_answers_short_pages_within_the_read_bound() -> None:
    index, expected = index_of(3_000, seed=3, rare=5)
    found, reads = [], []
    cursor = None
    while True:
        index.read = 0
        page = merged(index, query("error"), PARTITIONS, ("gsi1pk", "gsi1sk"), 20, cursor, read_limit=500)
        reads.append(index.read)
        found += [item["gsi1sk"]["S"] for item in page.items]
        cursor = page.cursor
        if cursor is None:
            break
    assert max(reads) <= 500
    assert found == [sk for sk in expected if sk.endswith("error")]
    assert sum(reads) >= 3_000  # every trace was read once at least, to find the one error


def test_a_cursor_is_only_for_its_own_listing() -> None:
    index, _ = index_of(100, seed=1)
    page = merged(index, query(), PARTITIONS, ("gsi1pk", "gsi1sk"), 10, None, read_limit=1_000)
    assert page.cursor is not None
    for other in (["Q#0", "Q#1", "Q#2", "Q#3", "Q"], PARTITIONS[:4]):
        with pytest.raises(ValueError, match="cursor"):
            merged(index, query(), other, ("gsi1pk", "gsi1sk"), 10, page.cursor, read_limit=1_000)
    with pytest.raises(ValueError, match="cursor"):
        merged(index, query(), PARTITIONS, ("gsi1pk", "gsi1sk"), 10, "not-a-cursor", read_limit=1_000)
