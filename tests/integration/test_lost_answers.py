"""A DynamoDB transaction that commits but whose answer is lost (the client times out, then retries it
by itself) is applied once: every TransactWriteItems carries its own ClientRequestToken."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from gateway import caches
from gateway.services import accounts
from tests.support.dynamo_faults import Fault, FaultProxy


@pytest.fixture
def proxy(proxied_gateway: tuple[str, FaultProxy]) -> Iterator[FaultProxy]:
    _, fault_proxy = proxied_gateway
    yield fault_proxy
    fault_proxy.disarm()


def test_an_operator_top_up_whose_answer_was_lost_credits_once_and_its_idempotency_key_replays(proxy):
    """Without the token, the retry met the grant entry it had written and failed; the idempotency
    library forgot the key of a failed top-up, so `gateway-admin top-up --idempotency-key` run again
    credited the account a second time."""
    account = accounts.create_account("lost top-up", 1_000_000)
    caches.reset()
    proxy.arm(Fault("TransactWriteItems", 1, 1, "drop_after_commit"))
    first = accounts.top_up_once(account.account_id, 2_000_000, "invoice-7")
    proxy.disarm()
    again = accounts.top_up_once(account.account_id, 2_000_000, "invoice-7")
    assert again == first
    after = accounts.get_account(account.account_id)
    assert (after.granted, after.balance) == (3_000_000, 3_000_000)
