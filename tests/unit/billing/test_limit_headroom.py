"""What a process knows of a limited key's counter decides whether its request may speculate: only a
recent read of the current period leaving the hold SPECULATE_COVER times over, less this process's
holds since (counted as they start); a newer read replaces an older one, never the reverse; a hold
refused for the limit stops speculation for the key for KNOWN_SECONDS, whatever reads come."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from gateway.auth.authenticate import LimitRead, Principal
from gateway.billing import limit_headroom
from gateway.billing.shards import KNOWN_SECONDS, SPECULATE_COVER
from gateway.storage.api_keys import ApiKeyRecord

HOLD = 1_000
MOMENT = 1_796_126_400.0  # 2026-12-01 12:00 UTC
PERIOD = "D2026-12-01"  # its day: the keys' limits here reset daily


@pytest.fixture(autouse=True)
def forgotten() -> Iterator[None]:
    limit_headroom.forget_all()
    yield
    limit_headroom.forget_all()


def principal(limit: int | None, used: int | None = 0, at: float | None = None, period: str = PERIOD) -> Principal:
    key = ApiKeyRecord(
        "h" * 64,
        "sk-gw-h",
        "acct",
        "k",
        "inference",
        False,
        "2026-12-01T00:00:00.000Z",
        limit=limit,
        limit_reset="daily",
    )
    read = LimitRead(period, used, time.monotonic() if at is None else at) if used is not None else None
    return Principal(key, gate=1, shards=1, balances=(10**12,), limit=read)


def test_a_key_without_a_limit_always_has_room():
    assert limit_headroom.claim(principal(None, None), HOLD, MOMENT)


def test_room_for_the_hold_cover_times_over_and_no_less():
    assert limit_headroom.claim(principal(SPECULATE_COVER * HOLD), HOLD, MOMENT)
    limit_headroom.forget_all()
    assert not limit_headroom.claim(principal(SPECULATE_COVER * HOLD - 1), HOLD, MOMENT)
    limit_headroom.forget_all()
    assert not limit_headroom.claim(principal(10**9, used=10**9 - SPECULATE_COVER * HOLD + 1), HOLD, MOMENT)


def test_a_key_whose_counter_was_not_read_is_not_known_to_have_room():
    assert not limit_headroom.claim(principal(10**9, used=None), HOLD, MOMENT)


def test_another_period_or_an_old_read_is_not_known():
    assert not limit_headroom.claim(principal(10**9, period="D2026-11-30"), HOLD, MOMENT)
    limit_headroom.forget_all()
    assert not limit_headroom.claim(principal(10**9, at=time.monotonic() - KNOWN_SECONDS - 1), HOLD, MOMENT)


def test_concurrent_claims_count_at_once_and_written_holds_again():
    # Given a key read with room for the hold 25 times over (cover 20)
    key = principal((SPECULATE_COVER + 5) * HOLD)
    # When requests claim it before any of their holds is written: six go (the sixth leaves 20 holds'
    # room below the limit before it), the seventh finds too little
    assert [limit_headroom.claim(key, HOLD, MOMENT) for _ in range(7)] == [True] * 6 + [False]
    # And a hold written (or one of another period) counts again, never lifting the estimate
    limit_headroom.forget_all()
    assert limit_headroom.claim(key, HOLD, MOMENT)
    limit_headroom.took(key.key_hash, "D2026-11-30", 10 * HOLD)  # another period's hold: not this one's
    limit_headroom.took(key.key_hash, PERIOD, 4 * HOLD)
    assert limit_headroom.claim(key, HOLD, MOMENT)  # 1 + 4 used of 25: room for this one
    assert not limit_headroom.claim(key, HOLD, MOMENT)  # the same (cached) read does not undo them


def test_a_newer_read_replaces_what_was_known_and_an_older_one_does_not():
    old = time.monotonic() - 10
    assert limit_headroom.claim(principal(100 * HOLD, used=0, at=old), HOLD, MOMENT)
    assert not limit_headroom.claim(principal(100 * HOLD, used=90 * HOLD), HOLD, MOMENT)  # newer, nearly spent
    assert not limit_headroom.claim(principal(100 * HOLD, used=0, at=old), HOLD, MOMENT)  # older: ignored


def test_a_refusal_for_the_limit_stops_speculation_for_known_seconds_whatever_reads_come(monkeypatch):
    # Given a key whose hold was refused for its limit (another process spent it)
    clock = {"now": 1_000.0}
    monkeypatch.setattr(limit_headroom.time, "monotonic", lambda: clock["now"])
    limit_headroom.refused("h" * 64)
    # When fresh reads show room again (the spenders' settlements gave most of their holds back)
    for seconds in (0.0, 1.0, KNOWN_SECONDS - 1):
        clock["now"] = 1_000.0 + seconds
        # Then none of them lets it speculate within KNOWN_SECONDS of the refusal
        assert not limit_headroom.claim(principal(10**9, at=clock["now"]), HOLD, MOMENT)
    # And the first read after that does
    clock["now"] = 1_000.0 + KNOWN_SECONDS + 1
    assert limit_headroom.claim(principal(10**9, at=clock["now"]), HOLD, MOMENT)
