"""The credit store's own wall, below every endpoint's validation: a hold, charge, refund or top-up
that is not a whole number of micro-credits within its range is refused before anything is written,
so a future endpoint that computes a bad amount cannot raise a balance."""

from __future__ import annotations

import dataclasses

import pytest

from gateway.billing import credits
from gateway.billing.credits import Outcome
from gateway.config import get_settings
from gateway.ids import new_trace_id
from gateway.storage.accounts import AccountRepository
from gateway.storage.credits import CreditRepository, KeyGuard, Reservation
from gateway.storage.errors import InvalidAmount
from tests.conftest import balance_of, holds_of

BAD_HOLDS = [0, -1, -2_000_000_000, True, 1.5, 10**13, "5"]


def reservation(account_id: str, key_hash: str, amount: object, trace: str) -> Reservation:
    return Reservation(
        trace_id=trace, account_id=account_id, key_hash=key_hash, key_prefix="sk-gw-x", model="test/echo",
        amount=amount, created_at="2026-11-30T00:00:00Z", expires_at=2_000_000_000,  # type: ignore[arg-type]
    )  # fmt: skip


@pytest.mark.parametrize("amount", BAD_HOLDS, ids=repr)
def test_a_hold_that_is_not_a_positive_whole_amount_is_refused_and_writes_nothing(gateway_env, make_tenant, amount):
    tenant = make_tenant("10")
    store = CreditRepository(get_settings().table_name)
    trace = new_trace_id()
    with pytest.raises(InvalidAmount):
        store.reserve(reservation(tenant.account_id, tenant.key_hash, amount, trace), KeyGuard(), now=1, gate=0)
    assert balance_of(tenant.account_id) == 10_000_000
    assert holds_of(tenant.account_id) == 0


@pytest.mark.parametrize("charge", [-1, 1_000_001, True, 2.5], ids=repr)
def test_a_charge_outside_its_hold_is_refused_and_the_hold_stays(gateway_env, upstream, make_tenant, charge):
    tenant = make_tenant("10")
    from gateway.auth.authenticate import authenticate

    principal = authenticate(tenant.key, require="inference")
    held = credits.reserve(principal, "test/echo", 1_000_000, new_trace_id())
    outcome = Outcome("chat.completions", "fake", 200, None, 1, 1, 0, 1)
    entry = dataclasses.replace(credits.ledger_entry(held, outcome), credits=charge)
    store = CreditRepository(get_settings().table_name)
    with pytest.raises(InvalidAmount):
        store.settle(held, entry, retention_until=2_000_000_000)
    assert holds_of(tenant.account_id) == 1_000_000
    assert balance_of(tenant.account_id) == 9_000_000
    assert credits.settle(held, outcome) is not None  # the honest settlement still goes through
    assert balance_of(tenant.account_id) == 10_000_000


@pytest.mark.parametrize("amount", [0, -5, True, 0.5], ids=repr)
def test_a_top_up_that_is_not_a_positive_whole_amount_is_refused(gateway_env, make_tenant, amount):
    tenant = make_tenant("10")
    with pytest.raises(InvalidAmount):
        AccountRepository(get_settings().table_name).grant(
            tenant.account_id, amount, grant_id="wall", at_iso="2026-11-30T00:00:00Z", source="top_up"
        )
    assert balance_of(tenant.account_id) == 10_000_000
