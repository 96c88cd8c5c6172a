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


def answered_with_the_store_down(gateway_url: str, tenant, monkeypatch, *, queue: bool = True):  # type: ignore[no-untyped-def]
    """A chat answered while DynamoDB takes neither its settlement nor its pending record (and, with
    `queue` False, while the unsettled queue refuses it too): (the answer, its hold's shard, window and
    amount)."""
    from gateway.billing import unsettled
    from tests.conftest import balance_of, settled

    def failing(*args, **kwargs):  # type: ignore[no-untyped-def]
        raise StorageUnavailable("ThrottlingException")

    monkeypatch.setattr(CreditRepository, "settle", failing)
    monkeypatch.setattr(CreditRepository, "record_pending", failing)
    if not queue:
        monkeypatch.setattr(unsettled, "sqs", failing)
    response = httpx.post(
        f"{gateway_url}/v1/chat/completions",
        json={"model": "test/echo", "messages": [{"role": "user", "content": "hello"}]},
        headers={"Authorization": f"Bearer {tenant.key}"},
        timeout=20,
    )
    settled()
    monkeypatch.undo()
    assert response.status_code == 200
    assert pending_holds(tenant.account_id) == []
    shards = accounts.get_account(tenant.account_id).balance_shards
    ((number, window, amount),) = [(s.number, *item) for s in shards for item in s.held.items() if item[1]]
    assert balance_of(tenant.account_id) == 10_000_000 - amount
    return response, number, window, amount


def charge_of(response: httpx.Response) -> int:
    usage = response.json()["usage"]
    return price_micro(usage["prompt_tokens"], usage["completion_tokens"])


def test_a_settlement_that_cannot_even_be_recorded_is_charged_from_the_unsettled_queue(
    gateway_url, upstream, make_tenant, monkeypatch
):
    from gateway.billing.sweeper import sweep_expired
    from tests.conftest import balance_of

    tenant = make_tenant("10")
    # Given an answer whose settlement and pending record DynamoDB both refused: its charge went to SQS
    response, _, window, amount = answered_with_the_store_down(gateway_url, tenant, monkeypatch)
    # When the sweeper comes, the hold's window over: it applies the queue before it gives holds back
    result = sweep_expired(now=layout.window_end(window) + RELEASE_MARGIN_SECONDS + 1)
    # Then the answer is charged against its hold, nothing is released, and once only
    charge = charge_of(response)
    assert (result.settled, result.charged, result.released, result.late) == (1, charge, 0, 0)
    assert balance_of(tenant.account_id) == 10_000_000 - charge
    entry = ledger_entry(response.headers["x-trace-id"])
    assert entry is not None
    assert (entry["status"], entry["credits"], entry["reserved"]) == ("success", charge, amount)
    assert sweep_expired(now=layout.window_end(window) + RELEASE_MARGIN_SECONDS + 2).settled == 0


def test_a_queued_charge_whose_hold_was_given_back_first_is_charged_late_never_below_zero(
    gateway_url, upstream, make_tenant, monkeypatch
):
    from gateway.billing import holds
    from gateway.billing.sweeper import sweep_expired
    from tests.conftest import balance_of

    first, second = make_tenant("10"), make_tenant("10")
    answers = [answered_with_the_store_down(gateway_url, tenant, monkeypatch) for tenant in (first, second)]
    # Given their holds given back before the queue was applied (an outage longer than the window:
    # a request saw the ended window first), and the second account's balance spent to 1 micro-credit
    for tenant, (_, number, window, _) in zip((first, second), answers, strict=True):
        holds.tidy(tenant.account_id, number, now=layout.window_end(window) + RELEASE_MARGIN_SECONDS + 1)
        assert balance_of(tenant.account_id) == 10_000_000
    spend_all_but_one(second, answers[1][1])
    # When the sweeper applies the queue
    (_, _, window, amount) = answers[0]
    result = sweep_expired(now=layout.window_end(window) + RELEASE_MARGIN_SECONDS + 2)
    # Then each answer is charged late from its balance, never below zero, and booked in the ledger
    charge = charge_of(answers[0][0])
    assert (result.late, result.charged) == (2, charge + 1)
    assert balance_of(first.account_id) == 10_000_000 - charge
    assert balance_of(second.account_id) == 0
    entries = [ledger_entry(response.headers["x-trace-id"]) for response, *_ in answers]
    assert [(e["credits"], e["reserved"]) for e in entries if e] == [(charge, amount), (1, answers[1][3])]
    # And applying the queue again charges nothing more
    assert sweep_expired(now=layout.window_end(window) + RELEASE_MARGIN_SECONDS + 3).late == 0


def spend_all_but_one(tenant, number: int) -> None:  # type: ignore[no-untyped-def]
    """The account's balance spent down to one micro-credit, kept on shard `number`: each shard
    charged what it has beyond that, with a ledger entry (the books stay balanced)."""
    from gateway.billing.credits import Outcome, ledger_entry
    from gateway.clock import now_iso
    from gateway.ids import new_trace_id
    from gateway.storage.stores import stores

    for shard in accounts.get_account(tenant.account_id).balance_shards:
        spent = shard.balance - (1 if shard.number == number else 0)
        if spent > 0:
            spending = Reservation(
                new_trace_id(), tenant.account_id, tenant.key_hash, "sk-gw-", "test/echo", spent, now_iso(), 0,
                shard=shard.number,
            )  # fmt: skip
            outcome = Outcome("chat", "openai", 200, None, 0, 0, spent, 1)
            assert stores().credits.charge_late(spending, ledger_entry(spending, outcome), 2**31) is not None


def test_a_settlement_refused_by_the_store_and_the_queue_leaves_the_hold_for_the_sweeper(
    gateway_url, upstream, make_tenant, monkeypatch
):
    from gateway.billing.sweeper import sweep_expired
    from tests.conftest import balance_of

    tenant = make_tenant("10")
    _, _, window, amount = answered_with_the_store_down(gateway_url, tenant, monkeypatch, queue=False)
    # Then with nothing kept anywhere, the sweeper can only release the hold (the one ending where the
    # provider is paid and the client not: DynamoDB and SQS both failing at once)
    assert sweep_expired(now=layout.window_end(window) + RELEASE_MARGIN_SECONDS + 1).released == amount
    assert balance_of(tenant.account_id) == 10_000_000


def pending_holds(account_id: str) -> list[Reservation]:
    """The holds of the account whose settlement failed, each with the charge it kept."""
    repository = CreditRepository(get_settings().table_name)
    return [
        pending
        for shard in accounts.get_account(account_id).balance_shards
        for window in shard.held
        for pending in repository.pending_in(account_id, shard.number, window)
    ]
