"""Top-up codes in the console, over HTTP with the user pool's ID tokens: an operator mints codes
(their texts answered once, never listed), disables and enables them, each action in the operator log
and done once per Idempotency-Key; a customer redeems a code (the same service as `POST
/api/user/topup`) and its balance rises by exactly the code's amount, as a ledger grant; an unknown,
expired, disabled or redeemed code is a 400 with its own code that moves no credit."""

from __future__ import annotations

import json
import secrets
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from gateway import clock
from gateway.billing.audit import audit_account
from gateway.money import credits_to_micro
from gateway.services import topup_codes
from gateway.storage.codes import TopUpCode
from gateway.storage.ledger import LedgerReader
from gateway.storage.stores import stores
from tests.conftest import TEST_TABLE, balance_of
from tests.support.console import CognitoPool, ConsoleApi


@pytest.fixture
def operator(gateway_url: str, cognito: CognitoPool) -> ConsoleApi:
    return ConsoleApi(gateway_url, cognito.sign_up(f"ops-{secrets.token_hex(4)}@example.com", operator=True))


def customer(gateway_url: str, cognito: CognitoPool) -> tuple[ConsoleApi, str]:
    api = ConsoleApi(gateway_url, cognito.sign_up())
    return api, api.ok(api.get("/me"))["account"]["account_id"]


def mint(operator: ConsoleApi, body: dict[str, Any], key: str | None = None) -> dict[str, Any]:
    headers = {"Idempotency-Key": key} if key else {}
    return operator.ok(operator.post("/admin/codes", body, headers=headers), 201)


def listed(operator: ConsoleApi) -> list[dict[str, Any]]:
    return operator.ok(operator.get("/admin/codes"))["data"]


def test_a_customer_redeems_a_minted_code_and_its_balance_rises_by_exactly_its_amount(
    gateway_url: str, cognito: CognitoPool, operator: ConsoleApi
):
    # Given an operator who mints two codes of 7.25 credits, and a customer
    batch = f"promo-{secrets.token_hex(3)}"
    minted = mint(operator, {"credits": "7.25", "count": 2, "expires_in_days": 30, "batch": batch}, "mint-1")
    code, other = minted["codes"]
    api, account_id = customer(gateway_url, cognito)
    before = balance_of(account_id)

    # When the customer redeems one of them (in any case, with spaces around it)
    redeemed = api.ok(api.post("/topup", {"key": f"  {code.upper()} "}))

    # Then the balance rose by exactly the code's amount, once, as a `code` grant of the ledger
    assert redeemed["credited"] == 7.25
    assert redeemed["account"]["balance_micro"] == before + credits_to_micro("7.25") == balance_of(account_id)
    grants = [(g.amount, g.source) for g in LedgerReader(TEST_TABLE).grants(account_id)]
    assert grants.count((credits_to_micro("7.25"), "code")) == 1
    assert audit_account(account_id).balanced
    assert api.ok(api.get("/me"))["account"]["balance_micro"] == balance_of(account_id)
    # And the operator sees the code redeemed by that account, never its text
    codes = {view["id"]: view for view in listed(operator)}
    assert codes[minted["data"][0]["id"]]["status"] == "redeemed"
    assert codes[minted["data"][0]["id"]]["redeemed_by"] == account_id
    assert codes[minted["data"][1]["id"]]["status"] == "active"
    assert code not in json.dumps(listed(operator))
    assert other not in json.dumps(listed(operator))
    # And the minting is in the operator log: who minted how many of what, under which batch
    entry = next(e for e in operator.ok(operator.get("/admin/log"))["data"] if e["action"] == "mint_codes")
    assert (entry["subject"], entry["credits"], entry["account_id"]) == (batch, 7.25, None)
    assert entry["detail"].startswith('count=2, expires_at="')
    assert entry["operator"].startswith("ops-")
    assert code not in json.dumps(entry)


@pytest.mark.parametrize(
    ("make", "code", "message"),
    [
        ("unknown", "invalid_code", "This top-up code is not valid."),
        ("malformed", "invalid_code", "This top-up code is not valid."),
        ("redeemed", "code_redeemed", "This top-up code has already been redeemed."),
        ("disabled", "code_disabled", "This top-up code has been disabled."),
        ("expired", "code_expired", "This top-up code has expired."),
    ],
)
def test_a_code_that_cannot_be_redeemed_is_a_clear_400_that_moves_no_credit(
    gateway_url: str, cognito: CognitoPool, operator: ConsoleApi, make: str, code: str, message: str
):
    # Given a code in the state named, and a customer
    text = {"unknown": topup_codes.new_code(), "malformed": "not-a-code"}.get(make)
    if make in ("redeemed", "disabled"):
        minted = mint(operator, {"credits": "1"})
        text = minted["codes"][0]
        if make == "redeemed":
            first, _ = customer(gateway_url, cognito)
            first.ok(first.post("/topup", {"key": text}))
        else:
            operator.ok(operator.patch(f"/admin/codes/{minted['data'][0]['id']}", {"disabled": True}))
    if make == "expired":
        text = topup_codes.new_code()
        stale = TopUpCode(topup_codes.code_hash(text), 1_000_000, "active", clock.now_iso(), "t", clock.now_epoch() - 1)
        stores().codes.create([stale])
    api, account_id = customer(gateway_url, cognito)
    before = balance_of(account_id)

    # When the customer tries it
    refused = api.post("/topup", {"key": text})

    # Then it is a 400 saying why, in its own code, and no credit moved
    assert refused.status_code == 400, refused.text
    assert refused.json()["error"] | {"status": None} == {
        "message": message, "type": "invalid_request_error", "code": code, "param": "key", "status": None,
    }  # fmt: skip
    assert balance_of(account_id) == before
    assert [g.source for g in LedgerReader(TEST_TABLE).grants(account_id)] == ["initial"]


@pytest.mark.parametrize("body", [{}, {"key": ""}, {"key": 12}, {"key": "x" * 129}, {"code": "gwc-x"}, ["gwc-x"]])
def test_a_malformed_redemption_is_a_400(gateway_url: str, cognito: CognitoPool, body: Any) -> None:
    api, account_id = customer(gateway_url, cognito)
    before = balance_of(account_id)
    assert api.post("/topup", body).status_code == 400
    assert balance_of(account_id) == before


def test_a_minting_retried_with_its_idempotency_key_mints_nothing_more(operator: ConsoleApi) -> None:
    # Given a minting of 120 codes (more than one transaction holds)
    batch = f"big-{secrets.token_hex(3)}"
    body = {"credits": "0.5", "count": 120, "batch": batch}
    first = mint(operator, body, f"mint-{batch}")

    # When the page sends it again with the same Idempotency-Key, then another action with that key
    again = mint(operator, body, f"mint-{batch}")
    other = operator.post("/admin/codes", {**body, "credits": "9"}, headers={"Idempotency-Key": f"mint-{batch}"})

    # Then the codes were minted once: 120 texts, all stored, none shown a second time
    assert (first["replayed"], len(first["codes"]), len(set(first["codes"]))) == (False, 120, 120)
    assert (again["replayed"], again["codes"], again["data"]) == (True, [], [])
    assert again["action"]["action_id"] == first["action"]["action_id"]
    assert other.status_code == 409
    stored = [stores().codes.get(view["id"]) for view in first["data"]]
    assert all(code is not None and code.batch == batch and code.amount == 500_000 for code in stored)
    logged = [e for e in operator.ok(operator.get("/admin/log"))["data"] if e["subject"] == batch]
    assert [e["action"] for e in logged] == ["mint_codes"]


def test_an_operator_disables_and_enables_a_code_each_in_the_log(
    gateway_url: str, cognito: CognitoPool, operator: ConsoleApi
):
    minted = mint(operator, {"credits": "2"})
    (text,), (view,) = minted["codes"], minted["data"]

    disabled = operator.ok(operator.patch(f"/admin/codes/{view['id']}", {"disabled": True}))
    enabled = operator.ok(operator.patch(f"/admin/codes/{view['id']}", {"disabled": False}))
    api, _account_id = customer(gateway_url, cognito)
    api.ok(api.post("/topup", {"key": text}))
    after_redemption = operator.patch(f"/admin/codes/{view['id']}", {"disabled": True})

    assert (disabled["data"]["status"], enabled["data"]["status"]) == ("disabled", "active")
    assert after_redemption.status_code == 404  # a redeemed code has nothing left to disable
    actions = [(e["action"], e["subject"]) for e in operator.ok(operator.get("/admin/log"))["data"][:2]]
    assert actions == [("enable_code", view["id"]), ("disable_code", view["id"])]


@pytest.mark.parametrize(
    "body",
    [
        {"credits": "0", "count": 1},
        {"credits": "-1"},
        {"credits": "1.0000001"},
        {"credits": "1", "count": 1001},
        {"credits": "1", "count": 0},
        {"credits": "1", "count": "5"},
        {"credits": "1", "expires_at": "2001-01-01T00:00:00Z"},
        {"credits": "1", "expires_at": "2099-01-01T00:00:00Z", "expires_in_days": 2},
        {"credits": "1", "batch": "x" * 65},
        {"credits": "1", "colour": "blue"},
        ["1"],
    ],
)
def test_bad_mintings_are_400s_that_mint_and_log_nothing(operator: ConsoleApi, body: Any) -> None:
    before = operator.ok(operator.get("/admin/log"))["data"][:1]
    answer = operator.post("/admin/codes", body)
    assert answer.status_code == 400, (body, answer.text)
    assert operator.ok(operator.get("/admin/log"))["data"][:1] == before


def test_bad_code_ids_and_cursors_are_4xx(operator: ConsoleApi) -> None:
    assert operator.patch(f"/admin/codes/{'0' * 64}", {"disabled": True}).status_code == 404
    assert operator.patch("/admin/codes/not-a-code", {"disabled": True}).status_code == 404
    assert operator.patch(f"/admin/codes/{'a' * 65}", {"disabled": True}).status_code == 400
    assert operator.patch(f"/admin/codes/{'0' * 64}", {"disabled": "yes"}).status_code == 400
    assert operator.get("/admin/codes", cursor="nope").status_code == 400


def test_the_same_minting_sent_eight_times_at_once_mints_once(operator: ConsoleApi) -> None:
    """Given one submit sent eight times at the same moment (one Idempotency-Key)
    Then one minting wins the transaction that holds its log entry; the others find that entry and
    mint nothing: 3 codes in all, one log entry."""
    batch = f"race-{secrets.token_hex(3)}"
    body, headers = {"credits": "1", "count": 3, "batch": batch}, {"Idempotency-Key": f"race-{batch}"}

    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(lambda _: operator.post("/admin/codes", body, headers=headers), range(8)))

    assert {answer.status_code for answer in answers} == {201}
    minted = [answer.json() for answer in answers if not answer.json()["replayed"]]
    assert len(minted) == 1
    assert len(minted[0]["codes"]) == 3
    assert sum(len(answer.json()["codes"]) for answer in answers) == 3
    listed_batch = [code for code in listed(operator) if code["batch"] == batch]
    assert len(listed_batch) == 3
    assert [e["action"] for e in operator.ok(operator.get("/admin/log"))["data"] if e["subject"] == batch] == [
        "mint_codes"
    ]
