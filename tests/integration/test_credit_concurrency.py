"""Credits under concurrency: reservations are atomic, so no balance goes below zero."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

import httpx

from gateway.billing import estimate
from gateway.catalog.registry import get_catalog
from gateway.formats.openai import ChatCompletionRequest
from gateway.money import MICRO
from gateway.services import accounts, keys
from tests.conftest import balance_of, ledger_entry

BODY = {"model": "test/hold", "messages": [{"role": "user", "content": "race"}], "max_tokens": 50}


def reservation_for(body: dict) -> int:
    request = ChatCompletionRequest.model_validate(body)
    entry = get_catalog().resolve(body["model"])
    assert entry is not None
    wire = request.wire_body()
    return estimate.reservation_amount(
        entry,
        estimate.prompt_token_bound(wire, entry.context_length),
        estimate.completion_token_bound(entry, request.max_tokens, 1),
    )


def test_fifty_concurrent_requests_on_ten_estimates_let_exactly_ten_through(gateway_url, upstream, gateway_env):
    # Given an account whose credits cover exactly ten estimates
    amount = reservation_for(BODY)
    account = accounts.create_account("race", 10 * amount)
    key = keys.issue_key(account.account_id, "race", "inference").key

    def call(_: int) -> httpx.Response:
        return httpx.post(
            f"{gateway_url}/v1/chat/completions",
            json=BODY,
            headers={"Authorization": f"Bearer {key}"},
            timeout=60,
        )

    # When 50 requests arrive at once, and the upstream holds every call it gets
    with ThreadPoolExecutor(max_workers=50) as pool:
        futures = [pool.submit(call, i) for i in range(50)]
        deadline = time.monotonic() + 30
        while sum(f.done() for f in futures) < 40 and time.monotonic() < deadline:
            time.sleep(0.05)
        # Then 40 are refused with 402 while 10 are held at the upstream
        refused = [f.result() for f in futures if f.done()]
        assert len(refused) == 40
        assert all(r.status_code == 402 for r in refused)
        assert all(r.json()["error"]["code"] == "insufficient_credits" for r in refused)
        while upstream.held < 10 and time.monotonic() < deadline:  # admitted calls may still be on their way
            time.sleep(0.05)
        assert upstream.held == 10
        upstream.release()
        answered = [f.result() for f in futures if f not in refused]
    responses = [f.result() for f in futures]
    assert sum(r.status_code == 200 for r in responses) == 10
    assert len(upstream.calls("hold")) == 10

    # And the balance equals the grant minus the ledger's charges, to the micro-credit
    charges = [ledger_entry(r.headers["x-trace-id"]) for r in responses if r.status_code == 200]
    assert all(entry is not None and entry["status"] == "success" for entry in charges)
    total = sum(entry["credits"] for entry in charges)  # type: ignore[index]
    assert total > 0
    assert balance_of(account.account_id) == 10 * amount - total >= 0
    # And refused requests left no ledger entry and no reservation behind
    assert all(ledger_entry(r.headers["x-trace-id"]) is None for r in responses if r.status_code == 402)
    assert answered


def test_the_reservation_unit_is_integer_micro_credits(gateway_env):
    amount = reservation_for(BODY)
    assert isinstance(amount, int)
    assert 0 < amount < MICRO
