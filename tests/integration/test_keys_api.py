"""The keys API over HTTP: a management key runs a key's whole life, and the hot path enforces
what it sets (limits, rate limits, allow-lists, disabling, revocation) on the very next request."""

from __future__ import annotations

import json

import pytest

from gateway import clock
from gateway.services import accounts, keys
from tests.conftest import TEST_IDEMPOTENCY_TABLE, TEST_TABLE, aggregated, balance_of, ledger_entry
from tests.support.control import eventually
from tests.support.keys_api import KeysApi, chat


@pytest.fixture
def account(gateway_env):  # type: ignore[no-untyped-def]
    return accounts.create_account("keys", 100_000_000)


@pytest.fixture
def api(gateway_url, account):  # type: ignore[no-untyped-def]
    management = keys.issue_key(account.account_id, "ops", "management").key
    return KeysApi(gateway_url, management)


@pytest.fixture
def shifted_clock(monkeypatch):  # type: ignore[no-untyped-def]
    """Move the gateway's clock forward (it runs in this process)."""
    real = clock.now
    offset = {"seconds": 0.0}
    monkeypatch.setattr(clock, "now", lambda: real() + offset["seconds"])
    return offset


def scan(table: str) -> str:
    from gateway.storage import dynamo

    pages, kwargs = [], {"TableName": table}
    while True:
        page = dynamo.client().scan(**kwargs)
        pages.append(json.dumps(page["Items"]))
        if "LastEvaluatedKey" not in page:
            return "".join(pages)
        kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def test_a_key_lifecycle_from_creation_to_revocation(gateway_url, upstream, api):
    # Create: the full key is shown once; the tables hold only its hash
    created = api.create(name="backend", limit=1, limit_reset="daily")
    key, view = created["key"], created["data"]
    assert key.startswith("sk-gw-")
    assert view["key_prefix"] == key[:10] + "..."
    assert (view["limit"], view["limit_remaining"], view["limit_reset"]) == (1, 1, "daily")
    assert key not in scan(TEST_TABLE) + scan(TEST_IDEMPOTENCY_TABLE)

    # List: hash and prefix, never the key, with its usage so far
    (listed,) = [k for k in api.list() if k["hash"] == view["hash"]]
    assert "key" not in listed
    assert listed["usage"] == {"total_requests": 0, "total_credits": 0}

    # Use: the charge shows in the key's usage (once aggregated from the ledger) and remaining limit
    response = chat(gateway_url, key)
    assert response.status_code == 200, response.text
    charged = ledger_entry(response.headers["x-trace-id"])["credits"]  # type: ignore[index]
    aggregated()
    after = api.get(view["hash"]).json()["data"]
    assert after["usage"] == {"total_requests": 1, "total_credits": charged / 1_000_000}
    assert after["limit_remaining"] == (1_000_000 - charged) / 1_000_000

    # Hit the limit: a limit below one request's estimate refuses it, naming the key's limit
    api.patch(view["hash"], limit=0.001)
    refused = chat(gateway_url, key)
    assert refused.status_code == 402
    assert "key's credit limit" in refused.json()["error"]["message"]
    assert refused.json()["error"]["code"] == "insufficient_credits"

    # Raise the limit and go on, on the very next request
    api.patch(view["hash"], limit=5)
    assert chat(gateway_url, key).status_code == 200

    # Disable, enable
    api.patch(view["hash"], disabled=True)
    assert chat(gateway_url, key).json()["error"]["code"] == "api_disabled"
    api.patch(view["hash"], disabled=False)
    assert chat(gateway_url, key).status_code == 200

    # Delete: revoked at once, gone from the list and from reads
    assert api.delete(view["hash"]).status_code == 200
    assert chat(gateway_url, key).status_code == 401
    assert view["hash"] not in {k["hash"] for k in api.list()}
    assert api.get(view["hash"]).status_code == 404
    assert api.delete(view["hash"]).status_code == 404


def test_rate_limit_refuses_with_retry_after_and_recovers_in_the_next_window(gateway_url, upstream, api, shifted_clock):
    key = api.create(name="limited", rate_limit=3)["key"]
    # The gateway's clock stands a second into a minute, so the burst falls in one window
    shifted_clock["seconds"] = 61 - clock.now() % 60
    remaining = []
    for _ in range(3):
        response = chat(gateway_url, key)
        assert response.status_code == 200, response.text
        assert response.headers["x-ratelimit-limit-requests"] == "3"
        remaining.append(int(response.headers["x-ratelimit-remaining-requests"]))
    assert remaining == [2, 1, 0]

    refused = chat(gateway_url, key)
    assert refused.status_code == 429
    error = refused.json()["error"]
    assert error["code"] == "rate_limit_exceeded"
    assert "3 requests per minute" in error["message"]
    retry_after = int(refused.headers["retry-after"])
    assert 1 <= retry_after <= 60
    assert refused.headers["x-ratelimit-remaining-requests"] == "0"
    assert refused.headers["x-ratelimit-reset-requests"] == f"{retry_after}s"

    # After the window (the clock moved past it), requests go through again
    shifted_clock["seconds"] += retry_after
    assert chat(gateway_url, key).status_code == 200


def test_a_key_limit_of_5_holds_under_40_concurrent_requests(gateway_url, upstream, api, account):
    from concurrent.futures import ThreadPoolExecutor

    from gateway import periods
    from gateway.config import get_settings
    from gateway.storage.api_keys import ApiKeyRepository

    # Given a key limited to 5 credits, on an account with 100, and requests each worth ~1.5 credits
    created = api.create(name="capped", limit=5)
    key, key_hash = created["key"], created["data"]["hash"]
    with ThreadPoolExecutor(max_workers=40) as pool:
        responses = list(pool.map(lambda _: chat(gateway_url, key, "test/pricey", max_tokens=1000), range(40)))
    ok = [r for r in responses if r.status_code == 200]
    refused = [r for r in responses if r.status_code != 200]
    assert all(r.status_code == 402 for r in refused)
    assert all("key's credit limit" in r.json()["error"]["message"] for r in refused)
    # Then the key was charged at most 5 credits in all
    charges = [ledger_entry(r.headers["x-trace-id"])["credits"] for r in ok]  # type: ignore[index]
    assert len(ok) == 3  # each charge ~1.5 credits: a fourth would pass 5
    assert sum(charges) <= 5_000_000
    # And the account, the key's usage and the ledger agree to the micro-credit
    assert balance_of(account.account_id) == 100_000_000 - sum(charges)
    usage = ApiKeyRepository(get_settings().table_name).period_usage(key_hash, periods.LIFETIME)
    assert usage == sum(charges)
    aggregated()  # the key's totals are added from the ledger's stream
    assert api.get(key_hash).json()["data"]["usage"]["total_requests"] == 3


def test_allow_lists_refuse_other_models_and_shape_the_model_list(gateway_url, upstream, api):
    key_hash_and_key = api.create(name="narrow", allowed_models=["echo"])
    key, key_hash = key_hash_and_key["key"], key_hash_and_key["data"]["hash"]
    assert key_hash_and_key["data"]["allowed_models"] == ["echo"]
    assert chat(gateway_url, key, "test/echo").status_code == 200
    refused = chat(gateway_url, key, "test/no-usage")
    assert refused.status_code == 403
    assert refused.json()["error"]["code"] == "model_not_allowed"
    listed = {m["id"] for m in api.http.get("/v1/models", headers={"Authorization": f"Bearer {key}"}).json()["data"]}
    assert listed == {"test/echo"}

    # A provider allow-list that leaves the model no provider refuses it too, on the very next request
    api.patch(key_hash, allowed_models=None, allowed_providers=["nowhere"])
    assert chat(gateway_url, key, "test/echo").json()["error"]["code"] == "model_not_allowed"
    api.patch(key_hash, allowed_providers=None)
    assert chat(gateway_url, key, "test/no-usage").status_code == 200


def test_an_expired_key_is_refused(gateway_url, upstream, api, shifted_clock):
    from datetime import UTC, datetime, timedelta

    expires = (datetime.now(UTC) + timedelta(minutes=5)).isoformat()
    key = api.create(name="short-lived", expires_at=expires)["key"]
    assert chat(gateway_url, key).status_code == 200
    shifted_clock["seconds"] = 301
    refused = chat(gateway_url, key)
    assert refused.status_code == 403
    assert refused.json()["error"]["code"] == "api_disabled"
    assert "expired" in refused.json()["error"]["message"]


def test_a_retried_create_with_an_idempotency_key_makes_one_key(gateway_url, api):
    headers = {"Idempotency-Key": "create-backend-1"}
    first = api.create(name="once", limit=2, headers=headers)
    again = api.create(name="once", limit=2, headers=headers)
    assert again["key"] == first["key"]
    assert again["data"]["hash"] == first["data"]["hash"]
    assert [k["name"] for k in api.list()].count("once") == 1
    # the replay is stored sealed: no table holds the key readable
    assert first["key"] not in scan(TEST_TABLE) + scan(TEST_IDEMPOTENCY_TABLE)
    # the same Idempotency-Key with another body is refused
    reused = api.http.post("/api/v1/keys", json={"name": "other"}, headers=headers)
    assert reused.status_code == 400
    assert reused.json()["error"]["code"] == "idempotency_key_reused"


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"name": "x", "surprise": 1}, "surprise"),
        ({"name": "x", "limit": -1}, "limit"),
        ({"name": "x", "limit": "0.0000001"}, "limit"),
        ({"name": "x", "limit_reset": "hourly"}, "limit_reset"),
        ({"name": "x", "expires_at": "2001-01-01T00:00:00Z"}, "expires_at"),
        ({"name": "x", "expires_at": "9999-12-31T23:59:59-23:59"}, "expires_at"),  # year 10000 in UTC
        ({"name": "x" * 101}, "name"),
        ({"name": ""}, "name"),
        ({}, "name"),
        ({"name": "x", "rate_limit": 0}, "rate_limit"),
        ({"name": "x", "allowed_providers": ["no-such-provider"]}, "allowed_providers"),
        ({"name": "x", "allowed_models": ["no/such-model"]}, "allowed_models"),
        ({"name": "x", "kind": "superuser"}, "kind"),
    ],
    ids=[
        "unknown-field",
        "negative-limit",
        "7-decimals",
        "bad-reset",
        "past-expiry",
        "expiry-past-year-9999",
        "long-name",
        "empty-name",
        "no-name",
        "zero-rate",
        "unknown-provider",
        "unknown-model",
        "bad-kind",
    ],
)
def test_invalid_key_settings_are_400_and_create_nothing(api, body, param):
    before = len(api.list())
    response = api.http.post("/api/v1/keys", json=body)
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert error["code"] == "invalid_request"
    assert error["param"] == param
    assert len(api.list()) == before


def test_invalid_patches_are_400(api):
    key_hash = api.create(name="patchme")["data"]["hash"]
    for body in ({"disabled": None}, {"name": None}, {"hash": "x"}, {"limit": -5}):
        response = api.http.patch(f"/api/v1/keys/{key_hash}", json=body)
        assert response.status_code == 400, (body, response.text)


def test_a_key_created_with_its_kind_named_is_that_kind(api):
    for kind in ("inference", "management"):
        created = api.create(name=f"explicit {kind}", kind=kind)
        assert created["data"]["kind"] == kind
        assert created["key"].startswith("sk-gwm-" if kind == "management" else "sk-gw-")


def test_inference_keys_cannot_manage_keys_on_the_keys_api(gateway_url, account):
    """/api/v1/keys is for management keys; PotatoRouter's and poeti's routes take the user's own key,
    within its limits (tests/integration/test_key_delegation.py)."""
    inference = keys.issue_key(account.account_id, "app", "inference").key
    client = KeysApi(gateway_url, inference)
    for response in (
        client.http.get("/api/v1/keys"),
        client.http.post("/api/v1/keys", json={"name": "x"}),
        client.http.patch(f"/api/v1/keys/{'0' * 64}", json={"disabled": True}),
        client.http.delete(f"/api/v1/keys/{'0' * 64}"),
    ):
        assert response.status_code == 403
        assert response.json()["error"]["code"] == "forbidden"


def test_no_key_reads_or_changes_another_accounts_keys(gateway_url, api, gateway_env):
    other_account = accounts.create_account("other", 1_000_000)
    other = KeysApi(gateway_url, keys.issue_key(other_account.account_id, "their ops", "management").key)
    theirs = other.create(name="theirs")["data"]["hash"]
    mine = api.create(name="mine")["data"]["hash"]

    assert theirs not in {k["hash"] for k in api.list()}
    assert api.get(theirs).status_code == 404
    assert api.http.patch(f"/api/v1/keys/{theirs}", json={"disabled": True}).status_code == 404
    assert api.delete(theirs).status_code == 404
    assert api.http.delete(f"/api/token/{theirs}").status_code == 404
    assert theirs not in {t["id"] for t in api.http.get("/api/token").json()["data"]}
    assert theirs not in {k["id"] for k in api.http.get("/api/v1/api-keys").json()["data"]}
    # their key is untouched, and they cannot reach mine either
    assert other.get(theirs).json()["data"]["disabled"] is False
    assert other.get(mine).status_code == 404


def test_potatorouter_token_aliases(gateway_url, upstream, api):
    created = api.http.post("/api/token", json={"name": "my app", "remain_quota": 2, "unlimited_quota": False})
    assert created.status_code == 200, created.text
    body = created.json()
    assert body["success"] is True
    token = body["data"]
    assert token["key"].startswith("sk-gw-")
    assert (token["status"], token["unlimited_quota"], token["remain_quota"]) == (1, False, 2)
    assert token["expired_time"] == -1
    assert chat(gateway_url, token["key"]).status_code == 200
    # one-api's `unlimited_quota` is false unless sent: a `remain_quota` alone is the token's limit;
    # `name` alone, an unlimited token
    capped = api.http.post("/api/token", json={"name": "capped", "remain_quota": 10}).json()["data"]
    assert (capped["unlimited_quota"], capped["remain_quota"]) == (False, 10)
    unlimited = api.http.post("/api/token", json={"name": "open"}).json()["data"]
    assert (unlimited["unlimited_quota"], unlimited["remain_quota"]) == (True, -1)
    ignored = api.http.post("/api/token", json={"name": "i", "remain_quota": 5, "unlimited_quota": True}).json()
    assert ignored["data"]["unlimited_quota"] is True
    aggregated()  # a key's totals are added from the ledger's stream
    listed = {t["id"]: t for t in api.http.get("/api/token").json()["data"]}
    assert listed[token["id"]]["used_quota"] > 0
    assert listed[token["id"]]["key"].endswith("...")
    assert api.http.delete(f"/api/token/{token['id']}").json() == {"success": True, "message": ""}
    assert chat(gateway_url, token["key"]).status_code == 401


def test_poeti_api_key_aliases(gateway_url, upstream, api):
    created = api.http.post("/api/v1/api-keys", json={"name": "prod", "monthly_budget": 50.0, "rate_limit": 100})
    assert created.status_code == 200, created.text
    data = created.json()["data"]
    assert created.json()["code"] == 200
    assert data["key"].startswith("sk-gw-")
    assert (data["monthly_budget"], data["rate_limit"], data["is_active"]) == (50, 100, True)
    assert chat(gateway_url, data["key"]).status_code == 200
    aggregated()  # a key's totals are added from the ledger's stream
    (listed,) = [k for k in api.http.get("/api/v1/api-keys").json()["data"] if k["id"] == data["id"]]
    assert listed["total_requests"] == 1
    assert listed["total_cost"] > 0
    assert listed["key_prefix"] == data["key_prefix"]
    native = api.get(data["id"]).json()["data"]
    assert (native["limit"], native["limit_reset"]) == (50, "monthly")


def test_a_disabled_accounts_keys_manage_and_read_nothing_until_it_is_enabled(gateway_url, upstream, api, account):
    from gateway.auth.cognito import Identity
    from gateway.services import operators

    # Given an account whose operator disabled it
    inference = api.create(name="app")["key"]
    mine = api.create(name="mine")["data"]["hash"]
    operator = Identity(sub="op", email="op@example.com", groups=("operators",))
    operators.set_disabled(operator, account.account_id, True, "abuse", None, "trace-disable")

    # When its keys call the keys API, the model list or a model
    refused = [
        api.http.get("/api/v1/keys"),
        api.http.post("/api/v1/keys", json={"name": "another"}),
        api.http.patch(f"/api/v1/keys/{mine}", json={"disabled": True}),
        api.delete(mine),
        KeysApi(gateway_url, inference).http.get("/v1/models"),
        chat(gateway_url, inference),
    ]

    # Then every call is refused as disabled, and nothing changed
    for response in refused:
        assert response.status_code == 403, response.text
        assert response.json()["error"]["code"] == "api_disabled"
        assert "account is disabled" in response.json()["error"]["message"]
    operators.set_disabled(operator, account.account_id, False, "", None, "trace-enable")
    assert [k["name"] for k in api.list()].count("another") == 0
    assert api.get(mine).json()["data"]["disabled"] is False
    # (a disabled account's key read is kept DISABLED_CACHE_SECONDS: its refusals read little)
    assert eventually(lambda: chat(gateway_url, inference).status_code == 200, seconds=10)
