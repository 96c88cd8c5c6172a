"""Where a key is accepted and how long it lasts: `?key=` only on Gemini's routes (keys in URLs end
up in access logs), and a revoked key refused at once by every function, whatever it cached."""

from __future__ import annotations

import httpx
import pytest

from gateway import clock
from gateway.config import get_settings
from gateway.storage.api_keys import ApiKeyRepository

GEMINI_BODY = {"contents": [{"role": "user", "parts": [{"text": "hello"}]}]}


QUERY_KEY_ROUTES = [  # (method, path, key kind, status with the key as `?key=`)
    ("POST", "/v1beta/models/test/echo:generateContent", "inference", 200),
    ("POST", "/v1/models/test/echo:generateContent", "inference", 200),
    ("POST", "/v1/chat/completions", "inference", 401),
    ("POST", "/v1/messages", "inference", 401),
    ("GET", "/v1/models", "inference", 401),
    ("GET", "/api/v1/key", "inference", 401),
    ("GET", "/api/v1/request-traces", "inference", 401),
    ("GET", "/v1/images/tasks/gen-0123456789abcdef", "inference", 401),
    ("GET", "/api/v1/keys", "management", 401),
    ("GET", "/api/user/self", "management", 401),
]


def test_a_key_in_the_query_string_counts_on_gemini_routes_only(gateway_url, upstream, make_tenant):
    # Given valid keys, sent as `?key=` instead of a header
    tenants = {kind: make_tenant("1", kind=kind) for kind in ("inference", "management")}
    answered = {}
    for method, path, kind, _ in QUERY_KEY_ROUTES:
        # When each route is called so
        body = GEMINI_BODY if ":generateContent" in path else {"model": "test/echo", "max_tokens": 5, "messages": []}
        response = httpx.request(
            method, f"{gateway_url}{path}", params={"key": tenants[kind].key}, json=body if method == "POST" else None,
            timeout=20,
        )  # fmt: skip
        answered[(method, path)] = response.status_code
    # Then Gemini's routes take it (as Google's API does) and every other route answers as if no key was sent
    assert answered == {(method, path): status for method, path, _, status in QUERY_KEY_ROUTES}
    assert len(upstream.requests) == 2  # the two Gemini calls


@pytest.mark.parametrize(
    "path",
    [
        "/v1/models",
        "/v1/models/test/echo",
        "/api/v1/key",
        "/api/user/self",
        "/api/user/self/quota",
        "/api/v1/usage",
        "/api/v1/request-traces",
        "/api/v1/request-traces/stats",
        "/v1/images/tasks/gen-0123456789abcdef",
    ],
)
def test_a_key_revoked_elsewhere_is_refused_at_once_by_read_routes(gateway_url, make_tenant, path):
    # Given an inference key this function has just served (so it knows the key)
    tenant = make_tenant("1")
    headers = {"Authorization": f"Bearer {tenant.key}"}
    assert httpx.get(f"{gateway_url}{path}", headers=headers, timeout=20).status_code in (200, 404)
    # When the key is revoked by another function (the keys function, in its own Lambda)
    revoked = ApiKeyRepository(get_settings().table_name).revoke(
        tenant.key_hash, tenant.account_id, clock.now_epoch(), clock.now_iso()
    )
    assert revoked is not None
    # Then the very next request with it is refused, not answered from a cached key record
    response = httpx.get(f"{gateway_url}{path}", headers=headers, timeout=20)
    assert response.status_code == 401, response.text
    assert response.json()["error"]["code"] == "invalid_api_key"


def test_a_keys_snapshot_reads_its_parent_account_limit_counter_and_shards_in_one_transaction(gateway_env):
    from gateway.auth.keys import hash_key
    from gateway.services import accounts, keys
    from gateway.storage import dynamo, layout

    # Given a key created by another key, with 1,234 micro-credits counted against its limit this month
    account = accounts.create_account("snapshot", 16_000_000)
    parent = keys.issue_key(account.account_id, "parent", "inference")
    child = keys.issue_key(account.account_id, "child", "inference", limit=10**9, parent=hash_key(parent.key))
    table = get_settings().table_name
    dynamo.client().update_item(
        TableName=table,
        Key=layout.key_limit_key(hash_key(child.key), "M2026-12"),
        UpdateExpression="ADD used :n",
        ExpressionAttributeValues={":n": {"N": "1234"}},
    )
    repository = ApiKeyRepository(table)
    shards = accounts.get_account(account.account_id).shards
    # When it is read with its counter of that month, and of a month with none, and without one
    read = repository.snapshot(hash_key(child.key), account.account_id, hash_key(parent.key), shards, "M2026-12")
    unused = repository.snapshot(hash_key(child.key), account.account_id, hash_key(parent.key), shards, "M2027-01")
    plain = repository.snapshot(hash_key(child.key), account.account_id, hash_key(parent.key), shards)
    # Then each has the key, its parent, the account's shards and their balances; and its counter as asked
    for snapshot in (read, unused, plain):
        names = (snapshot.record and snapshot.record.name, snapshot.parent and snapshot.parent.name)
        assert names == ("child", "parent")
        assert (snapshot.shards, sum(snapshot.balances), len(snapshot.balances)) == (shards, 16_000_000, shards)
    assert (read.limit_used, unused.limit_used, plain.limit_used) == (1234, 0, None)
