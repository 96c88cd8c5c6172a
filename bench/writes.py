"""Write units in the bench's run, counted from the code's own writes (devtools/write_units.py, as
tests/integration/test_write_units.py counts them): the bench's tenant makes `requests` buffered chat
requests through the gateway's app in this process (the fake upstream answering), the usage
aggregator adds them, and every write is recorded with what DynamoDB Local says it consumed."""

from __future__ import annotations

import asyncio
import os
from dataclasses import dataclass

from bench.gateway import Tenant
from devtools.write_units import Factors, PerRequest, calibrate, per_request, recording


@dataclass(frozen=True)
class Measured:
    per_request: PerRequest
    factors: Factors
    sizes: dict[str, int]  # bytes of each kind of item as written (DynamoDB's item size)


def measure(endpoint: str, tenant: Tenant, upstream_url: str, requests: int = 200) -> Measured:
    from devtools.aggregator import StreamAggregator
    from gateway import caches
    from gateway.config import get_settings

    os.environ.update({"OPENAI_API_KEY": "sk-bench-upstream", "OPENAI_BASE_URL": f"{upstream_url}/v1"})
    caches.reset()
    table = get_settings().table_name
    aggregator = StreamAggregator(table, endpoint).start()
    try:
        asyncio.run(_requests(tenant, 5))  # the key read, its shards known
        aggregator.drain()
        factors = calibrate(table)
        with recording() as recorder:
            asyncio.run(_requests(tenant, requests))
            aggregator.drain()
    finally:
        aggregator.stop()
    account = _shards(tenant.account_id)
    return Measured(per_request(recorder, factors, tenant.account_id, requests, account), factors, _sizes(tenant))


async def _requests(tenant: Tenant, count: int) -> None:
    import httpx

    from devtools.devserver import function_module

    transport = httpx.ASGITransport(app=function_module("chat").app)
    async with httpx.AsyncClient(transport=transport, base_url="http://bench") as client:
        for _ in range(count):
            answer = await client.post(
                "/v1/chat/completions",
                json={"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "Say hi"}], "max_tokens": 32},
                headers={"authorization": f"Bearer {tenant.key}"},
            )
            answer.raise_for_status()


def _shards(account_id: str) -> int:
    from gateway.storage.stores import stores

    account = stores().accounts.get(account_id)
    assert account is not None
    return account.shards


def _sizes(tenant: Tenant) -> dict[str, int]:
    """The size of the items a request wrote: a balance shard and a ledger entry of the tenant's."""
    from bench.cost import item_size
    from gateway.storage import dynamo, layout

    client = dynamo.client()
    sizes: dict[str, int] = {}
    shard = client.get_item(TableName=_table(), Key=layout.balance_key(tenant.account_id, 0)).get("Item")
    if shard:
        sizes["balance shard"] = item_size(shard)
    entries = client.query(
        TableName=_table(),
        IndexName=layout.GSI1,
        KeyConditionExpression="gsi1pk = :pk",
        ExpressionAttributeValues={":pk": {"S": layout.account_traces_pk(tenant.account_id, 0)}},
        Limit=1,
    ).get("Items", [])
    if entries:
        sizes["ledger entry"] = item_size(entries[0])
    usage = client.query(
        TableName=_table(),
        KeyConditionExpression="pk = :pk",
        ExpressionAttributeValues={":pk": {"S": layout.usage_pk(tenant.account_id)}},
        Limit=1,
    ).get("Items", [])
    if usage:
        sizes["daily usage"] = item_size(usage[0])
    key = client.get_item(TableName=_table(), Key=layout.api_key_key(tenant.key_hash)).get("Item")
    if key:
        sizes["api key"] = item_size(key)
    return sizes


def _table() -> str:
    from gateway.config import get_settings

    return get_settings().table_name
