"""Tidying balance shards (billing/holds.py) at sizes and paces honest traffic reaches: a window's
pending charges past one Query page are all charged, a shard with hundreds of old days folds them
(an expression is at most 4 KB), a shard that cannot be tidied stops no other's release, and a busy
shard whose holds are transactions (a key with a credit limit) is tidied by its own requests: the
sweeper lists a shard only under the window of its latest hold, which for a busy one is never over."""

from __future__ import annotations

import time
from datetime import date, timedelta
from typing import Any

import pytest

from gateway import clock
from gateway.auth.authenticate import authenticate, forget
from gateway.billing import credits, holds, shards
from gateway.billing.credits import Outcome, ledger_entry
from gateway.billing.holds import RELEASE_MARGIN_SECONDS, ShardsNotTidied
from gateway.clock import now_epoch, now_iso
from gateway.config import get_settings
from gateway.ids import new_account_id, new_trace_id
from gateway.services import accounts, keys
from gateway.storage import dynamo, layout
from gateway.storage.credits import KeyGuard, Reservation
from gateway.storage.stores import stores
from tests.conftest import Tenant
from tests.conftest import ledger_entry as stored_entry


def after(window: int, seconds: int = 1) -> int:
    return layout.window_end(window) + RELEASE_MARGIN_SECONDS + seconds


def gather(tenant: Tenant) -> None:
    """Every credit of the account on shard 0 (as a running-low rebalance leaves it)."""
    account = stores().accounts.get(tenant.account_id)
    assert account is not None
    found, _ = stores().accounts.balances.snapshot(tenant.account_id, account.shards)
    moves = {s.number: -s.balance for s in found if s.number != 0 and s.balance}
    if moves:
        moves[0] = -sum(moves.values())
        assert stores().accounts.balances.move(tenant.account_id, moves)


def hold(tenant: Tenant, amount: int, expires_at: int | None = None) -> Reservation:
    """A hold on shard 0 as the hot path writes it for a key without limits."""
    shard = stores().accounts.balances.get(tenant.account_id, 0)
    assert shard is not None
    reservation = Reservation(
        trace_id=new_trace_id(),
        account_id=tenant.account_id,
        key_hash=tenant.key_hash,
        key_prefix="sk-gw-",
        model="test/echo",
        amount=amount,
        created_at=now_iso(),
        expires_at=expires_at if expires_at is not None else now_epoch() + get_settings().reservation_ttl_seconds,
        shard=0,
    )
    stores().credits.reserve(reservation, KeyGuard(), now_epoch(), [], gate=shard.gate)
    return reservation


def outcome(cost: int, metadata: dict[str, str] | None = None) -> Outcome:
    return Outcome("chat", "openai", 200, None, 10, 10, cost, 5, metadata=metadata)


# OpenAI's `metadata` as a client may send it: 16 pairs, keys of 64 characters, values of 512
BIG_METADATA = {f"{n:02d}".ljust(64, "k"): "v" * 512 for n in range(16)}


def test_every_pending_charge_of_a_window_is_charged_not_only_the_first_page(gateway_env, make_tenant):
    tenant = make_tenant("1000")
    gather(tenant)
    count, amount, cost = 160, 1_000_000, 400_000
    # Given 160 answers whose settlement failed, each charge kept on a pending item of ~9.5 KB (the
    # client's metadata): more than one 1 MB Query page, all in one window of one shard
    first = hold(tenant, amount)
    held = [first] + [hold(tenant, amount, expires_at=first.expires_at) for _ in range(count - 1)]
    for reservation in held:
        stores().credits.record_pending(reservation, ledger_entry(reservation, outcome(cost, BIG_METADATA)))
    before = accounts.get_account(tenant.account_id).balance
    # When the window is over and the shard is tidied
    done = holds.tidy(tenant.account_id, 0, now=after(first.window))
    # Then every kept charge is charged, and nothing given back
    charged = [r for r in held if stored_entry(r.trace_id) is not None]
    assert (len(charged), done.released) == (count, 0)
    assert accounts.get_account(tenant.account_id).balance == before + count * (amount - cost)


def legacy_account_with_history(days: int, per_day: int = 1_000) -> str:
    """An account from before balance shards, charged on `days` distinct days long ago (their traces
    expired, their daily usage kept), moved onto shards by the upgrade step: shard 0 gets every day."""
    account_id = new_account_id()
    client, table = stores().accounts.balances.db, stores().accounts.balances.table
    granted, start = 50_000_000, date(2025, 1, 1)
    for n in range(days):
        day = (start + timedelta(days=n)).isoformat()
        usage = {"account_id": account_id, "day": day, "model": "test/echo", "key_hash": "k" * 64,
                 "key_prefix": "sk-gw-k", "requests": 1, "errors": 0, "prompt_tokens": 1,
                 "completion_tokens": 1, "credits": per_day}  # fmt: skip
        key = layout.usage_key(account_id, day, "test/echo", "k" * 64)
        client.put_item(TableName=table, Item={**key, **dynamo.to_attributes(usage)})
    created = "2025-01-01T00:00:00Z"
    values = {"account_id": account_id, "name": "legacy", "balance": granted - days * per_day, "granted": granted}
    client.put_item(
        TableName=table,
        Item={**layout.account_key(account_id), **dynamo.to_attributes({**values, "created_at": created})},
    )
    grant = {"account_id": account_id, "amount": granted, "created_at": created, "source": "initial"}
    client.put_item(
        TableName=table, Item={**layout.grant_key(account_id, created, "g1"), **dynamo.to_attributes(grant)}
    )
    stores().accounts.sharded(account_id)  # the upgrade step (`gateway-admin shard-balances`)
    return account_id


def test_a_shard_with_hundreds_of_old_days_folds_them(gateway_env):
    account_id = legacy_account_with_history(days=200)
    before = stores().accounts.balances.get(account_id, 0)
    assert before is not None
    assert len(before.charged) == 200
    holds.tidy(account_id, 0)
    shard = stores().accounts.balances.get(account_id, 0)
    assert shard is not None
    assert (len(shard.charged), shard.charged_before) == (0, 200 * 1_000)


def test_a_shard_that_cannot_be_tidied_stops_no_other_accounts_release(gateway_env, make_tenant, monkeypatch):
    from gateway.billing.sweeper import sweep_expired

    # Given two accounts whose requests died holding in the same window, one of whose shards cannot be
    # folded (any failure of its tidy)
    broken, other = make_tenant("10"), make_tenant("10")
    gather(broken)
    gather(other)
    first = hold(broken, 1_000)
    dead = hold(other, 2_000_000, expires_at=first.expires_at)
    tidy = holds.tidy

    def failing(account_id: str, number: int, now: int | None = None) -> holds.Tidied:
        if account_id == broken.account_id:
            raise RuntimeError("ValidationException")
        return tidy(account_id, number, now)

    monkeypatch.setattr(holds, "tidy", failing)
    marked: list[int] = []
    monkeypatch.setattr(holds, "_mark_swept", marked.append)
    # When the sweeper runs once their window is over
    with pytest.raises(ShardsNotTidied) as failed:  # its run fails (the sweeper's alarm)...
        sweep_expired(now=after(dead.window))
    # Then the other account's hold is given back all the same, and the window is swept again next time
    assert failed.value.done.released >= 2_000_000
    assert dead.window not in stores().accounts.balances.get(other.account_id, 0).held
    assert dead.window not in marked


STEP = 240  # a request every 4 minutes (simulated), on one shard
HOURS = 3


def test_a_busy_shard_held_by_transactions_gives_back_a_dead_hold(gateway_env, make_tenant, monkeypatch):
    """A key with a credit limit holds in a transaction (which returns no shard). One request dies
    holding; the account then sends a request every 4 minutes for 3 hours while the sweeper runs
    every 5: the dead hold is given back, and settled windows leave the shard's item."""
    from gateway.billing.sweeper import sweep_expired

    base = make_tenant("100")
    issued = keys.issue_key(base.account_id, "limited", "inference", limit=90_000_000)
    tenant = Tenant(base.account_id, issued.key, issued.record.key_hash)
    gather(tenant)
    start = clock.now()
    moment = [start]
    monkeypatch.setattr(clock, "now", lambda: moment[0])
    monkeypatch.setattr(holds, "_mark_swept", lambda window: None)  # the table's mark stays in real time

    def principal() -> Any:
        forget(tenant.key_hash)
        return authenticate(tenant.key, require="inference")

    dead = credits.reserve(principal(), "test/echo", 1_000_000, new_trace_id(), choice=shards.Choice(0, False))
    last_sweep = start
    while moment[0] < start + HOURS * 3600:
        moment[0] += STEP
        reservation = credits.reserve(principal(), "test/echo", 100_000, new_trace_id(), choice=shards.Choice(0, False))
        assert credits.settle(reservation, outcome(10_000)) is not None
        if moment[0] - last_sweep >= 300:
            sweep_expired(now=int(moment[0]))
            last_sweep = moment[0]
    deadline = time.monotonic() + 10  # the request path tidies in a background thread
    while time.monotonic() < deadline:
        shard = stores().accounts.balances.get(tenant.account_id, 0)
        if shard is not None and dead.window not in shard.held and len(shard.held) <= 6:
            break
        time.sleep(0.2)
    assert shard is not None
    assert dead.window not in shard.held, f"the dead hold is still held {HOURS} h later"
    assert len(shard.held) <= 6, f"{len(shard.held)} windows kept on the shard's item"
