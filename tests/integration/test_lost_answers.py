"""A DynamoDB transaction that commits but whose answer is lost (the client times out, then retries it
by itself) is applied once: every TransactWriteItems carries its own ClientRequestToken."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from gateway import caches
from gateway.admin import main
from gateway.services import accounts
from tests.support.dynamo_faults import Fault, FaultProxy


@pytest.fixture
def proxy(proxied_gateway: tuple[str, FaultProxy]) -> Iterator[FaultProxy]:
    _, fault_proxy = proxied_gateway
    yield fault_proxy
    fault_proxy.disarm()


def top_up(account_id: str, credits: str, idempotency_key: str) -> int:
    """`gateway-admin top-up --idempotency-key`, in this process (its exit code)."""
    return main(["top-up", "--account", account_id, "--credits", credits, "--idempotency-key", idempotency_key])


def test_an_operator_top_up_whose_answer_was_lost_credits_once_and_its_idempotency_key_replays(proxy):
    """Without the token, the retry met the grant entry it had written and failed; the idempotency
    library forgot the key of a failed top-up, so `gateway-admin top-up --idempotency-key` run again
    credited the account a second time."""
    account = accounts.create_account("lost top-up", 1_000_000)
    caches.reset()
    proxy.arm(Fault("TransactWriteItems", 1, 1, "drop_after_commit"))
    assert top_up(account.account_id, "2", "invoice-7") == 0
    proxy.disarm()
    assert top_up(account.account_id, "2", "invoice-7") == 0
    after = accounts.get_account(account.account_id)
    assert (after.granted, after.balance) == (3_000_000, 3_000_000)


def test_a_top_up_that_failed_after_its_commit_credits_nothing_when_run_again(proxy):
    """The grant committed, then the read of the account it answers with failed through every retry:
    the tool exits with an error and its operator runs it again, as `--idempotency-key` invites. The
    idempotency library had forgotten the key of the failed run, and the second run credited again."""
    account = accounts.create_account("read after grant fails", 1_000_000)
    caches.reset()
    proxy.arm(None)
    accounts.top_up(account.account_id, 1)
    reads = [call.operation for call in proxy.disarm()].count("TransactGetItems")
    before = accounts.get_account(account.account_id)
    proxy.arm(Fault("TransactGetItems", reads, 4, "500"))  # the reads after the grant's commit
    assert top_up(account.account_id, "2", "invoice-9") != 0
    assert "TransactWriteItems" in [call.operation for call in proxy.disarm()]
    assert accounts.get_account(account.account_id).balance == before.balance + 2_000_000
    assert top_up(account.account_id, "2", "invoice-9") == 0
    assert top_up(account.account_id, "3", "invoice-9") != 0  # the same key for another amount
    after = accounts.get_account(account.account_id)
    assert (after.granted, after.balance) == (before.granted + 2_000_000, before.balance + 2_000_000)
