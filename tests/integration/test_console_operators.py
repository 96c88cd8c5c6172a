"""The console's API for operators (the user pool's operators group): find accounts, top up, disable and
enable them, the platform's totals by day; every action in the operator log, done once per
Idempotency-Key, and money moved only by a valid request."""

from __future__ import annotations

import secrets

import pytest

from devtools.devserver import function_module
from gateway.money import credits_to_micro
from gateway.storage import dynamo, layout
from gateway.storage.ledger import LedgerReader
from gateway.storage.stores import stores
from tests.conftest import TEST_TABLE, aggregated, balance_of
from tests.support.console import CognitoPool, ConsoleApi
from tests.support.keys_api import chat


@pytest.fixture
def operator(gateway_url: str, cognito: CognitoPool) -> ConsoleApi:
    return ConsoleApi(gateway_url, cognito.sign_up(f"ops-{secrets.token_hex(4)}@example.com", operator=True))


def customer(gateway_url: str, cognito: CognitoPool, email: str | None = None) -> tuple[ConsoleApi, str]:
    api = ConsoleApi(gateway_url, cognito.sign_up(email))
    return api, api.ok(api.get("/me"))["account"]["account_id"]


def test_operators_find_accounts_by_email_prefix_or_id(gateway_url: str, cognito: CognitoPool, operator: ConsoleApi):
    # Given customers whose e-mail addresses share a prefix
    tag = secrets.token_hex(4)
    _, first = customer(gateway_url, cognito, f"Find-{tag}-a@example.com")
    _, second = customer(gateway_url, cognito, f"find-{tag}-b@example.com")
    _, other = customer(gateway_url, cognito, f"other-{tag}@example.com")

    # When an operator searches by the prefix (any case), by a whole address, and by an account id
    by_prefix = operator.ok(operator.get("/admin/accounts", q=f"FIND-{tag}"))["data"]
    by_address = operator.ok(operator.get("/admin/accounts", q=f"other-{tag}@example.com"))["data"]
    by_id = operator.ok(operator.get("/admin/accounts", q=first))["data"]
    nothing = operator.ok(operator.get("/admin/accounts", q=f"nobody-{tag}"))["data"]

    # Then each finds exactly its accounts
    assert [a["account_id"] for a in by_prefix] == [first, second]
    assert [a["account_id"] for a in by_address] == [other]
    assert [a["account_id"] for a in by_id] == [first]
    assert nothing == []
    assert operator.get("/admin/accounts", cursor="not-a-cursor").status_code == 400


def test_a_top_up_is_a_ledger_grant_and_an_operator_log_entry_done_once(
    gateway_url: str, cognito: CognitoPool, operator: ConsoleApi
):
    # Given a customer
    _, account_id = customer(gateway_url, cognito)
    before = balance_of(account_id)

    # When an operator tops it up, and the page sends the same action again (a retried submit)
    body = {"credits": "12.5", "note": "invoice 42"}
    first = operator.ok(operator.post(f"/admin/accounts/{account_id}/top-up", body, headers={"Idempotency-Key": "k1"}))
    again = operator.ok(operator.post(f"/admin/accounts/{account_id}/top-up", body, headers={"Idempotency-Key": "k1"}))
    other = operator.post(f"/admin/accounts/{account_id}/top-up", {"credits": "99"}, headers={"Idempotency-Key": "k1"})

    # Then the credits are added once, as a top-up grant of the ledger
    assert first["replayed"] is False
    assert again["replayed"] is True
    assert other.status_code == 409
    assert balance_of(account_id) == before + credits_to_micro("12.5")
    assert first["account"]["balance_micro"] == before + credits_to_micro("12.5")
    grants = [(g.amount, g.source) for g in LedgerReader(TEST_TABLE).grants(account_id)]
    assert grants.count((credits_to_micro("12.5"), "top_up")) == 1
    # And the operator log says who did what, when, to whom
    (entry,) = operator.ok(operator.get("/admin/log", account=account_id))["data"]
    assert entry["action"] == "top_up"
    assert entry["credits"] == 12.5
    assert entry["note"] == "invoice 42"
    assert entry["operator"].startswith("ops-")
    assert entry["at"]
    assert entry["action_id"] in {e["action_id"] for e in operator.ok(operator.get("/admin/log"))["data"]}
    detail = operator.ok(operator.get(f"/admin/accounts/{account_id}"))
    assert [e["action_id"] for e in detail["log"]] == [entry["action_id"]]


def test_bad_top_ups_are_400s_that_move_no_credit(gateway_url: str, cognito: CognitoPool, operator: ConsoleApi):
    _, account_id = customer(gateway_url, cognito)
    before = balance_of(account_id)
    bodies = [
        {},
        {"credits": 0},
        {"credits": -5},
        {"credits": "0.0000001"},
        {"credits": "ten"},
        {"credits": 1e300},
        {"credits": "NaN"},
        {"credits": 5, "note": "x" * 201},
        {"credits": 5, "account_id": "someone-else"},
        [5],
    ]
    for body in bodies:
        answer = operator.post(f"/admin/accounts/{account_id}/top-up", body)
        assert answer.status_code == 400, (body, answer.text)
    assert operator.post("/admin/accounts/acct_doesnotexist/top-up", {"credits": 5}).status_code == 404
    assert operator.post(f"/admin/accounts/{'a' * 200}/top-up", {"credits": 5}).status_code == 400
    assert operator.post(f"/admin/accounts/{account_id}/status", {"disabled": "yes"}).status_code == 400
    assert balance_of(account_id) == before
    assert operator.ok(operator.get("/admin/log", account=account_id))["data"] == []


def test_a_disabled_account_cannot_spend_or_act_until_enabled(
    gateway_url: str, cognito: CognitoPool, operator: ConsoleApi, upstream
):  # type: ignore[no-untyped-def]
    # Given a customer with credits and a working key
    api, account_id = customer(gateway_url, cognito)
    operator.ok(operator.post(f"/admin/accounts/{account_id}/top-up", {"credits": 3}))
    key = api.ok(api.post("/keys", {"name": "k"}), 201)["key"]
    assert chat(gateway_url, key).status_code == 200

    # When an operator disables the account
    operator.ok(operator.post(f"/admin/accounts/{account_id}/status", {"disabled": True, "note": "abuse"}))
    balance = balance_of(account_id)
    refused = chat(gateway_url, key)
    me = api.ok(api.get("/me"))
    keys = api.get("/keys")

    # Then its keys are refused before any credit moves, and its users may only see that it is disabled
    assert refused.status_code == 403
    assert refused.json()["error"]["code"] == "api_disabled"
    assert "account is disabled" in refused.json()["error"]["message"]
    assert balance_of(account_id) == balance
    assert me["account"]["disabled"] is True
    assert keys.status_code == 403
    assert api.post("/keys", {"name": "another"}).status_code == 403

    # When it is enabled again
    enabled = operator.ok(operator.post(f"/admin/accounts/{account_id}/status", {"disabled": False}))

    # Then everything works as before; both actions are in the log, newest first
    assert enabled["account"]["disabled"] is False
    assert chat(gateway_url, key).status_code == 200
    assert api.get("/keys").status_code == 200
    log = operator.ok(operator.get("/admin/log", account=account_id))["data"]
    assert [e["action"] for e in log] == ["enable_account", "disable_account", "top_up"]


def test_platform_totals_by_day_count_every_account(
    gateway_url: str, cognito: CognitoPool, operator: ConsoleApi, upstream
):  # type: ignore[no-untyped-def]
    # Given requests from two accounts today
    today = operator.ok(operator.get("/admin/totals"))["date_to"]
    aggregated()  # every earlier request's usage added
    before = operator.ok(operator.get("/admin/totals", date_from=today, date_to=today))
    for _ in range(2):
        api, account_id = customer(gateway_url, cognito)
        operator.ok(operator.post(f"/admin/accounts/{account_id}/top-up", {"credits": 1}))
        assert chat(gateway_url, api.ok(api.post("/keys", {"name": "k"}), 201)["key"]).status_code == 200

    # When an operator reads today's totals (once the usage is added from the ledger's stream)
    aggregated()
    after = operator.ok(operator.get("/admin/totals", date_from=today, date_to=today))

    # Then they grew by those requests and accounts
    (row,) = after["by_day"]
    assert after["total_requests"] == before["total_requests"] + 2
    assert row["requests"] == after["total_requests"]
    assert row["accounts"] == before["by_day"][0]["accounts"] + 2
    assert after["total_credits"] > before["total_credits"]
    assert operator.get("/admin/totals", date_from="2026-01-01", date_to="2026-12-31").status_code == 400


def test_finished_days_are_read_from_their_cache(gateway_url: str, operator: ConsoleApi) -> None:
    # Given a finished day read once (its totals are cached)
    day = "2025-03-03"
    operator.ok(operator.get("/admin/totals", date_from=day, date_to=day))
    cached = dynamo.client().get_item(TableName=TEST_TABLE, Key=layout.platform_day_key(day))
    assert "Item" in cached

    # When its cache entry says otherwise
    dynamo.client().put_item(
        TableName=TEST_TABLE,
        Item={**layout.platform_day_key(day), **dynamo.to_attributes({"totals": {"requests": 7, "accounts": 1}})},
    )

    # Then the next read answers from the cache, not from every account's aggregates
    (row,) = operator.ok(operator.get("/admin/totals", date_from=day, date_to=day))["by_day"]
    assert row["requests"] == 7


def test_customers_and_strangers_cannot_use_operator_routes(gateway_url: str, cognito: CognitoPool) -> None:
    api, account_id = customer(gateway_url, cognito)
    stranger = ConsoleApi(gateway_url, None)
    routes = [
        ("get", "/admin/accounts", None),
        ("get", f"/admin/accounts/{account_id}", None),
        ("post", f"/admin/accounts/{account_id}/top-up", {"credits": 1}),
        ("post", f"/admin/accounts/{account_id}/status", {"disabled": True}),
        ("put", f"/admin/accounts/{account_id}/group", {"group": None}),
        ("get", "/admin/totals", None),
        ("get", "/admin/log", None),
        ("get", "/admin/codes", None),
        ("post", "/admin/codes", {"credits": "5", "count": 1}),
        ("patch", f"/admin/codes/{'0' * 64}", {"disabled": True}),
        ("get", "/admin/models", None),
        ("post", "/admin/models", {"id": "mine/model"}),
        ("get", "/admin/models/test/echo", None),
        ("patch", "/admin/models/test/echo", {"pricing": {"input": "0"}}),
        ("get", "/admin/channels", None),
        ("get", "/admin/channels/health", None),
        ("post", "/admin/channels", {"id": "mine", "provider": "fake", "api_key": "sk-mine"}),
        ("patch", "/admin/channels/fake", {"enabled": False}),
        ("get", "/admin/groups", None),
        ("put", "/admin/groups/free", {"ratio": "0"}),
    ]
    # Every operator route of the console's app is among them
    from starlette.routing import Match

    console_api = [
        route
        for route in function_module("console").app.routes
        if getattr(route, "path", "").startswith("/console/api/")
    ]
    assert len(console_api) > 25
    for route in console_api:
        if route.path.startswith("/console/api/admin"):
            asked = [
                (method, path)
                for method, path, _ in routes
                if route.matches({"type": "http", "path": f"/console/api{path}", "method": method.upper()})[0]
                == Match.FULL
            ]
            assert asked, (route.methods, route.path)
    version = stores().control.version(consistent=True)
    for method, path, body in routes:
        as_customer = getattr(api, method)(path) if method == "get" else getattr(api, method)(path, body)
        as_stranger = getattr(stranger, method)(path) if method == "get" else getattr(stranger, method)(path, body)
        assert as_customer.status_code == 403, (path, as_customer.text)
        assert as_customer.json()["error"]["code"] == "forbidden"
        assert as_stranger.status_code == 401, (path, as_stranger.text)
    assert api.ok(api.get("/me"))["account"]["disabled"] is False
    assert stores().control.version(consistent=True) == version  # nothing of the catalog changed


def test_accounts_from_before_the_directory_are_listed_by_index_accounts(
    gateway_env: dict[str, str], operator: ConsoleApi
) -> None:
    from gateway.services import accounts
    from tests.integration.test_admin_cli import admin, ok

    # Given an account created before the directory existed (its item has no directory entry)
    name = f"Legacy {secrets.token_hex(4)}"
    legacy = accounts.create_account(name, 0).account_id
    dynamo.client().update_item(
        TableName=TEST_TABLE, Key=layout.account_key(legacy), UpdateExpression="REMOVE gsi3pk, gsi3sk"
    )
    assert operator.ok(operator.get("/admin/accounts", q=name))["data"] == []

    # When the operator runs `gateway-admin index-accounts`, twice
    first = ok(admin(gateway_env, "--table", TEST_TABLE, "index-accounts"))
    second = ok(admin(gateway_env, "--table", TEST_TABLE, "index-accounts"))

    # Then the account is found by its name, and nothing is listed twice
    assert first["listed"] >= 1
    assert second["listed"] == 0
    assert second["accounts"] >= first["listed"]
    assert [a["account_id"] for a in operator.ok(operator.get("/admin/accounts", q=name.lower()))["data"]] == [legacy]


@pytest.mark.parametrize("change", ["removed from the group", "disabled"])
def test_an_operator_removed_or_disabled_loses_the_operator_pages_before_its_token_expires(
    gateway_url: str, cognito: CognitoPool, change: str
) -> None:
    from gateway.auth import cognito_standing

    email = f"ops-{secrets.token_hex(4)}@example.com"
    operator = ConsoleApi(gateway_url, cognito.sign_up(email, operator=True))
    assert operator.get("/admin/accounts").status_code == 200
    admin = cognito.admin()
    if change == "disabled":
        admin.admin_disable_user(UserPoolId=cognito.user_pool_id, Username=email)
    else:
        admin.admin_remove_user_from_group(
            UserPoolId=cognito.user_pool_id, Username=email, GroupName=cognito.operator_group
        )
    cognito_standing.forget()  # its standing, read from the pool, is trusted for STANDING_SECONDS
    # Its ID token (good for an hour, naming the group) opens no operator page any more
    for answer in (
        operator.get("/admin/accounts"),
        operator.post("/admin/codes", {"credits": "5", "count": 1}, headers={"Idempotency-Key": secrets.token_hex(8)}),
    ):
        assert answer.status_code == 403, answer.text
