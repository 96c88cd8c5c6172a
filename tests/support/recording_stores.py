"""In-memory stand-ins for the repositories a service unit test touches, put in place through
`gateway.storage.stores.use`: they record what the code under test asked for and answer as scripted."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from gateway.auth.authenticate import Principal
from gateway.storage.api_keys import ApiKeyRecord, KeySnapshot
from gateway.storage.channel_windows import ChannelGuard
from gateway.storage.credits import KeyGuard, LedgerEntry, Reservation
from gateway.storage.errors import ReservationRefused
from gateway.storage.profiles import AccountProfile
from gateway.storage.stores import Stores


@dataclass
class RecordingCredits:
    """Holds and settlements, recorded; `refusals` are raised by the next reserve calls, in order."""

    refusals: list[str] = field(default_factory=list)
    reserved: list[tuple[Reservation, KeyGuard, list[dict[str, Any]]]] = field(default_factory=list)
    gates: list[int] = field(default_factory=list)  # the account gate each hold checked
    settled: list[tuple[LedgerEntry, list[dict[str, Any]]]] = field(default_factory=list)
    pending: list[LedgerEntry] = field(default_factory=list)

    def reserve(
        self,
        reservation: Reservation,
        guard: KeyGuard,
        now: int,
        also: Sequence[dict[str, Any]] = (),
        parent: KeyGuard | None = None,
        *,
        gate: int,
        channel: ChannelGuard | None = None,
    ) -> None:
        if self.refusals:
            raise ReservationRefused(self.refusals.pop(0))  # type: ignore[arg-type]
        self.reserved.append((reservation, guard, list(also)))
        self.gates.append(gate)

    def settle(
        self, reservation: Reservation, entry: LedgerEntry, retention_until: int, also: Sequence[dict[str, Any]] = ()
    ) -> bool:
        self.settled.append((entry, list(also)))
        return True

    def record_pending(self, reservation: Reservation, entry: LedgerEntry) -> None:
        self.pending.append(entry)

    @property
    def entries(self) -> list[LedgerEntry]:
        return [entry for entry, _ in self.settled]


@dataclass
class RecordingKeys:
    """Key records by hash; `reads` counts consistent reads (a refresh after the key changed)."""

    records: dict[str, ApiKeyRecord] = field(default_factory=dict)
    reads: int = 0
    window_requests: int = 0
    profile: AccountProfile | None = None  # the account's, as read with the key

    def get(self, key_hash: str, *, consistent: bool = False) -> ApiKeyRecord | None:
        self.reads += 1
        return self.records.get(key_hash)

    def snapshot(
        self, key_hash: str, account_id: str, parent: str | None, shards: int, limit_period: str | None = None
    ) -> KeySnapshot:
        """The key, its parent, and its account's gate (the key's version here), one shard, no balances;
        a limit counter at 0 when one is asked for."""
        record = self.records.get(key_hash)
        parent_record = self.records.get(parent) if parent else None
        gate = record.version if record else 0
        return KeySnapshot(record, parent_record, gate, 1, (), self.profile, limit_used=0 if limit_period else None)

    def requests_in_window(self, key_hash: str, window: int) -> int:
        return self.window_requests


@dataclass
class RecordingProfiles:
    """Accounts' profiles (price group, own keys): the default one unless given; reads counted."""

    profiles: dict[str, AccountProfile] = field(default_factory=dict)
    reads: int = 0

    def get(self, account_id: str) -> AccountProfile | None:
        self.reads += 1
        return self.profiles.get(account_id, AccountProfile())


def recording_stores(
    credits: RecordingCredits, keys: RecordingKeys, profiles: RecordingProfiles | None = None
) -> Stores:
    """The process's stores with the credit, key and profile repositories replaced (the others are
    never used)."""
    return Stores.on("unit-tests").replacing(credits=credits, keys=keys, profiles=profiles or RecordingProfiles())


def key_record(**fields: Any) -> ApiKeyRecord:
    values: dict[str, Any] = {
        "key_hash": "a" * 64,
        "key_prefix": "sk-gw-aaaa",
        "account_id": "acct_unit",
        "name": "unit",
        "kind": "inference",
        "disabled": False,
        "created_at": "2026-11-01T00:00:00Z",
        **fields,
    }
    return ApiKeyRecord(**values)


def principal(**fields: Any) -> Principal:
    """An inference key as read with its account's gate (0) and balance shards (1)."""
    return Principal(key_record(**fields), gate=0, shards=1)
