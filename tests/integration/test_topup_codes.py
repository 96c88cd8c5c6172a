"""Top-up codes: the operator mints them (shown once; the table keeps their hashes), a customer
redeems one with their key (`POST /api/user/topup`, new-api's shape); each code credits exactly once,
as a grant entry of the ledger (`source: code`), even when fifty try it at the same moment."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest

from gateway import clock
from gateway.billing.audit import audit_account
from gateway.config import get_settings
from gateway.errors import InvalidRequest
from gateway.services import topup_codes
from gateway.storage.codes import TopUpCode
from gateway.storage.ledger import LedgerReader
from gateway.storage.stores import stores
from tests.conftest import balance_of
from tests.support.control import AdminApi, operator

__all__ = ["operator"]
GRANT = 1_000_000


def redeem(gateway_url: str, key: str, code: Any) -> httpx.Response:
    return httpx.post(
        f"{gateway_url}/api/user/topup", json={"key": code}, headers={"Authorization": f"Bearer {key}"}, timeout=30
    )


def code_grants(account_id: str) -> list[Any]:
    return [grant for grant in LedgerReader(get_settings().table_name).grants(account_id) if grant.source == "code"]


def test_a_minted_code_credits_the_account_that_redeems_it_once(gateway_url, operator, make_tenant):
    body = {"credits": "2.5", "count": 2, "expires_in_days": 30}
    minted = operator.call("POST", "/codes", json=body, expect=201, whole=True)
    code, other = minted["codes"]
    assert code.startswith("gwc-")
    assert code != other
    assert [view["status"] for view in minted["data"]] == ["active", "active"]
    listed = operator.call("GET", "/codes", whole=True)
    assert code not in json.dumps(listed)  # operators list codes by id, never by text
    assert {view["id"] for view in minted["data"]} <= {view["id"] for view in listed["data"]}

    tenant = make_tenant("1")
    answer = redeem(gateway_url, tenant.key, code)
    assert answer.status_code == 200, answer.text
    assert (answer.json()["success"], answer.json()["data"]) == (True, 2.5)
    assert balance_of(tenant.account_id) == GRANT + 2_500_000
    assert [grant.amount for grant in code_grants(tenant.account_id)] == [2_500_000]
    assert audit_account(tenant.account_id).balanced

    again = redeem(gateway_url, tenant.key, code)
    assert again.status_code == 400
    assert again.json()["error"]["message"] == "This top-up code has already been redeemed."
    assert redeem(gateway_url, make_tenant("1").key, code.upper()).status_code == 400  # nor by anyone else
    assert balance_of(tenant.account_id) == GRANT + 2_500_000
    redeemed = next(view for view in operator.call("GET", "/codes") if view["id"] == minted["data"][0]["id"])
    assert (redeemed["status"], redeemed["redeemed_by"]) == ("redeemed", tenant.account_id)


def test_fifty_concurrent_redemptions_of_one_code_credit_once(gateway_env, make_tenant):
    """Given one code and fifty callers (ten accounts, five threads each) redeeming it at once
    Then exactly one redemption succeeds, one account gains the amount once, with one grant entry, and
    every account still equals its ledger."""
    (code,) = topup_codes.mint(7_000_000, 1)["codes"]
    tenants = [make_tenant("1") for _ in range(10)]

    def attempt(index: int) -> str:
        try:
            topup_codes.redeem(tenants[index % 10].account_id, code)
        except InvalidRequest as refused:
            return refused.message
        return "credited"

    with ThreadPoolExecutor(max_workers=50) as pool:
        outcomes = list(pool.map(attempt, range(50)))
    assert outcomes.count("credited") == 1, outcomes
    assert set(outcomes) - {"credited"} == {"This top-up code has already been redeemed."}
    credited = [t for t in tenants if balance_of(t.account_id) == GRANT + 7_000_000]
    assert len(credited) == 1
    assert sum(balance_of(t.account_id) for t in tenants) == 10 * GRANT + 7_000_000
    assert [grant.amount for t in tenants for grant in code_grants(t.account_id)] == [7_000_000]
    assert all(audit_account(t.account_id).balanced for t in tenants)


def test_fifty_concurrent_redemptions_over_http_credit_once(gateway_url, make_tenant):
    (code,) = topup_codes.mint(3_000_000, 1)["codes"]
    tenant = make_tenant("1")
    with ThreadPoolExecutor(max_workers=50) as pool:
        statuses = list(pool.map(lambda _: redeem(gateway_url, tenant.key, code).status_code, range(50)))
    assert sorted(statuses) == [200] + [400] * 49
    assert balance_of(tenant.account_id) == GRANT + 3_000_000


def test_a_disabled_or_expired_code_credits_nothing(gateway_url, operator, make_tenant):
    tenant = make_tenant("1")
    minted = operator.call("POST", "/codes", json={"credits": "1", "count": 1}, expect=201, whole=True)
    (code,), (view,) = minted["codes"], minted["data"]
    assert operator.patch(f"/codes/{view['id']}", {"disabled": True})["status"] == "disabled"
    refused = redeem(gateway_url, tenant.key, code)
    assert (refused.status_code, refused.json()["error"]["message"]) == (400, "This top-up code has been disabled.")
    assert operator.patch(f"/codes/{view['id']}", {"disabled": False})["status"] == "active"
    assert redeem(gateway_url, tenant.key, code).status_code == 200
    assert operator.patch(f"/codes/{view['id']}", {"disabled": True}, expect=404)  # redeemed: nothing to disable

    text = topup_codes.new_code()
    stale = TopUpCode(topup_codes.code_hash(text), 1_000_000, "active", clock.now_iso(), "t", clock.now_epoch() - 1)
    stores().codes.create([stale])
    expired = redeem(gateway_url, tenant.key, text)
    assert (expired.status_code, expired.json()["error"]["message"]) == (400, "This top-up code has expired.")
    assert balance_of(tenant.account_id) == GRANT + 1_000_000


@pytest.mark.parametrize(
    "body",
    [{"key": "gwc-doesnotexistanywhere00000"}, {"key": "not-a-code"}, {"key": ""}, {"key": 12}, {}, {"code": "x"}],
)
def test_bad_redemptions_are_400s_that_move_nothing(gateway_url, make_tenant, body):
    tenant = make_tenant("1")
    answer = httpx.post(f"{gateway_url}/api/user/topup", json=body, headers={"Authorization": f"Bearer {tenant.key}"})
    assert answer.status_code == 400
    assert balance_of(tenant.account_id) == GRANT


@pytest.mark.parametrize(
    "body",
    [
        {"credits": "0", "count": 1},
        {"credits": "1.0000001", "count": 1},
        {"credits": "1", "count": 1001},
        {"credits": "1", "count": 1, "expires_at": "2001-01-01T00:00:00Z"},
        {"credits": "1", "count": 1, "expires_at": "2099-01-01T00:00:00Z", "expires_in_days": 2},
        {"credits": "1", "count": True},
        {"credits": "1", "count": 1, "expires_at": "9999-12-31T23:59:59-23:59"},  # year 10000 in UTC
    ],
)
def test_bad_mints_are_400s(operator: AdminApi, body: dict[str, Any]) -> None:
    """Refused, and nothing minted: the code list (which renders every code's expiry) stays readable."""
    assert operator.call("POST", "/codes", json=body, expect=400)["error"]["code"] == "invalid_request"
    operator.call("GET", "/codes", expect=200)


def test_a_code_needs_a_key_and_no_key_mints(gateway_url, make_tenant):
    assert httpx.post(f"{gateway_url}/api/user/topup", json={"key": "gwc-x"}).status_code == 401
    management = make_tenant("1", kind="management")
    minting = httpx.post(
        f"{gateway_url}/api/admin/codes", json={"credits": "5"}, headers={"Authorization": f"Bearer {management.key}"}
    )
    assert minting.status_code == 403
