"""Reserve and settle above the credit repository (a recording one): the API error each refusal is, the
ledger entry a settlement writes, and a settlement that cannot be written."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from gateway.billing import credits
from gateway.billing.credits import Attempt, KeyChanged, Outcome
from gateway.errors import ApiDisabled, Forbidden, GatewayError, InsufficientCredits, InvalidApiKey, RateLimited
from gateway.storage import stores
from gateway.storage.credits import LedgerEntry, Reservation
from tests.support.recording_stores import RecordingCredits, RecordingKeys, principal, recording_stores

HOLD = Reservation("gen-1", "acct", "k" * 64, "sk-gw-k", "t/model", 5_000, "2027-01-15T08:00:00Z", 2**31)
SERVED = Outcome(
    endpoint="chat.completions",
    provider="b",
    http_status=200,
    error_code=None,
    prompt_tokens=10,
    completion_tokens=5,
    cost=1_200,
    latency_ms=40,
    attempts=(Attempt("a", "m-a", 502, "provider_error", 10), Attempt("b", "m-b", 200, None, 25)),
)


@pytest.fixture
def store() -> Iterator[RecordingCredits]:
    recorded = RecordingCredits()
    stores.use(recording_stores(recorded, RecordingKeys()))
    yield recorded
    stores.use(None)


@pytest.mark.parametrize(
    ("reason", "error"),
    [
        ("insufficient_credits", InsufficientCredits),
        ("key_limit", InsufficientCredits),
        ("rate_limited", RateLimited),
        ("key_disabled", ApiDisabled),
        ("key_expired", ApiDisabled),
        ("key_wrong_kind", Forbidden),
        ("key_missing", InvalidApiKey),
        ("account_missing", InvalidApiKey),
    ],
)
def test_each_refusal_is_its_api_error(store: RecordingCredits, reason: str, error: type[GatewayError]) -> None:
    store.refusals = [reason]
    with pytest.raises(error):
        credits.reserve(principal(limit=1_000, limit_reset="daily", rate_limit=10), "t/model", 5_000, "gen-2")
    assert store.reserved == []


def test_a_key_changed_since_it_was_read_is_for_the_caller_to_read_again(store: RecordingCredits) -> None:
    store.refusals = ["key_changed"]
    with pytest.raises(KeyChanged):
        credits.reserve(principal(), "t/model", 5_000, "gen-3")


def test_a_hold_counts_against_the_keys_limit_for_its_period(store: RecordingCredits) -> None:
    reservation = credits.reserve(principal(limit=9_000, limit_reset="monthly"), "t/model", 5_000, "gen-4")
    ((held, guard, _),) = store.reserved
    assert held == reservation
    assert (guard.limit_headroom, reservation.limit_period is not None) == (4_000, True)


def test_the_ledger_entry_keeps_the_attempts_and_never_charges_above_the_hold(store: RecordingCredits) -> None:
    written = credits.settle(HOLD, SERVED)
    assert written is not None
    assert (written.credits, written.reserved, written.status) == (1_200, 5_000, "success")
    first, second = written.attempts
    assert first == {
        "provider": "a",
        "upstream_model": "m-a",
        "http_status": 502,
        "error_code": "provider_error",
        "latency_ms": 10,
    }
    assert (second["provider"], second["http_status"], second["error_code"]) == ("b", 200, None)
    assert credits.ledger_entry(HOLD, Outcome(**{**SERVED.__dict__, "cost": 9_999})).credits == 5_000


@dataclass
class Flaky(RecordingCredits):
    failures: int = 0
    pending_fails: bool = False

    def settle(self, *args: Any, **kwargs: Any) -> bool:
        if self.failures:
            self.failures -= 1
            raise ConnectionError("throttled")
        return super().settle(*args, **kwargs)

    def record_pending(self, reservation: Reservation, entry: LedgerEntry) -> None:
        if self.pending_fails:
            raise ConnectionError("still throttled")
        super().record_pending(reservation, entry)


def test_a_settlement_that_fails_is_retried() -> None:
    flaky = Flaky(failures=2)
    stores.use(recording_stores(flaky, RecordingKeys()))
    try:
        assert credits.settle_durably(HOLD, SERVED) is not None
    finally:
        stores.use(None)
    assert (len(flaky.entries), flaky.pending) == (1, [])


def test_a_settlement_that_cannot_be_written_keeps_its_charge_for_the_sweeper() -> None:
    flaky = Flaky(failures=3)
    stores.use(recording_stores(flaky, RecordingKeys()))
    try:
        assert credits.settle_durably(HOLD, SERVED) is None
        assert [entry.credits for entry in flaky.pending] == [1_200]
        flaky.failures, flaky.pending_fails = 3, True
        assert credits.settle_durably(HOLD, SERVED) is None  # never raises: the answer already went out
    finally:
        stores.use(None)
    assert flaky.entries == []
