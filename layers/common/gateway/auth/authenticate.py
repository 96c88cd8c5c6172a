"""From a request's credentials to a Principal, with a short in-memory cache of key records.

The cache serves inference calls only, and only saves a read: an inference key is read together
with its account's gate (one TransactGetItems), and each hold checks that gate on its balance shard;
every change to a key of the account (and to its profile or `disabled` switch, read with the gate)
moves the gate, so the hold of a key read before the change is refused and the key read again.
Every other call reads the key afresh. So revocation and changes take effect on the very next
request, whichever function serves it. A key created by another key is
read with that key (its parent), and works only within it (auth.delegation).
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from gateway import clock, periods
from gateway.auth.delegation import bound_by
from gateway.auth.keys import hash_key, looks_like_key
from gateway.config import get_settings
from gateway.errors import ApiDisabled, Forbidden, InvalidApiKey
from gateway.storage.api_keys import ApiKeyRecord, KeyKind
from gateway.storage.profiles import AccountProfile
from gateway.storage.stores import stores

_WRONG_KIND = {
    "inference": "Management keys cannot call models.",
    "operator": "This endpoint needs an operator key (gateway-admin create-operator-key).",
}
_CACHE_LIMIT = 10_000
DISABLED_CACHE_SECONDS = 2.0  # a disabled account's key read (refused anyway) is kept this long
Requirement = Literal["inference", "management", "operator", "any"]  # any: inference or management


@dataclass(frozen=True)
class LimitRead:
    """A key's limit counter as read with it: micro-credits counted in `period`, at `at` (monotonic)."""

    period: str
    used: int
    at: float


@dataclass(frozen=True)
class _Read:
    """A key as read at one moment: with its parent, and (for inference keys) its account's gate."""

    record: ApiKeyRecord | None
    parent: ApiKeyRecord | None = None
    gate: int | None = None
    shards: int = 0
    balances: tuple[int, ...] = ()
    profile: AccountProfile | None = None
    account_disabled: bool = False
    limit: LimitRead | None = None


_cache: dict[str, tuple[float, _Read]] = {}


@dataclass(frozen=True)
class Principal:
    """The caller: the key it presented, as last read (for a key created by another key, as it
    applies: within that key's allow-lists and expiry); and that other key, whose limits bind it too.
    An inference key comes with its account's gate and balance shards, read at the same moment."""

    key: ApiKeyRecord
    parent: ApiKeyRecord | None = None
    gate: int | None = None  # None: not read (a management call)
    shards: int = 0
    balances: tuple[int, ...] = ()  # its account's shards' balances, as read with the key
    # the account's profile (price group, own keys) and `disabled` switch as read with the gate: a
    # change to either moves the gate (storage/gates.py), so a hold checking it never uses stale ones
    profile: AccountProfile | None = None
    account_disabled: bool = False
    limit: LimitRead | None = None  # a key with a credit limit (and no creator): its counter, read with the gate

    @property
    def key_hash(self) -> str:
        return self.key.key_hash

    @property
    def key_prefix(self) -> str:
        return self.key.key_prefix

    @property
    def account_id(self) -> str:
        return self.key.account_id

    @property
    def kind(self) -> KeyKind:
        return self.key.kind

    @property
    def name(self) -> str:
        return self.key.name


def credential_from(headers: Mapping[str, str], query: Mapping[str, str] | None = None) -> str | None:
    """The key from `Authorization: Bearer`, `x-api-key`, `x-goog-api-key`, or `?key=` when a `query`
    is given (Gemini's routes only: a key in a URL ends up in access logs)."""
    authorization = headers.get("authorization", "")
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() == "bearer" and token.strip():
        return token.strip()
    found = headers.get("x-api-key") or headers.get("x-goog-api-key")
    return found or (query.get("key") if query is not None else None) or None


def authenticate(credential: str | None, *, require: Requirement) -> Principal:
    key_hash = _key_hash(credential)
    return _admit(_cached(key_hash, require) or _read(key_hash, with_gate=require == "inference"), require)


def authenticate_from_cache(credential: str | None, *, require: Requirement) -> Principal | None:
    """What `authenticate` answers when that needs no read (a malformed key, a cached record), else None."""
    read = _cached(_key_hash(credential), require)
    return _admit(read, require) if read is not None else None


def from_cache(credential: str | None) -> bool:
    """Whether an inference call with this credential would be answered from the cache."""
    try:
        return _cached(_key_hash(credential), "inference") is not None
    except InvalidApiKey:
        return False


def _key_hash(credential: str | None) -> str:
    if not credential:
        raise InvalidApiKey("Missing API key. Send it as `Authorization: Bearer sk-...`.")
    if not looks_like_key(credential):
        raise InvalidApiKey("Invalid API key.")
    return hash_key(credential)


def live_key(key_hash: str) -> Principal:
    """An inference key as it stands now, for work it queued (an image task): refused as a request of
    it would be (revoked, disabled, expired, its creator's too, or its account disabled)."""
    principal = _admit(_read(key_hash, with_gate=True, cache=False), "inference")
    if principal.account_disabled:
        raise ApiDisabled("This account is disabled; contact the operator.")
    return principal


def refresh(principal: Principal, *, require: Requirement = "inference") -> Principal:
    """The same key read again from the table (after the reservation saw it had changed)."""
    forget(principal.key_hash)
    return _admit(_read(principal.key_hash, with_gate=require == "inference", cache=False), require)


def forget(key_hash: str) -> None:
    """Drop the key, and every key it created, from this process's cache."""
    _cache.pop(key_hash, None)
    for child in [cached for cached, (_, read) in _cache.items() if read.parent and read.parent.key_hash == key_hash]:
        _cache.pop(child, None)


def forget_all() -> None:
    _cache.clear()


def _admit(read: _Read, require: Requirement) -> Principal:
    record, parent = read.record, read.parent
    if record is None or record.revoked:
        raise InvalidApiKey("Invalid API key.")
    if record.disabled:
        raise ApiDisabled("This API key is disabled.")
    if record.expires_at is not None and record.expires_at <= clock.now():
        raise ApiDisabled("This API key has expired.")
    if require == "any" and record.kind == "operator":
        raise Forbidden("Operator keys serve the admin API only.")
    if require != "any" and record.kind != require:
        raise Forbidden(_WRONG_KIND.get(require, "This endpoint needs a management key."))
    if read.account_disabled and require != "inference":  # an inference call's hold refuses it, uncharged
        raise ApiDisabled("This account is disabled; contact the operator.")
    if not record.parent:
        return Principal(record, gate=read.gate, shards=read.shards, balances=read.balances, **_account(read))
    if parent is None or parent.revoked or parent.account_id != record.account_id:
        raise InvalidApiKey("Invalid API key: the key that created it was revoked.")
    if parent.disabled:
        raise ApiDisabled("The key that created this API key is disabled.")
    if parent.expires_at is not None and parent.expires_at <= clock.now():
        raise ApiDisabled("The key that created this API key has expired.")
    return Principal(
        bound_by(record, parent), parent, gate=read.gate, shards=read.shards, balances=read.balances, **_account(read)
    )


def _account(read: _Read) -> dict[str, Any]:
    return {"profile": read.profile, "account_disabled": read.account_disabled, "limit": read.limit}


def _cached(key_hash: str, require: Requirement) -> _Read | None:
    """The key read less than `key_cache_seconds` ago, for an inference call (its hold checks the gate
    read with it). Other calls (models, usage, traces, tasks, management) have no such check."""
    hit = _cache.get(key_hash) if require == "inference" else None
    return hit[1] if hit is not None and hit[0] > time.monotonic() else None


def _read(key_hash: str, *, with_gate: bool, cache: bool = True) -> _Read:
    """The key and its parent; for an inference call, read again with the account's gate in one
    transaction (and cached, unless `cache` is False)."""
    settings = get_settings()
    now = time.monotonic()
    keys = stores().keys
    record = keys.get(key_hash, consistent=True)
    if record is None or record.kind == "operator":  # an operator key belongs to no customer's account
        return _Read(record)
    if not with_gate:  # the key, its parent and its account's `disabled` switch, in one transaction
        snap = keys.snapshot(key_hash, record.account_id, record.parent, 0)
        return _Read(snap.record, snap.parent, account_disabled=snap.account_disabled)
    counted = record.limit is not None and not record.parent  # its counter read too: services/speculation.py
    period = periods.period_of(record.limit_reset, clock.now()) if counted else None
    snap = keys.snapshot(key_hash, record.account_id, record.parent, settings.balance_shards, period)
    limit = LimitRead(period, snap.limit_used, now) if period is not None and snap.limit_used is not None else None
    read = _Read(
        snap.record, snap.parent, snap.gate, snap.shards, snap.balances, snap.profile, snap.account_disabled, limit
    )
    record = snap.record
    if record is not None and cache and settings.key_cache_seconds > 0:
        if len(_cache) >= _CACHE_LIMIT:
            _cache.clear()
        # a disabled account's hold is refused before the gate is checked, so its read is kept briefly:
        # enabling the account again works within DISABLED_CACHE_SECONDS, and its refusals read little
        seconds = settings.key_cache_seconds
        _cache[key_hash] = (now + (min(seconds, DISABLED_CACHE_SECONDS) if read.account_disabled else seconds), read)
    return read
