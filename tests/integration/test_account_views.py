"""What any key can read about itself and its account (keys function)."""

from __future__ import annotations

import httpx

from gateway.services import accounts
from tests.conftest import settled


def test_a_key_reads_its_own_record_account_and_quota(gateway_url, upstream, make_tenant):
    tenant = make_tenant("3")
    headers = {"Authorization": f"Bearer {tenant.key}"}
    httpx.post(
        f"{gateway_url}/v1/chat/completions",
        json={"model": "test/echo", "messages": [{"role": "user", "content": "spend a little"}]},
        headers=headers,
    ).raise_for_status()
    settled()  # the answer's settlement is written after it

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


def test_the_account_view_has_potatorouters_username_email_and_role(gateway_url, gateway_env):
    """PotatoRouter: /api/user/self gives the user name, email and role (the operator sets the email
    with `gateway-admin create-account --email`)."""
    from gateway.services import keys
    from tests.conftest import TEST_TABLE
    from tests.integration.test_admin_cli import admin, ok

    created = ok(
        admin(gateway_env, "--table", TEST_TABLE, "create-account", "--name", "Acme", "--email", "ops@acme.example")
    )
    assert created["email"] == "ops@acme.example"
    key = keys.issue_key(created["account_id"], "app", "inference").key
    me = httpx.get(f"{gateway_url}/api/user/self", headers={"Authorization": f"Bearer {key}"}).json()
    assert (me["username"], me["display_name"], me["email"], me["role"]) == (
        "Acme",
        "Acme",
        "ops@acme.example",
        "inference",
    )
    # an account without an email says so
    bare = accounts.create_account("Bare", 0)
    bare_key = keys.issue_key(bare.account_id, "ops", "management").key
    mine = httpx.get(f"{gateway_url}/api/user/self", headers={"Authorization": f"Bearer {bare_key}"}).json()
    assert (mine["username"], mine["email"], mine["role"]) == ("Bare", None, "management")
