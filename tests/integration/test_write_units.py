"""Write units and per-item write rates, counted from the code's own writes (devtools/write_units.py:
every write sent with ReturnConsumedCapacity INDEXES, DynamoDB Local's units converted to AWS's), and
the calculation that one account through one key sustains 2,500 requests/s: no item and no index
partition is written at more than DynamoDB's 1,000 write units/s. And 200 requests at once on one key
(on one balance shard too, where every hold and settlement meets) are all served, exactly."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from devtools.aggregator import current as current_aggregator
from devtools.write_units import ITEM_LIMIT, calibrate, kind, per_request, recording
from gateway.billing import audit
from gateway.clock import now_iso
from gateway.ids import new_account_id
from gateway.services import keys
from gateway.storage.accounts import Account
from gateway.storage.stores import stores
from tests.conftest import TEST_TABLE, aggregated, balance_of

REQUESTS = 40
GRANT = 1_000_000_000  # a thousand credits: spread over every shard


def rich_account(shards: int = 16) -> tuple[str, str]:
    account = Account(new_account_id(), "rates", GRANT, GRANT, now_iso(), shards=shards)
    stores().accounts.create(account, grant_id="rates")
    return account.account_id, keys.issue_key(account.account_id, "hot", "inference").key


def chat(gateway_url: str, key: str) -> httpx.Response:
    return httpx.post(
        f"{gateway_url}/v1/chat/completions",
        json={"model": "test/echo", "messages": [{"role": "user", "content": "count my writes"}]},
        headers={"Authorization": f"Bearer {key}"},
        timeout=60,
    )


def test_a_chat_request_writes_one_balance_shard_twice_its_ledger_entry_once_and_nothing_else(gateway_url, upstream):
    # Given a busy account's key, read and known to this process
    account_id, key = rich_account()
    assert chat(gateway_url, key).status_code == 200
    aggregated()
    factors = calibrate(TEST_TABLE)
    # When it makes 40 requests, and the aggregator adds them up in one batch, as its event source
    # mapping batches a second's records (an account at 40 requests/s or more; the bench measures the
    # batches a real rate makes): this machine's speed does not decide how many batches 40 requests make
    aggregator = current_aggregator()
    assert aggregator is not None
    window, aggregator.batch_seconds = aggregator.batch_seconds, 3600.0
    try:
        with recording() as recorder:
            for _ in range(REQUESTS):
                assert chat(gateway_url, key).status_code == 200
            aggregated()
    finally:
        aggregator.batch_seconds = window
    measured = per_request(recorder, factors, account_id, REQUESTS, shards=16)

    # Then each request wrote one balance shard twice (its hold, one UpdateItem; its settlement, in a
    # transaction with its ledger entry), its ledger entry once, and no other item: not the key, not
    # the account, not the day's usage
    assert measured.writes == {"balance shard hold": 1, "balance shard settlement": 1, "ledger entry": 1}
    assert measured.distinct_shards >= 4  # the holds spread over the account's shards, at random
    # And in AWS's units: 1 (the hold) + 2 + 2 (the settlement's two items) + 1 + 1 (the ledger
    # entry's two listing indexes); the shards' index of quiet holds changes once per shard and window
    assert (measured.table, measured.traces_index) == (5, 2)
    assert measured.holds_index * REQUESTS <= measured.distinct_shards
    # And the aggregator's writes (daily usage, the key's totals, its checkpoint), a few per batch,
    # come to a fraction of a unit per request: at most 8 in all
    added = {kind(pk, account_id) for write in recorder.by_thread(aggregator=True) for pk in write.items}
    assert added <= {"daily usage", "api key", "aggregator checkpoint"}
    assert measured.aggregator < 1
    assert measured.total <= 8

    # And at 2,500 requests/s of this account and key, every item and index partition stays under
    # 1,000 units/s: a shard takes 1/16 of the holds and settlements, a listing index partition 1/4 of
    # the entries, and the aggregator writes the usage item and the key once per transaction
    rates = measured.rates()
    assert max(rates.values()) <= ITEM_LIMIT, rates


@pytest.mark.parametrize("shards", [16, 1], ids=["sixteen shards", "one shard"])
def test_two_hundred_requests_at_once_on_one_key_are_all_served_and_booked_exactly(proxied_gateway, upstream, shards):
    # Given one key of an account with sixteen balance shards, or with one (every hold and settlement
    # then meets on that one item), and DynamoDB answering a quarter of the writes as AWS does a write
    # that meets another transaction (DynamoDB Local serializes its writes and never does)
    url, proxy = proxied_gateway
    account_id, key = rich_account(shards)
    contended = proxy.contended
    proxy.contend(0.25)
    # When it sends 200 requests at once
    try:
        with ThreadPoolExecutor(max_workers=200) as pool:
            answers = list(pool.map(lambda _: chat(url, key), range(200)))
    finally:
        proxy.contend(0)
    # Then every one is answered and charged once, and the books balance to the micro-credit
    assert [answer.status_code for answer in answers] == [200] * 200, {a.status_code for a in answers}
    aggregated()
    report = audit.audit_account(account_id, drained=True)
    assert report.balanced, report.view()
    assert report.holds == 0
    assert balance_of(account_id) == GRANT - report.charges
    traced = stores().traces
    entries = traced.page(
        account_id=account_id, key_hash=None, since_iso="2000", until_iso="9999", filters={}, size=500, cursor=None,
        read_limit=10_000,
    ).items  # fmt: skip
    assert len({entry["trace_id"] for entry in entries}) == len(entries) == 200
    # (the conflicts were many, each retried)
    assert proxy.contended - contended >= 50
