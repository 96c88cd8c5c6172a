"""The console's API for customers, over HTTP, with ID tokens of the real (moto) user pool: the first
sign-in creates the account with the starting credits as a ledger grant; a session acts for its
account through the keys, usage and traces services; and nothing of another account is reachable."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import httpx

from gateway.money import credits_to_micro
from gateway.services import topup_codes
from gateway.services.console import console_account_id
from gateway.storage.ledger import LedgerReader
from tests.conftest import CONSOLE_STARTING_CREDITS, TEST_TABLE, aggregated, balance_of
from tests.support.console import CognitoPool, ConsoleApi
from tests.support.keys_api import chat


def test_the_first_sign_in_creates_the_account_with_the_starting_credits_once(gateway_url: str, cognito: CognitoPool):
    # Given a user who just signed up and signed in
    user = cognito.sign_up()
    api = ConsoleApi(gateway_url, user)

    # When the page asks who it is, ten times at once and then again
    with ThreadPoolExecutor(10) as pool:
        answers = list(pool.map(lambda _: api.get("/me"), range(10)))
    again = api.ok(api.get("/me"))

    # Then one account exists, the same for every answer, holding the starting credits as an initial grant
    assert {answer.status_code for answer in answers} == {200}
    account_ids = {answer.json()["account"]["account_id"] for answer in answers} | {again["account"]["account_id"]}
    assert len(account_ids) == 1
    (account_id,) = account_ids
    assert again["user"] == {"email": user.email, "operator": False}
    assert again["account"]["balance_micro"] == credits_to_micro(CONSOLE_STARTING_CREDITS)
    assert again["account"]["disabled"] is False
    grants = LedgerReader(TEST_TABLE).grants(account_id)
    assert [(grant.amount, grant.source) for grant in grants] == [
        (credits_to_micro(CONSOLE_STARTING_CREDITS), "initial")
    ]
    assert again["month"]["total_requests"] == 0


def test_a_session_manages_keys_and_sees_its_requests_in_usage_and_traces(
    gateway_url: str, cognito: CognitoPool, upstream
):  # type: ignore[no-untyped-def]
    # Given a signed-in customer
    api = ConsoleApi(gateway_url, cognito.sign_up())
    account_id = api.ok(api.get("/me"))["account"]["account_id"]

    # When it creates a key with every option, calls the gateway with it, and reads usage and traces
    created = api.ok(
        api.post(
            "/keys",
            {
                "name": "laptop",
                "limit": "1.5",
                "limit_reset": "daily",
                "rate_limit": 30,
                "allowed_models": ["test/echo"],
                "allowed_providers": ["fake"],
                "expires_at": "2099-01-01T00:00:00Z",
            },
        ),
        201,
    )
    key, key_hash = created["key"], created["data"]["hash"]
    response = chat(gateway_url, key)
    trace_id = response.headers["x-trace-id"]
    refused = chat(gateway_url, key, "test/multi")  # not on the key's allow-list
    aggregated()  # usage and the key's totals are added from the ledger's stream

    # Then the key was shown once (the listing holds its prefix only), with its options
    assert response.status_code == 200, response.text
    assert refused.status_code == 403
    assert key.startswith("sk-gw-")
    listed = api.ok(api.get("/keys"))["data"]
    assert [k["hash"] for k in listed] == [key_hash]
    assert key not in str(listed)
    assert listed[0]["limit"] == 1.5
    assert listed[0]["limit_reset"] == "daily"
    assert listed[0]["rate_limit"] == 30
    assert listed[0]["allowed_models"] == ["test/echo"]
    assert listed[0]["allowed_providers"] == ["fake"]
    assert listed[0]["expires_at"].startswith("2099-01-01")
    # And the request is in usage (by day and by model) and in traces, with its attempts
    usage = api.ok(api.get("/usage"))
    assert usage["total_requests"] == 1
    assert [row["model"] for row in usage["by_model"]] == ["test/echo"]
    assert sum(row["requests"] for row in usage["by_day"]) == 1
    traces = api.ok(api.get("/traces", key=key_hash))["data"]
    assert [t["trace_id"] for t in traces] == [trace_id]
    assert api.ok(api.get("/traces", status="error"))["data"] == []
    detail = api.ok(api.get(f"/traces/{trace_id}"))["data"]
    assert detail["model"] == "test/echo"
    assert [a["provider"] for a in detail["attempts"]] == ["fake"]
    spent = api.ok(api.get("/me"))
    assert spent["month"]["total_requests"] == 1
    assert spent["account"]["balance_micro"] == balance_of(account_id)
    assert spent["month"]["total_credits"] > 0

    # When it disables the key, then revokes it
    disabled = api.ok(api.patch(f"/keys/{key_hash}", {"disabled": True}))["data"]
    after_disable = chat(gateway_url, key)
    api.ok(api.delete(f"/keys/{key_hash}"))
    after_revoke = chat(gateway_url, key)

    # Then the key stops at once, and leaves the list
    assert disabled["disabled"] is True
    assert after_disable.status_code == 403
    assert after_revoke.status_code == 401
    assert api.ok(api.get("/keys"))["data"] == []


def test_a_customer_never_reaches_another_accounts_data(gateway_url: str, cognito: CognitoPool, upstream):  # type: ignore[no-untyped-def]
    # Given two customers; the first has a key and a request, and a top-up code the second one holds
    alice, bob = ConsoleApi(gateway_url, cognito.sign_up()), ConsoleApi(gateway_url, cognito.sign_up())
    created = alice.ok(alice.post("/keys", {"name": "alice"}), 201)
    alice_hash = created["data"]["hash"]
    alice_account = alice.ok(alice.get("/me"))["account"]["account_id"]
    trace_id = chat(gateway_url, created["key"]).headers["x-trace-id"]
    bob.ok(bob.post("/keys", {"name": "bob"}), 201)
    bob_account = bob.ok(bob.get("/me"))["account"]["account_id"]
    (code,) = topup_codes.mint(credits_to_micro("3"), 1)["codes"]
    alice_balance, bob_balance = balance_of(alice_account), balance_of(bob_account)

    # When the second one asks for the first one's key, trace, usage and traces, or changes its key,
    # tries the operators' views and changes of its account, and redeems its code with an account named
    attempts = {
        "list": bob.get("/keys"),
        "trace": bob.get(f"/traces/{trace_id}"),
        "usage by key": bob.get("/usage", key=alice_hash),
        "traces by key": bob.get("/traces", key=alice_hash),
        "disable": bob.patch(f"/keys/{alice_hash}", {"disabled": True}),
        "revoke": bob.delete(f"/keys/{alice_hash}"),
        "operator view": bob.get(f"/admin/accounts/{alice_account}"),
        "operator top-up": bob.post(f"/admin/accounts/{alice_account}/top-up", {"credits": 5}),
        "operator group": bob.put(f"/admin/accounts/{alice_account}/group", {"group": None}),
        "operator log": bob.get("/admin/log", account=alice_account),
        "codes": bob.get("/admin/codes"),
        "redeem for another": bob.post("/topup", {"key": code, "account_id": alice_account}),
    }
    redeemed = bob.ok(bob.post("/topup", {"key": code}))

    # Then nothing of the first account is seen or changed; the code credits the one who redeems it
    assert [k["name"] for k in attempts.pop("list").json()["data"]] == ["bob"]
    assert {name: answer.status_code for name, answer in attempts.items()} == {
        "trace": 404,
        "usage by key": 404,
        "traces by key": 404,
        "disable": 404,
        "revoke": 404,
        "operator view": 403,
        "operator top-up": 403,
        "operator group": 403,
        "operator log": 403,
        "codes": 403,
        "redeem for another": 400,
    }
    assert redeemed["account"]["account_id"] == bob_account
    assert balance_of(bob_account) == bob_balance + credits_to_micro("3")
    assert alice_account not in str(redeemed)
    assert bob.ok(bob.get("/usage"))["total_requests"] == 0
    assert bob.ok(bob.get("/traces"))["data"] == []
    assert alice.ok(alice.get("/keys"))["data"][0]["disabled"] is False
    assert chat(gateway_url, created["key"]).status_code == 200
    assert alice.ok(alice.get("/me"))["account"]["balance_micro"] == balance_of(alice_account) < alice_balance


def test_a_users_account_is_derived_from_its_cognito_identity(gateway_url: str, cognito: CognitoPool) -> None:
    # Given a user's first sign-in
    user = cognito.sign_up()
    me = ConsoleApi(gateway_url, user).ok(ConsoleApi(gateway_url, user).get("/me"))

    # Then its account id comes from its Cognito `sub` (two racing first sign-ins make one account)
    sub = cognito.admin().admin_get_user(UserPoolId=cognito.user_pool_id, Username=user.email)
    attributes = {a["Name"]: a["Value"] for a in sub["UserAttributes"]}
    assert me["account"]["account_id"] == console_account_id(attributes["sub"])
    assert me["account"]["name"] == user.email
    assert me["account"]["email"] == user.email


def test_requests_without_a_valid_session_are_refused_with_a_clear_error(gateway_url: str, cognito: CognitoPool):
    user = cognito.sign_up()
    header, payload, signature = user.id_token.split(".")
    forged = f"{header}.{payload}.{signature[:-4]}AAAA"
    cases = {
        "none": {},
        "empty": {"Authorization": "Bearer"},
        "garbage": {"Authorization": "Bearer not-a-token"},
        "three parts of garbage": {"Authorization": "Bearer a.b.c"},
        "bad signature": {"Authorization": f"Bearer {forged}"},
        "access token": {"Authorization": f"Bearer {user.access_token}"},
        "an API key": {"Authorization": "Bearer sk-gw-0000000000000000000000000000000000000000"},
        "huge": {"Authorization": "Bearer " + "a." * 5000 + "a"},
    }
    for name, headers in cases.items():
        answer = httpx.get(f"{gateway_url}/console/api/me", headers=headers, timeout=20)
        assert answer.status_code == 401, (name, answer.text)
        error = answer.json()["error"]
        assert error["code"] in ("invalid_api_key", "invalid_token"), (name, error)
        assert user.id_token not in answer.text
    ok = httpx.get(f"{gateway_url}/console/api/me", headers={"Authorization": f"Bearer {user.id_token}"}, timeout=20)
    assert ok.status_code == 200


def test_bad_key_settings_are_400s_that_create_nothing(gateway_url: str, cognito: CognitoPool) -> None:
    api = ConsoleApi(gateway_url, cognito.sign_up())
    bodies = [
        {},
        {"name": ""},
        {"name": "x" * 101},
        {"name": "k", "limit": -1},
        {"name": "k", "limit": "1.0000001"},
        {"name": "k", "limit": "lots"},
        {"name": "k", "rate_limit": 0},
        {"name": "k", "limit_reset": "hourly"},
        {"name": "k", "allowed_models": ["no/such-model"]},
        {"name": "k", "allowed_providers": ["nowhere-at-all"]},
        {"name": "k", "expires_at": "2001-01-01T00:00:00Z"},
        {"name": "k", "unknown": True},
        ["not", "an", "object"],
    ]
    for body in bodies:
        answer = api.post("/keys", body)
        assert answer.status_code == 400, (body, answer.text)
        assert answer.json()["error"]["message"]
    malformed = api.http.post("/keys", content=b"{not json", headers={"Content-Type": "application/json"})
    assert malformed.status_code == 400
    assert api.ok(api.get("/keys"))["data"] == []
    assert api.get("/usage", date_from="yesterday").status_code == 400
    assert api.get("/traces", cursor="bm90IGEgY3Vyc29y").status_code == 400
    assert api.get("/traces/" + "x" * 200).status_code in (400, 404)
    assert api.patch("/keys/not-a-hash", {"disabled": True}).status_code == 404


def test_api_answers_are_never_cached(gateway_url: str, cognito: CognitoPool) -> None:
    api = ConsoleApi(gateway_url, cognito.sign_up())
    for answer in (api.get("/me"), api.get("/keys"), api.post("/keys", {"name": "fresh"}), api.get("/config")):
        assert answer.headers["cache-control"] == "no-store", answer.request.url
