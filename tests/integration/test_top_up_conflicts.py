"""On DynamoDB (not Local, which serializes writes) a transaction meeting another on one of its items is
cancelled with TransactionConflict, and a top-up meets every request's hold on the account's shards:
an operator's top-up, from the console or the CLI, is retried as a code redemption is, not refused."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from typing import Any

import pytest

from gateway import caches
from gateway.admin import main
from gateway.money import credits_to_micro
from gateway.services import accounts
from tests.conftest import balance_of
from tests.support.console import ConsoleApi
from tests.support.dynamo_faults import FaultProxy


@pytest.fixture
def proxy(proxied_gateway: tuple[str, FaultProxy]) -> Iterator[FaultProxy]:
    _, fault_proxy = proxied_gateway
    yield fault_proxy
    fault_proxy.contend(0)
    fault_proxy.disarm()


def test_a_console_top_up_meeting_conflicts_is_retried(
    proxied_gateway: tuple[str, FaultProxy], proxy: FaultProxy, cognito: Any
) -> None:
    url, _ = proxied_gateway
    operator = ConsoleApi(url, cognito.sign_up(f"ops-{secrets.token_hex(4)}@example.com", operator=True))
    customer = ConsoleApi(url, cognito.sign_up())
    account_id = customer.ok(customer.get("/me"))["account"]["account_id"]
    operator.ok(operator.get(f"/admin/accounts/{account_id}"))
    before = balance_of(account_id)
    proxy.contend(0.3)  # three writes in ten cancelled by a conflict
    statuses = [
        operator.post(
            f"/admin/accounts/{account_id}/top-up", {"credits": "1"}, headers={"Idempotency-Key": f"conflict-{n}"}
        ).status_code
        for n in range(12)
    ]
    assert statuses == [200] * 12
    assert balance_of(account_id) == before + 12 * credits_to_micro("1")


def test_a_cli_top_up_meeting_conflicts_is_retried(proxy: FaultProxy) -> None:
    account = accounts.create_account("contended", 1_000_000)
    caches.reset()
    proxy.contend(0.3)
    codes = [main(["top-up", "--account", account.account_id, "--credits", "1"]) for _ in range(12)]
    assert codes == [0] * 12
    assert balance_of(account.account_id) == 13_000_000
