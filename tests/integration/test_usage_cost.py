"""Usage is answered from daily aggregates: its cost grows with days x models x keys, not requests."""

from __future__ import annotations

import random
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor

import httpx

from gateway.config import get_settings
from gateway.services import accounts, keys
from gateway.storage import dynamo, layout
from gateway.storage.usage import UsageRepository
from tests.conftest import aggregated
from tests.support.ledger import charge_as_settlements_would

REQUESTS = 10_000
DAYS = [f"2026-10-{day:02d}" for day in range(1, 11)]
MODELS = ["test/echo", "test/no-usage", "test/pricey"]


def test_usage_over_ten_thousand_requests_reads_only_the_aggregates(gateway_url, gateway_env):
    # Given 10,000 requests' worth of ledger entries, and the daily aggregates the aggregator adds from them
    account = accounts.create_account("bulk", 1_000_000)
    management = keys.issue_key(account.account_id, "ops", "management")
    key_hashes = [keys.issue_key(account.account_id, f"k{i}", "inference").record.key_hash for i in range(2)]
    rng = random.Random(7)
    ledger, aggregates = [], defaultdict(lambda: defaultdict(int))
    for number in range(REQUESTS):
        day, model, key_hash = rng.choice(DAYS), rng.choice(MODELS), rng.choice(key_hashes)
        prompt, completion, credits = rng.randint(1, 500), rng.randint(1, 500), rng.randint(1, 5_000)
        trace_id = f"gen-bulk{number:024x}"
        ledger.append(
            {
                **layout.trace_key(trace_id),
                **dynamo.to_attributes(
                    {
                        "trace_id": trace_id,
                        "account_id": account.account_id,
                        "key_hash": key_hash,
                        "model": model,
                        "day": day,
                        "status": "success",
                        "credits": credits,
                        "prompt_tokens": prompt,
                        "completion_tokens": completion,
                        **layout.trace_index(account.account_id, key_hash, f"{day}T12:00:00.000Z", trace_id),
                    }
                ),
            }
        )
        bucket = aggregates[(day, model, key_hash)]
        for name, value in (
            ("requests", 1),
            ("prompt_tokens", prompt),
            ("completion_tokens", completion),
            ("credits", credits),
        ):
            bucket[name] += value
    table = get_settings().table_name
    batches = [ledger[i : i + 25] for i in range(0, len(ledger), 25)]
    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(lambda batch: _write(table, batch), batches))
    aggregated()
    added = UsageRepository(table).daily(account.account_id, DAYS[0], DAYS[-1]).items
    assert {(item["day"], item["model"], item["key_hash"]): item["credits"] for item in added} == {
        target: totals["credits"] for target, totals in aggregates.items()
    }
    by_day: dict[str, int] = defaultdict(int)
    for (day, _, _), totals in aggregates.items():
        by_day[day] += totals["credits"]
    charge_as_settlements_would(account.account_id, dict(by_day))

    # When the usage of the whole range is read
    page = UsageRepository(table).daily(account.account_id, DAYS[0], DAYS[-1])
    answer = httpx.get(
        f"{gateway_url}/api/v1/usage",
        params={"date_from": DAYS[0], "date_to": DAYS[-1]},
        headers={"Authorization": f"Bearer {management.key}"},
        timeout=30,
    ).json()["data"]

    # Then DynamoDB read one item per day x model x key, not one per request
    assert page.read == len(aggregates) == len(DAYS) * len(MODELS) * len(key_hashes)
    # And the totals are the ledger's
    assert answer["total_requests"] == REQUESTS
    assert answer["total_credits_micro"] == sum(int(item["credits"]["N"]) for item in ledger)
    assert answer["total_prompt_tokens"] == sum(int(item["prompt_tokens"]["N"]) for item in ledger)
    assert [row["date"] for row in answer["by_day"]] == DAYS
    assert {row["model"] for row in answer["by_model"]} == set(MODELS)


def _write(table: str, batch: list[dict]) -> None:
    pending = {table: [{"PutRequest": {"Item": item}} for item in batch]}
    while pending:
        answer = dynamo.client().batch_write_item(RequestItems=pending)
        pending = answer.get("UnprocessedItems") or {}
