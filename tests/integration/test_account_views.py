"""What any key can read about itself and its account (keys function)."""

from __future__ import annotations

import httpx

from gateway.services import accounts


def test_a_key_reads_its_own_record_account_and_quota(gateway_url, upstream, make_tenant):
    tenant = make_tenant("3")
    headers = {"Authorization": f"Bearer {tenant.key}"}
    httpx.post(
        f"{gateway_url}/v1/chat/completions",
        json={"model": "test/echo", "messages": [{"role": "user", "content": "spend a little"}]},
        headers=headers,
    ).raise_for_status()

    key = httpx.get(f"{gateway_url}/api/v1/key", headers=headers).json()["data"]
    assert key["hash"] == tenant.key_hash
    assert key["kind"] == "inference"
    assert tenant.key not in str(key)

    me = httpx.get(f"{gateway_url}/api/user/self", headers=headers).json()
    assert (me["id"], me["role"]) == (tenant.account_id, "inference")

    quota = httpx.get(f"{gateway_url}/api/user/self/quota", headers=headers).json()
    account = accounts.get_account(tenant.account_id)
    assert quota["total"] == 3
    assert quota["quota"] == account.balance / 1_000_000
    assert quota["used"] > 0
    assert round(quota["quota"] + quota["used"], 6) == 3


def test_account_views_need_a_valid_key(gateway_url):
    response = httpx.get(f"{gateway_url}/api/user/self/quota", headers={"Authorization": "Bearer sk-gw-nope"})
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "invalid_api_key"
