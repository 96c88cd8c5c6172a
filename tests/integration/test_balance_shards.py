"""An account's balance on its shards: credits move to the shard a hold needs, and a request is
refused only when the account as a whole cannot cover it; a busy account gets more shards; and an
account from before shards (its balance on its account item) is moved onto them, once."""

from __future__ import annotations

import json

import httpx

from gateway.billing import audit
from gateway.clock import now_epoch, now_iso
from gateway.ids import new_account_id, new_trace_id
from gateway.services import accounts, keys
from gateway.storage import dynamo, layout
from gateway.storage.accounts import Account
from gateway.storage.stores import stores
from tests.conftest import TEST_TABLE, aggregated, balance_of, holds_of
from tests.integration.test_admin_cli import admin


def chat(gateway_url: str, key: str, max_tokens: int = 1000) -> httpx.Response:
    return httpx.post(
        f"{gateway_url}/v1/chat/completions",
        json={"model": "test/echo", "messages": [{"role": "user", "content": "shards"}], "max_tokens": max_tokens},
        headers={"Authorization": f"Bearer {key}"},
        timeout=30,
    )


def test_a_hold_larger_than_any_one_shard_is_covered_by_moving_credits(gateway_url, upstream):
    # Given an account whose credits are spread thin over sixteen shards (16 x 100 micro-credits)
    account = Account(new_account_id(), "thin", 1_600, 1_600, now_iso(), shards=16)
    stores().accounts.create(account, grant_id="thin")
    parts = [shard.balance for shard in accounts.get_account(account.account_id).balance_shards]
    assert parts == [1_600] + [0] * 15  # too little to spread: on shard 0
    stores().accounts.balances.move(account.account_id, {0: -1_500, **dict.fromkeys(range(1, 16), 100)})
    key = keys.issue_key(account.account_id, "k", "inference").key
    # When a request holds more than any one shard has (but less than all of them)
    answer = chat(gateway_url, key, max_tokens=5)
    # Then the credits were gathered into one shard and the request served
    assert answer.status_code == 200, answer.text
    aggregated()
    assert audit.audit_account(account.account_id, drained=True).balanced
    # And one the whole account cannot cover is refused, exactly as before shards
    refused = chat(gateway_url, key, max_tokens=1000)
    assert refused.status_code == 402
    assert refused.json()["error"]["code"] == "insufficient_credits"
    assert holds_of(account.account_id) == 0


def test_a_busy_account_gets_more_shards_and_its_holds_spread_over_them(gateway_url, upstream, gateway_env):
    account = Account(new_account_id(), "growing", 2_000_000_000, 2_000_000_000, now_iso(), shards=2)
    stores().accounts.create(account, grant_id="growing")
    key = keys.issue_key(account.account_id, "k", "inference").key
    assert chat(gateway_url, key).status_code == 200
    # When an operator gives it eight shards
    result = admin(gateway_env, "--table", TEST_TABLE, "add-shards", "--account", account.account_id, "--shards", "8")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["balance_shards"] == 8
    # Then the balance is spread over all eight, the next requests use them (the key read again:
    # adding shards moved the gate), and the books balance
    for _ in range(30):
        assert chat(gateway_url, key).status_code == 200
    used = [shard for shard in accounts.get_account(account.account_id).balance_shards if shard.charges]
    assert len(used) > 2
    aggregated()
    report = audit.audit_account(account.account_id, drained=True)
    assert report.balanced, report.view()
    assert balance_of(account.account_id) == 2_000_000_000 - report.charges


def test_an_account_from_before_shards_is_moved_onto_them_once(gateway_url, upstream, gateway_env):
    # Given an account as the previous version kept it: its balance on its item, a grant entry, and an
    # open reservation of a request in flight (its hold already taken from the balance)
    account_id, trace = new_account_id(), new_trace_id()
    client = dynamo.client()
    values = {"account_id": account_id, "name": "legacy", "balance": 4_750_000, "granted": 5_000_000}
    client.put_item(
        TableName=TEST_TABLE,
        Item={**layout.account_key(account_id), **dynamo.to_attributes({**values, "created_at": now_iso()})},
    )
    grant = {"account_id": account_id, "amount": 5_000_000, "created_at": now_iso(), "source": "initial"}
    client.put_item(
        TableName=TEST_TABLE, Item={**layout.grant_key(account_id, now_iso(), "g1"), **dynamo.to_attributes(grant)}
    )
    expires = now_epoch() + 600
    hold = {
        "trace_id": trace, "account_id": account_id, "key_hash": "k" * 64, "key_prefix": "sk-gw-k",
        "model": "test/echo", "amount": 250_000, "created_at": now_iso(), "expires_at": expires,
        **layout.reservation_index(trace, expires),
    }  # fmt: skip
    client.put_item(TableName=TEST_TABLE, Item={**layout.reservation_key(trace), **dynamo.to_attributes(hold)})
    assert accounts.get_account(account_id).balance == 4_750_000
    # When the operator runs the upgrade step
    result = admin(gateway_env, "--table", TEST_TABLE, "shard-balances", "--account", account_id)
    # Then its balance is on its shards, the open reservation held on shard 0, and nothing drifts
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == {"sharded": [account_id], "already": 0}
    moved = accounts.get_account(account_id)
    assert (moved.shards, moved.balance, moved.holds) == (16, 4_750_000, 250_000)
    assert audit.audit_account(account_id).balanced
    # And the reservation, once its request is over, is settled from the shard that holds it
    from gateway.billing.sweeper import sweep_expired

    assert sweep_expired(now=expires + 1).settled >= 1
    assert (balance_of(account_id), holds_of(account_id)) == (5_000_000, 0)
    # And running the step again changes nothing; a key of the account works
    again = admin(gateway_env, "--table", TEST_TABLE, "shard-balances", "--account", account_id)
    assert json.loads(again.stdout) == {"sharded": [], "already": 1}
    key = keys.issue_key(account_id, "k", "inference").key
    assert chat(gateway_url, key, max_tokens=5).status_code == 200
    aggregated()
    assert audit.audit_account(account_id, drained=True).balanced
