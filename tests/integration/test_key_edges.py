"""Edges of keys and their views: a key churning the tokens it creates cannot make every request reach
the upstream twice, a trace cursor of another range is a 400, a key expiring as it creates a token is
refused as expired, inherited allow-lists are not re-checked, a replayed create of a revoked key is a
404, and a token's remaining quota counts its creator's limit."""

from __future__ import annotations

import base64
import json
import time
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from gateway.services import accounts, keys
from gateway.storage import layout
from tests.conftest import aggregated, settled
from tests.support.control import eventually, operator, unique
from tests.support.keys_api import KeysApi, chat

__all__ = ["operator"]


def call(
    url: str, key: str, method: str, path: str, body: dict[str, Any] | None = None, **params: Any
) -> httpx.Response:
    headers = {"Authorization": f"Bearer {key}"}
    return httpx.request(method, f"{url}{path}", json=body, params=params or None, headers=headers, timeout=30)


def test_a_key_churning_its_own_tokens_makes_requests_reach_the_upstream_twice_once_a_minute_at_most(
    gateway_url, upstream
):
    # Given a rich account (its requests are speculative) whose inference key this process has read
    account = accounts.create_account("churn", 1_000_000_000)
    key = keys.issue_key(account.account_id, "app", "inference").key
    assert chat(gateway_url, key).status_code == 200
    settled()
    # When before each request it creates and revokes a token (each revocation moves the account's gate)
    answered = 0
    for number in range(8):
        token = call(gateway_url, key, "POST", "/api/token", {"name": "throwaway"}).json()["data"]["id"]
        assert call(gateway_url, key, "DELETE", f"/api/token/{token}").status_code == 200
        prompt = f"churned prompt #{number} " * 20
        response = httpx.post(
            f"{gateway_url}/v1/chat/completions",
            json={"model": "test/echo", "messages": [{"role": "user", "content": prompt}]},
            headers={"Authorization": f"Bearer {key}"},
            timeout=30,
        )
        answered += response.status_code == 200
    settled()
    # Then only the first refused speculation called the upstream twice: the account speculates no more
    sent = len([body for body in upstream.requests if "churned prompt #" in json.dumps(body)])
    assert answered == 8
    assert sent <= answered + 1, f"{answered} requests answered cost {sent} upstream calls"


@pytest.fixture
def traced(gateway_url, upstream):  # type: ignore[no-untyped-def]
    account = accounts.create_account("cursor", 10_000_000)
    issued = keys.issue_key(account.account_id, "app", "inference")
    for _ in range(8):
        assert chat(gateway_url, issued.key).status_code == 200
    aggregated()
    return issued


def test_a_trace_cursor_sent_with_another_date_range_is_a_400(gateway_url, traced):
    cursor = None
    while True:  # a cursor resuming inside a partition (not only at its start or end)
        params = {"cursor": cursor} if cursor else {}
        page = call(gateway_url, traced.key, "GET", "/api/v1/request-traces", page_size=1, **params)
        cursor = page.json()["data"]["next_cursor"]
        assert cursor, "no cursor resumed inside a partition"
        if any(json.loads(base64.urlsafe_b64decode(cursor.partition(".")[2])).values()):
            break
    path = "/api/v1/request-traces"
    response = call(gateway_url, traced.key, "GET", path, cursor=cursor, date_from="2020-01-01", date_to="2020-01-02")
    assert response.status_code == 400, response.text
    assert response.json()["error"]["param"] == "cursor"
    assert call(gateway_url, traced.key, "GET", path, page_size=1, cursor=cursor).status_code == 200  # its own range


@pytest.mark.parametrize(
    "position",
    [
        {"pk": {"S": "TRACE#x"}},
        {"pk": {"S": "TRACE#x"}, "sk": {"S": "TRACE"}, "gsi2pk": {"S": "KEY#x#TRACES"}, "gsi2sk": {"S": "2026"}},
    ],
    ids=["no index key", "another partition"],
)
def test_a_forged_trace_cursor_is_a_400(gateway_url, traced, position):
    positions: dict[str, Any] = dict.fromkeys(layout.key_traces_pks(traced.record.key_hash))
    positions[next(iter(positions))] = position
    forged = "2." + base64.urlsafe_b64encode(json.dumps(positions).encode()).decode()
    response = call(gateway_url, traced.key, "GET", "/api/v1/request-traces", cursor=forged)
    assert response.status_code == 400, response.text
    assert response.json()["error"]["param"] == "cursor"


def test_a_token_created_as_its_creator_expires_is_refused_as_expired(gateway_url, gateway_env, monkeypatch):
    # Given a key expiring in two seconds, whose listing of its keys (read to create one) is slow
    from gateway.services import delegation

    account = accounts.create_account("expiring", 1_000_000)
    api = KeysApi(gateway_url, keys.issue_key(account.account_id, "ops", "management").key)
    expires = int(time.time()) + 2
    creator = api.create(name="mine", expires_at=datetime.fromtimestamp(expires, UTC).isoformat())["key"]
    real = delegation.visible_keys

    def slow_listing(principal):  # type: ignore[no-untyped-def]
        found = real(principal)
        while time.time() < expires + 0.2:
            time.sleep(0.05)
        return found

    monkeypatch.setattr(delegation, "visible_keys", slow_listing)
    # When it creates a token, admitted before its expiry, the token's expiry checked after it
    response = call(gateway_url, creator, "POST", "/api/token", {"name": "child"})
    # Then it is refused as an expired key is, not a 500
    assert response.status_code == 403, response.text
    assert response.json()["error"]["code"] == "api_disabled"


def test_a_key_whose_allowed_model_was_disabled_can_still_create_a_token(gateway_url, upstream, operator):
    model_id = unique("ops/retiring")
    spec = {"id": model_id, "display_name": model_id, "owned_by": "ops", "context_length": 8192}
    pricing = {"pricing": {"input": "1", "output": "2"}, "providers": [{"provider": "fake", "model": "echo"}]}
    operator.post("/models", {**spec, "max_output_tokens": 100, **pricing})
    try:
        account = accounts.create_account("retired", 10_000_000)
        api = KeysApi(gateway_url, keys.issue_key(account.account_id, "ops", "management").key)
        body = {"name": "m", "allowed_models": ["test/echo", model_id]}
        mine = eventually(lambda: (made := api.http.post("/api/v1/keys", json=body)).status_code == 201 and made)
        key = mine.json()["key"]
        operator.patch(f"/models/{model_id}", {"enabled": False})
        eventually(lambda: chat(gateway_url, key, model_id).status_code == 404)
        # the lists it inherits are not checked against today's catalog: they only bind it
        response = call(gateway_url, key, "POST", "/api/token", {"name": "for my app"})
        assert response.status_code == 200, response.text
        assert chat(gateway_url, response.json()["data"]["key"], "test/echo").status_code == 200
        # what the client sends is checked
        sent = call(gateway_url, key, "POST", "/api/v1/api-keys", {"name": "x"})
        assert sent.status_code == 200, sent.text
        named = api.http.post("/api/v1/keys", json={"name": "n", "allowed_models": [model_id]})
        assert (named.status_code, named.json()["error"]["param"]) == (400, "allowed_models")
    finally:
        operator.delete(f"/models/{model_id}")


def test_a_replayed_create_of_a_key_revoked_since_is_a_404(gateway_url, upstream, gateway_env):
    account = accounts.create_account("replay", 10_000_000)
    api = KeysApi(gateway_url, keys.issue_key(account.account_id, "ops", "management").key)
    headers = {"Idempotency-Key": "backend-key-1"}
    first = api.create(name="backend", headers=headers)
    assert api.delete(first["data"]["hash"]).status_code == 200
    replay = api.http.post("/api/v1/keys", json={"name": "backend"}, headers=headers)
    assert replay.status_code == 404, replay.text


def test_a_tokens_remaining_quota_counts_its_creators_limit(gateway_url, upstream):
    # Given a key limited to 0.002 credits and a token it created (its own limit the same)
    account = accounts.create_account("quota", 10_000_000)
    api = KeysApi(gateway_url, keys.issue_key(account.account_id, "ops", "management").key)
    mine = api.create(name="mine", limit=0.002)["key"]
    token = call(gateway_url, mine, "POST", "/api/token", {"name": "app"}).json()["data"]
    # When the creator spends most of it
    assert chat(gateway_url, mine, "test/pricey", max_tokens=1).status_code == 200
    assert chat(gateway_url, token["key"], "test/pricey", max_tokens=1).status_code == 402
    settled()
    # Then the token shows what it can still spend: the creator's remaining
    listed = call(gateway_url, token["key"], "GET", "/api/token").json()["data"]
    (own,) = [t for t in listed if t["id"] == token["id"]]
    own_view = call(gateway_url, token["key"], "GET", "/api/v1/key").json()["data"]
    creator_view = call(gateway_url, mine, "GET", "/api/v1/key").json()["data"]
    assert own["remain_quota"] == own_view["limit_remaining"] == creator_view["limit_remaining"] < 0.0015
