"""What a process knows of a limited key's counter decides whether its request may speculate: only a
recent read of the current period leaving the hold SPECULATE_COVER times over, less this process's
own holds since; a newer read replaces an older one, never the reverse."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from gateway.auth.authenticate import LimitRead, Principal
from gateway.billing import limit_headroom
from gateway.billing.shards import KNOWN_SECONDS, SPECULATE_COVER
from gateway.storage.api_keys import ApiKeyRecord

HOLD = 1_000
PERIOD = "D2026-12-01"


@pytest.fixture(autouse=True)
def forgotten() -> Iterator[None]:
    limit_headroom.forget_all()
    yield
    limit_headroom.forget_all()


def principal(limit: int | None, used: int | None = 0, at: float | None = None, period: str = PERIOD) -> Principal:
    key = ApiKeyRecord("h" * 64, "sk-gw-h", "acct", "k", "inference", False, "2026-12-01T00:00:00.000Z", limit=limit)
    read = LimitRead(period, used, time.monotonic() if at is None else at) if used is not None else None
    return Principal(key, gate=1, shards=1, balances=(10**12,), limit=read)


def test_a_key_without_a_limit_always_has_room():
    assert limit_headroom.covers(principal(None, None), HOLD, PERIOD)


def test_room_for_the_hold_cover_times_over_and_no_less():
    assert limit_headroom.covers(principal(SPECULATE_COVER * HOLD), HOLD, PERIOD)
    limit_headroom.forget_all()
    assert not limit_headroom.covers(principal(SPECULATE_COVER * HOLD - 1), HOLD, PERIOD)
    limit_headroom.forget_all()
    assert not limit_headroom.covers(principal(10**9, used=10**9 - SPECULATE_COVER * HOLD + 1), HOLD, PERIOD)


def test_a_key_whose_counter_was_not_read_is_not_known_to_have_room():
    assert not limit_headroom.covers(principal(10**9, used=None), HOLD, PERIOD)


def test_another_period_or_an_old_read_is_not_known():
    assert not limit_headroom.covers(principal(10**9, period="D2026-11-30"), HOLD, PERIOD)
    limit_headroom.forget_all()
    assert not limit_headroom.covers(principal(10**9, at=time.monotonic() - KNOWN_SECONDS - 1), HOLD, PERIOD)


def test_own_holds_use_up_the_room_and_a_refusal_forgets_it():
    key = principal(SPECULATE_COVER * HOLD + 2 * HOLD)
    assert limit_headroom.covers(key, HOLD, PERIOD)
    limit_headroom.took(key.key_hash, PERIOD, HOLD)
    limit_headroom.took(key.key_hash, "D2026-11-30", 10 * HOLD)  # another period's hold: not this one's
    assert limit_headroom.covers(key, HOLD, PERIOD)
    limit_headroom.took(key.key_hash, PERIOD, HOLD + 1)
    assert not limit_headroom.covers(key, HOLD, PERIOD)  # the same (cached) read does not undo them
    limit_headroom.forget(key.key_hash)
    assert limit_headroom.covers(key, HOLD, PERIOD)  # learned again from the key's read


def test_a_newer_read_replaces_what_was_known_and_an_older_one_does_not():
    old = time.monotonic() - 10
    assert limit_headroom.covers(principal(100 * HOLD, used=0, at=old), HOLD, PERIOD)
    assert not limit_headroom.covers(principal(100 * HOLD, used=90 * HOLD), HOLD, PERIOD)  # newer, nearly spent
    assert not limit_headroom.covers(principal(100 * HOLD, used=0, at=old), HOLD, PERIOD)  # older: ignored
