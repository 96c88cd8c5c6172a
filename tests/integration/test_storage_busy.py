"""DynamoDB throttling past the client's retries is a store outage, whatever the write: the gateway's
own transactions (storage/transactions.transact: a top-up code's redemption, an operator's catalog
change) answer 503 `service_unavailable` with Retry-After in the endpoint's envelope, as a throttled
key lookup does, never a 500 `internal_error`. A write DynamoDB can never take (ValidationException)
is no outage: it is not retried and not called one."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from gateway.storage import layout
from gateway.storage.dynamo_client import DynamoError
from gateway.storage.stores import stores
from gateway.storage.transactions import transact
from tests.conftest import TEST_TABLE
from tests.support.control import unique
from tests.support.dynamo_faults import Fault, FaultProxy


@pytest.fixture
def throttle(proxied_gateway: tuple[str, FaultProxy]) -> Iterator[Any]:
    """Arms throttling of every transaction (past the client's and transact's retries)."""
    _, proxy = proxied_gateway
    yield lambda: proxy.arm(Fault("TransactWriteItems", 1, 10_000, "throttle"))
    proxy.arm(None)


def test_a_code_redeemed_while_dynamodb_throttles_is_a_503_with_retry_after(proxied_gateway, throttle, make_tenant):
    from gateway.services import topup_codes

    url, _ = proxied_gateway
    tenant = make_tenant("1")
    code = topup_codes.mint(1_000_000, 1)["codes"][0]
    throttle()
    response = httpx.post(
        f"{url}/api/user/topup", json={"key": code}, headers={"Authorization": f"Bearer {tenant.key}"}, timeout=60
    )
    assert response.status_code == 503, response.text[:300]
    assert response.headers["retry-after"] == "1"
    assert "internal_error" not in response.text


def test_an_operator_change_while_dynamodb_throttles_is_a_503_in_the_admin_envelope(
    proxied_gateway, throttle, make_tenant
):
    from gateway.services.operator_keys import issue_operator_key

    url, _ = proxied_gateway
    make_tenant("1")  # the suite's ledger audit wants an account
    key = issue_operator_key("throttled").key
    throttle()
    response = httpx.put(
        f"{url}/api/admin/groups/{unique('g')}",
        json={"ratio": "0.9"},
        headers={"Authorization": f"Bearer {key}"},
        timeout=60,
    )
    assert response.status_code == 503, response.text[:300]
    assert response.headers["retry-after"] == "1"
    assert response.json()["error"]["code"] == "service_unavailable"


def test_a_transaction_dynamodb_can_never_take_is_not_a_store_outage(gateway_env):
    too_big = {**layout.key(unique("TEST#big"), "X"), "blob": {"S": "x" * 420_000}}
    with pytest.raises(DynamoError) as refused:
        transact(stores().control.db, [{"Put": {"TableName": TEST_TABLE, "Item": too_big}}])
    assert refused.value.code == "ValidationException"
