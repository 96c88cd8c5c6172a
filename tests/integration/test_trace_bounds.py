"""Request traces and their stats over a busy range read a bounded number of items per call: a
listing with a rarely matching filter answers a cursor instead of reading the whole range, and stats
come from the daily aggregates plus one bounded read of the newest requests."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime

import httpx
import pytest

from gateway.config import get_settings
from gateway.services import accounts, keys
from gateway.services.usage import LATENCY_SAMPLE
from gateway.storage import dynamo, layout
from gateway.storage.dynamo_client import DynamoClient
from gateway.storage.usage import PAGE_READ_LIMIT
from tests.conftest import aggregated
from tests.support.ledger import charge_as_settlements_would

SUCCESSES = PAGE_READ_LIMIT + 150  # more than one bounded read holds


@dataclass
class Crowded:
    """An account whose day holds many successes and, oldest of all, one error."""

    management: str
    day: str
    error_trace: str
    latencies: list[int]  # of every trace, newest first


@pytest.fixture(scope="module")
def crowded(gateway_env) -> Crowded:  # type: ignore[no-untyped-def]
    account = accounts.create_account("crowded", 0).account_id
    management = keys.issue_key(account, "ops", "management").key
    key = keys.issue_key(account, "busy", "inference").record
    day = datetime.now(UTC).date().isoformat()
    table = get_settings().table_name
    items = []
    for number in range(SUCCESSES + 1):  # 0: the error, oldest; latency_ms = number
        trace_id = f"gen-bounds{number:06d}{account[-8:]}"
        created = f"{day}T01:{number // 60000:02d}:{number // 1000 % 60:02d}.{number % 1000:03d}Z"
        items.append(
            {
                **layout.trace_key(trace_id),
                **dynamo.to_attributes(
                    {
                        **layout.trace_index(account, key.key_hash, created, trace_id),
                        "trace_id": trace_id, "account_id": account, "key_hash": key.key_hash,
                        "key_prefix": key.key_prefix, "model": "test/echo", "provider": "fake",
                        "endpoint": "chat.completions", "status": "error" if number == 0 else "success",
                        "http_status": 502 if number == 0 else 200, "prompt_tokens": 1, "completion_tokens": 1,
                        "credits": 1, "latency_ms": number, "created_at": created, "day": day,
                    }
                ),
            }
        )  # fmt: skip
    aggregate_key = layout.usage_key(account, day, "test/echo", key.key_hash)
    writes = [{"PutRequest": {"Item": item}} for item in items]  # the aggregator adds their aggregate
    client = dynamo.boto3_client()
    for start in range(0, len(writes), 25):
        client.batch_write_item(RequestItems={table: writes[start : start + 25]})
    aggregated()
    assert dynamo.from_item(client.get_item(TableName=table, Key=aggregate_key)["Item"])["requests"] == SUCCESSES + 1
    charge_as_settlements_would(account, {day: SUCCESSES + 1})
    return Crowded(management, day, items[0]["trace_id"]["S"], list(range(SUCCESSES, -1, -1)))


@pytest.fixture
def reads(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Items each index query read (ScannedCount), as the gateway serving this process sent them."""
    counted: list[int] = []
    real = DynamoClient.query

    def query(self: DynamoClient, **params: object) -> dict:  # type: ignore[type-arg]
        answer = real(self, **params)
        if "IndexName" in params:
            counted.append(int(answer.get("ScannedCount", 0)))
        return answer

    monkeypatch.setattr(DynamoClient, "query", query)
    return counted


def get(gateway_url: str, crowded: Crowded, path: str, **params: object) -> dict:  # type: ignore[type-arg]
    headers = {"Authorization": f"Bearer {crowded.management}"}
    params = {"date_from": crowded.day, "date_to": crowded.day, **params}
    response = httpx.get(f"{gateway_url}{path}", params=params, headers=headers, timeout=30)
    assert response.status_code == 200, response.text
    return response.json()  # type: ignore[no-any-return]


def test_a_rarely_matching_filter_pages_through_the_range_in_bounded_reads(gateway_url, crowded, reads):
    # Given a day of many successes with one error, the oldest, at the end of the newest-first order
    pages, per_call = [], []
    cursor = None
    while True:
        # When the errors are listed, page by page
        reads.clear()
        page = get(
            gateway_url, crowded, "/api/v1/request-traces", status="error", **({"cursor": cursor} if cursor else {})
        )["data"]
        per_call.append(sum(reads))
        pages.append(page)
        cursor = page["next_cursor"]
        if cursor is None:
            break
    # Then no call read more than the bound: the first answers nothing yet and a cursor, and
    # following the cursors finds the one error exactly once
    assert max(per_call) <= PAGE_READ_LIMIT, per_call
    assert (pages[0]["items"], pages[0]["has_more"]) == ([], True)
    assert [trace["trace_id"] for page in pages for trace in page["items"]] == [crowded.error_trace]
    # each page knows how many match in all (from the daily aggregates) and its number
    assert {page["total"] for page in pages} == {1}
    assert [page["page"] for page in pages] == list(range(1, len(pages) + 1))
    assert sum(per_call) >= SUCCESSES


def test_stats_come_from_the_daily_aggregates_and_the_newest_requests(gateway_url, crowded, reads):
    # When the day's stats are asked for
    stats = get(gateway_url, crowded, "/api/v1/request-traces/stats")
    # Then the totals are the aggregates' (every request of the day)
    assert (stats["total_requests"], stats["success_count"], stats["error_count"]) == (SUCCESSES + 1, SUCCESSES, 1)
    assert stats["total_tokens"] == 2 * (SUCCESSES + 1)
    # and the latencies those of the newest requests (as many as one bounded read across the index
    # partitions the traces are spread over could merge: nearly all of the sample)
    sample = stats["latency_sample_size"]
    assert 0.9 * LATENCY_SAMPLE <= sample <= LATENCY_SAMPLE
    newest = sorted(crowded.latencies[:sample])
    assert stats["p50_latency_ms"] == newest[math.ceil(0.5 * sample) - 1]
    assert stats["p95_latency_ms"] == newest[math.ceil(0.95 * sample) - 1]
    assert stats["avg_latency_ms"] == round(sum(newest) / sample)
    assert sum(reads) <= LATENCY_SAMPLE
