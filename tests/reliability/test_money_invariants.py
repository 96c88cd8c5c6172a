"""Money under load and faults: 200 concurrent requests on mixed keys and accounts with tight
balances and key limits, while the upstream fails, times out and cuts streams. For every account,
granted - balance == the ledger's charges; no balance below zero; nothing charged twice; nothing
left reserved. And a failing credit store answers 503 with Retry-After, never a charge without a
ledger entry."""

from __future__ import annotations

import random
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime

import httpx
import pytest

from gateway.billing.holds import RELEASE_MARGIN_SECONDS
from gateway.config import get_settings
from gateway.services import accounts, keys
from gateway.storage import layout
from gateway.storage.credits import CreditRepository, Reservation
from gateway.storage.errors import StorageUnavailable
from gateway.storage.usage import TraceRepository
from tests.conftest import ledger_entry
from tests.support.pricing import price_micro

MODELS = [
    ("test/echo", False),
    ("test/echo", True),
    ("test/pricey", False),
    ("test/fail-500", False),
    ("test/cut-stream", True),
    ("test/no-usage", False),
    ("test/fallback-5xx", False),
    ("test/slow", False),
]


def ledger_of(account_id: str) -> list[dict]:
    today = datetime.now(UTC).date().isoformat()
    items: list[dict] = []
    cursor = None
    while True:  # every page of the account's traces (a listing reads a bounded number per call)
        page = TraceRepository(get_settings().table_name).page(
            account_id=account_id, key_hash=None, since_iso=today, until_iso=today, filters={}, size=100, cursor=cursor
        )
        items.extend(page.items)
        if page.cursor is None:
            return items
        cursor = page.cursor


def test_two_hundred_concurrent_requests_lose_and_duplicate_nothing(gateway_url, upstream):
    rng = random.Random(2026)
    tenants = []
    for number in range(4):
        account = accounts.create_account(f"load-{number}", rng.choice([2_000_000, 3_000_000, 5_000_000]))
        for key_number in range(2):
            limit = {"limit": 1_600_000} if key_number == 0 else {}
            tenants.append((account, keys.issue_key(account.account_id, f"k{key_number}", "inference", **limit).key))

    def request(number: int) -> tuple[int, str | None]:
        _, key = tenants[number % len(tenants)]
        model, stream = MODELS[rng.randrange(len(MODELS))] if number % 7 else ("test/pricey", False)
        body = {"model": model, "messages": [{"role": "user", "content": f"request {number}"}], "stream": stream}
        if model == "test/pricey":
            body["max_tokens"] = 500
        try:
            response = httpx.post(
                f"{gateway_url}/v1/chat/completions", json=body, headers={"Authorization": f"Bearer {key}"}, timeout=30
            )
        except httpx.HTTPError:
            return 0, None
        return response.status_code, response.headers.get("x-trace-id")

    with ThreadPoolExecutor(max_workers=50) as pool:
        results = list(pool.map(request, range(200)))

    statuses = {status for status, _ in results}
    assert 200 in statuses
    assert 402 in statuses  # tight balances and key limits did bind
    assert statuses <= {200, 402, 502, 504}
    repository = CreditRepository(get_settings().table_name)
    for account in {id(a): a for a, _ in tenants}.values():
        ledger = ledger_of(account.account_id)
        balance = accounts.get_account(account.account_id).balance
        assert balance >= 0
        assert account.granted - balance == sum(entry["credits"] for entry in ledger), account.account_id
        assert len({entry["trace_id"] for entry in ledger}) == len(ledger)
        held = [r for r in repository.expired_reservations(2**31, limit=1_000) if r.account_id == account.account_id]
        assert held == []
    # every answered request has exactly one ledger entry; refused ones have none
    traced = {entry["trace_id"] for account, _ in tenants for entry in ledger_of(account.account_id)}
    for status, trace_id in results:
        if status in (200, 502, 504):
            assert trace_id in traced
        elif status == 402:
            assert trace_id not in traced


@pytest.mark.parametrize("stage", ["reserve", "settle"])
def test_a_failing_credit_store_never_charges_without_a_ledger_entry(
    gateway_url, upstream, make_tenant, monkeypatch, stage
):
    from gateway.billing.sweeper import sweep_expired
    from tests.conftest import balance_of, settled

    tenant = make_tenant("10")
    real = CreditRepository.reserve if stage == "reserve" else CreditRepository.settle

    def failing(*args, **kwargs):  # type: ignore[no-untyped-def]
        raise StorageUnavailable("ThrottlingException")

    monkeypatch.setattr(CreditRepository, stage, failing)
    response = httpx.post(
        f"{gateway_url}/v1/chat/completions",
        json={"model": "test/echo", "messages": [{"role": "user", "content": "hello"}]},
        headers={"Authorization": f"Bearer {tenant.key}"},
        timeout=20,
    )
    settled()  # a buffered answer is settled after it went out
    monkeypatch.setattr(CreditRepository, stage, real)
    if stage == "reserve":
        # Then the client is told to retry, and nothing was taken
        assert response.status_code == 503
        assert response.json()["error"]["code"] == "service_unavailable"
        assert response.headers["retry-after"] == "1"
        assert balance_of(tenant.account_id) == 10_000_000
        return
    # The answer went out, but its settlement failed: the hold stays, and a pending item keeps the
    # answer's charge
    assert response.status_code == 200
    held = pending_holds(tenant.account_id)
    assert len(held) == 1
    assert held[0].pending is not None
    usage = response.json()["usage"]
    charge = price_micro(usage["prompt_tokens"], usage["completion_tokens"])
    assert held[0].pending["credits"] == charge
    assert balance_of(tenant.account_id) == 10_000_000 - held[0].amount
    # When the sweeper comes (the hold's window over), it charges the answer instead of releasing the
    # hold: not a gift
    result = sweep_expired(now=layout.window_end(held[0].window) + RELEASE_MARGIN_SECONDS + 1)
    assert (result.settled, result.charged) == (1, charge)
    assert balance_of(tenant.account_id) == 10_000_000 - charge
    entry = ledger_entry(response.headers["x-trace-id"])
    assert entry is not None
    assert (entry["status"], entry["credits"], entry["reserved"]) == ("success", charge, held[0].amount)


def pending_holds(account_id: str) -> list[Reservation]:
    """The holds of the account whose settlement failed, each with the charge it kept."""
    repository = CreditRepository(get_settings().table_name)
    return [
        pending
        for shard in accounts.get_account(account_id).balance_shards
        for window in shard.held
        for pending in repository.pending_in(account_id, shard.number, window)
    ]
