"""The user's own key manages keys on PotatoRouter's /api/token and poeti's /api/v1/api-keys, and
never escalates: what it creates stays within its credit limit, rate limit, allow-lists and expiry,
on creation and on every request after (the reserve transaction checks and charges the creator too),
however many keys it makes and whatever a management key later changes on them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from gateway.services import accounts, keys
from tests.conftest import balance_of
from tests.support.keys_api import KeysApi, chat

GRANT = 100_000_000


@pytest.fixture
def account(gateway_env):  # type: ignore[no-untyped-def]
    return accounts.create_account("delegation", GRANT)


@pytest.fixture
def management(gateway_url, account) -> KeysApi:  # type: ignore[no-untyped-def]
    return KeysApi(gateway_url, keys.issue_key(account.account_id, "ops", "management").key)


def own_key(management: KeysApi, **limits: Any) -> str:
    """An inference key, as a management key made it, with these limits."""
    return str(management.create(name="mine", **limits)["key"])


def call(url: str, key: str, method: str, path: str, body: dict[str, Any] | None = None) -> httpx.Response:
    return httpx.request(method, f"{url}{path}", json=body, headers={"Authorization": f"Bearer {key}"}, timeout=20)


def record_of(url: str, key: str) -> dict[str, Any]:
    answer = call(url, key, "GET", "/api/v1/key")
    assert answer.status_code == 200, answer.text
    return answer.json()["data"]  # type: ignore[no-any-return]


def test_potatorouters_example_creates_lists_and_revokes_a_token_with_the_users_own_key(
    gateway_url, upstream, management
):
    mine = own_key(management)
    created = call(gateway_url, mine, "POST", "/api/token", {"name": "我的应用"})
    assert created.status_code == 200, created.text
    token = created.json()["data"]
    assert (created.json()["success"], token["name"], token["status"]) == (True, "我的应用", 1)
    assert chat(gateway_url, token["key"]).status_code == 200
    listed = call(gateway_url, mine, "GET", "/api/token").json()["data"]
    assert {t["name"] for t in listed} == {"mine", "我的应用"}  # itself and what it created
    assert call(gateway_url, mine, "DELETE", f"/api/token/{token['id']}").json() == {"success": True, "message": ""}
    assert chat(gateway_url, token["key"]).status_code == 401


def test_poetis_example_creates_and_lists_api_keys_with_the_users_own_key(gateway_url, upstream, management):
    mine = own_key(management)
    created = call(
        gateway_url, mine, "POST", "/api/v1/api-keys", {"name": "我的应用", "monthly_budget": 50.0, "rate_limit": 100}
    )
    assert created.status_code == 200, created.text
    data = created.json()["data"]
    assert (data["monthly_budget"], data["rate_limit"], data["is_active"]) == (50, 100, True)
    assert chat(gateway_url, data["key"]).status_code == 200
    listed = call(gateway_url, mine, "GET", "/api/v1/api-keys").json()
    assert listed["code"] == 200
    assert {k["name"] for k in listed["data"]} == {"mine", "我的应用"}


def test_a_key_sees_and_revokes_only_itself_and_what_it_created(gateway_url, management):
    mine, other = own_key(management), own_key(management)
    theirs = call(gateway_url, other, "POST", "/api/token", {"name": "theirs"}).json()["data"]
    other_hash = record_of(gateway_url, other)["hash"]
    assert {t["name"] for t in call(gateway_url, mine, "GET", "/api/token").json()["data"]} == {"mine"}
    for target in (theirs["id"], other_hash):
        refused = call(gateway_url, mine, "DELETE", f"/api/token/{target}")
        assert refused.status_code == 404
    assert record_of(gateway_url, other)["disabled"] is False
    # a management key still manages them all
    every = management.http.get("/api/token").json()["data"]
    assert {t["name"] for t in every} >= {"mine", "theirs"}


LATER = datetime.now(UTC) + timedelta(days=2)


@pytest.fixture
def limited(gateway_url, management) -> str:  # type: ignore[no-untyped-def]
    return own_key(
        management,
        limit=5,
        limit_reset="monthly",
        rate_limit=10,
        allowed_models=["test/echo", "test/pricey"],
        allowed_providers=["fake"],
        expires_at=LATER.isoformat(),
    )


@pytest.mark.parametrize(
    ("path", "body", "param"),
    [
        ("/api/token", {"name": "more", "remain_quota": 6, "unlimited_quota": False}, "remain_quota"),
        ("/api/v1/api-keys", {"name": "more", "monthly_budget": 50}, "monthly_budget"),
        ("/api/v1/api-keys", {"name": "faster", "rate_limit": 11}, "rate_limit"),
        (
            "/api/token",
            {"name": "longer", "expired_time": int((LATER + timedelta(days=1)).timestamp())},
            "expired_time",
        ),
    ],
    ids=["credit-limit", "monthly-budget", "rate-limit", "expiry"],
)
def test_a_key_cannot_create_a_key_beyond_itself(gateway_url, limited, path, body, param):
    refused = call(gateway_url, limited, "POST", path, body)
    assert refused.status_code == 400, refused.text
    assert refused.json()["error"]["param"] == param
    assert [k["name"] for k in call(gateway_url, limited, "GET", "/api/token").json()["data"]] == ["mine"]


def test_what_a_key_creates_inherits_its_limits_allow_lists_and_expiry(gateway_url, upstream, limited):
    # Given a limited key that creates a token asking for nothing ("unlimited" by one-api's default)
    token = call(gateway_url, limited, "POST", "/api/token", {"name": "child"}).json()["data"]
    # Then the token is never unlimited: it has its creator's limits, allow-lists and expiry
    child = record_of(gateway_url, token["key"])
    assert (child["limit"], child["limit_reset"], child["rate_limit"]) == (5, "monthly", 10)
    assert (child["allowed_models"], child["allowed_providers"]) == (["test/echo", "test/pricey"], ["fake"])
    assert child["expires_at"] == record_of(gateway_url, limited)["expires_at"]
    assert child["created_by"] == record_of(gateway_url, limited)["hash"]
    assert token["unlimited_quota"] is False
    # and it is refused what its creator is refused
    assert chat(gateway_url, token["key"], "test/claude").status_code == 403
    # A smaller limit and a narrower list are fine
    smaller = call(
        gateway_url, limited, "POST", "/api/v1/api-keys", {"name": "small", "monthly_budget": 1, "rate_limit": 2}
    )
    assert smaller.status_code == 200, smaller.text


def test_a_created_key_cannot_create_keys(gateway_url, management):
    mine = own_key(management)
    child = call(gateway_url, mine, "POST", "/api/token", {"name": "child"}).json()["data"]["key"]
    for path in ("/api/token", "/api/v1/api-keys"):
        refused = call(gateway_url, child, "POST", path, {"name": "grandchild"})
        assert refused.status_code == 403
        assert refused.json()["error"]["code"] == "forbidden"
    # it sees only itself
    assert [t["name"] for t in call(gateway_url, child, "GET", "/api/token").json()["data"]] == ["child"]


def test_keys_a_key_creates_spend_from_its_limit_however_many_there_are(gateway_url, upstream, management, account):
    """Each pricey call (one output token) costs ~0.0015 credits: the creator's 0.002 fits one of them,
    whichever of its keys makes it, even when a management key raises a child's own limit."""
    mine = own_key(management, limit=0.002)
    first, second = (call(gateway_url, mine, "POST", "/api/token", {"name": n}).json()["data"] for n in ("a", "b"))
    management.patch(first["id"], limit=10)  # a management key may raise a child: its creator still binds it
    assert chat(gateway_url, first["key"], "test/pricey", max_tokens=1).status_code == 200
    spent = GRANT - balance_of(account.account_id)
    # the creator's limit counts what its key spent, the unused hold released
    assert record_of(gateway_url, mine)["limit_remaining"] == pytest.approx((2_000 - spent) / 1_000_000)
    refused = chat(gateway_url, second["key"], "test/pricey", max_tokens=1)
    assert refused.status_code == 402, refused.text
    assert "created this API key" in refused.json()["error"]["message"]
    assert chat(gateway_url, first["key"], "test/pricey", max_tokens=1).status_code == 402
    assert chat(gateway_url, mine, "test/pricey", max_tokens=1).status_code == 402
    assert GRANT - balance_of(account.account_id) == spent  # refused requests moved no credit


def test_keys_a_key_creates_share_its_rate_limit(gateway_url, upstream, management):
    mine = own_key(management, rate_limit=2)
    children = [call(gateway_url, mine, "POST", "/api/token", {"name": n}).json()["data"]["key"] for n in "ab"]
    answers = [chat(gateway_url, key).status_code for key in (*children, mine)]
    assert answers == [200, 200, 429]


def test_a_created_key_stops_with_its_creator(gateway_url, upstream, management):
    mine = own_key(management)
    mine_hash = record_of(gateway_url, mine)["hash"]
    child = call(gateway_url, mine, "POST", "/api/token", {"name": "child"}).json()["data"]["key"]
    assert chat(gateway_url, child).status_code == 200
    management.patch(mine_hash, disabled=True)
    disabled = chat(gateway_url, child)
    assert (disabled.status_code, disabled.json()["error"]["code"]) == (403, "api_disabled")
    management.patch(mine_hash, disabled=False)
    management.patch(mine_hash, allowed_models=["test/multi"])  # narrowed: the child is narrowed too
    assert chat(gateway_url, child).status_code == 403
    assert management.delete(mine_hash).status_code == 200
    assert chat(gateway_url, child).status_code == 401


@pytest.mark.parametrize("expired_time", [0, 1_000_000_000, 10**12, 10**30])
def test_a_token_expiring_in_the_past_or_never_representable_is_a_400(gateway_url, management, expired_time):
    mine = own_key(management)
    refused = call(gateway_url, mine, "POST", "/api/token", {"name": "x", "expired_time": expired_time})
    assert refused.status_code == 400, refused.text
    assert refused.json()["error"]["param"] == "expired_time"
