"""An operator's change under an Idempotency-Key is done once, and the key stands for that change
only: resent with other values (the console keeps one key until a submit succeeds, so an edited form
resent after a lost answer) it is a 409, never a 200 "replayed" that silently kept the old values; a
code mint resent with the default batch name is replayed (its name comes from the clock); an empty
key is a 400, not no key (a retried top-up would credit twice)."""

from __future__ import annotations

import secrets
import time
import uuid

import pytest

from gateway.services import catalog_admin
from tests.conftest import balance_of
from tests.integration.test_runtime_catalog import model_spec
from tests.support.console import CognitoPool, ConsoleApi
from tests.support.control import unique


@pytest.fixture
def ops(gateway_url: str, cognito: CognitoPool) -> ConsoleApi:
    return ConsoleApi(gateway_url, cognito.sign_up(f"ops-{secrets.token_hex(4)}@example.com", operator=True))


def test_a_group_ratio_resent_with_another_value_under_one_key_is_a_409(ops):
    group, key = unique("grp"), {"Idempotency-Key": str(uuid.uuid4())}
    assert ops.put(f"/admin/groups/{group}", {"ratio": "0.5"}, headers=key).status_code == 200
    again = ops.put(f"/admin/groups/{group}", {"ratio": "0.5"}, headers=key)
    assert (again.status_code, again.json()["replayed"]) == (200, True)
    other = ops.put(f"/admin/groups/{group}", {"ratio": "0.9"}, headers=key)
    assert other.status_code == 409, other.text
    groups = {g["name"]: g for g in ops.ok(ops.get("/admin/groups"))["data"]}
    assert groups[group]["ratio"] == "0.5"


def test_a_model_price_resent_with_another_value_under_one_key_is_a_409(ops, upstream):
    model_id = unique("ops/idem")
    assert ops.post("/admin/models", model_spec(model_id)).status_code in (200, 201)
    try:
        key = {"Idempotency-Key": str(uuid.uuid4())}
        first = ops.patch(f"/admin/models/{model_id}", {"pricing": {"input": "1", "output": "1"}}, headers=key)
        assert first.status_code == 200, first.text
        other = ops.patch(f"/admin/models/{model_id}", {"pricing": {"input": "9", "output": "9"}}, headers=key)
        assert other.status_code == 409, other.text
        assert str(catalog_admin.get_model(model_id)["pricing"]["input"]) == "1"
    finally:
        catalog_admin.delete_model(model_id)


def test_a_code_mint_resent_with_the_default_batch_name_is_replayed(ops):
    key = {"Idempotency-Key": str(uuid.uuid4())}
    first = ops.post("/admin/codes", {"credits": "1", "count": 1}, headers=key)
    assert first.status_code in (200, 201), first.text
    time.sleep(1.1)  # the default batch name, made from the clock, is another one by now
    again = ops.post("/admin/codes", {"credits": "1", "count": 1}, headers=key)
    assert again.status_code in (200, 201), again.text
    assert again.json()["replayed"] is True
    assert again.json()["action"]["action_id"] == first.json()["action"]["action_id"]


def test_an_empty_key_is_a_400_that_credits_nothing(ops, make_tenant):
    tenant = make_tenant("1")
    before = balance_of(tenant.account_id)
    path = f"/admin/accounts/{tenant.account_id}/top-up"
    statuses = [ops.post(path, {"credits": "1"}, headers={"Idempotency-Key": ""}).status_code for _ in range(2)]
    assert statuses == [400, 400]
    assert balance_of(tenant.account_id) == before
