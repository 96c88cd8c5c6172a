"""From a request's credentials to a Principal, with a short in-memory cache of key records.

The cache serves inference calls only, and only saves a read: each re-checks the key item (and its
version) inside its reserve transaction. Every other call reads the key afresh. So revocation and
changes take effect on the very next request, whichever function serves it. A key created by another
key is read with that key (its parent), and works only within it (auth.delegation).
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

from gateway import clock
from gateway.auth.delegation import bound_by
from gateway.auth.keys import hash_key, looks_like_key
from gateway.config import get_settings
from gateway.errors import ApiDisabled, Forbidden, InvalidApiKey
from gateway.storage.api_keys import ApiKeyRecord, KeyKind
from gateway.storage.stores import stores

_cache: dict[str, tuple[float, ApiKeyRecord]] = {}
_CACHE_LIMIT = 10_000
Requirement = Literal["inference", "management", "any"]


@dataclass(frozen=True)
class Principal:
    """The caller: the key it presented, as last read (for a key created by another key, as it
    applies: within that key's allow-lists and expiry); and that other key, whose limits bind it too."""

    key: ApiKeyRecord
    parent: ApiKeyRecord | None = None

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
    record = _cached(key_hash, require) or _read(key_hash)
    parent = (_cached(record.parent, require) or _read(record.parent)) if record and record.parent else None
    return _admit(record, require, parent)


def authenticate_from_cache(credential: str | None, *, require: Requirement) -> Principal | None:
    """What `authenticate` answers when that needs no read (a malformed key, a cached record), else None."""
    record = _cached(_key_hash(credential), require)
    if record is None:
        return None
    parent = _cached(record.parent, require) if record.parent else None
    if record.parent and parent is None:
        return None
    return _admit(record, require, parent)


def _key_hash(credential: str | None) -> str:
    if not credential:
        raise InvalidApiKey("Missing API key. Send it as `Authorization: Bearer sk-...`.")
    if not looks_like_key(credential):
        raise InvalidApiKey("Invalid API key.")
    return hash_key(credential)


def refresh(principal: Principal, *, require: Requirement = "inference") -> Principal:
    """The same key read again from the table (after the reservation saw it had changed)."""
    forget(principal.key_hash)
    record = stores().keys.get(principal.key_hash, consistent=True)
    parent = None
    if record is not None and record.parent:
        forget(record.parent)
        parent = stores().keys.get(record.parent, consistent=True)
    return _admit(record, require, parent)


def forget(key_hash: str) -> None:
    _cache.pop(key_hash, None)


def forget_all() -> None:
    _cache.clear()


def _admit(record: ApiKeyRecord | None, require: Requirement, parent: ApiKeyRecord | None = None) -> Principal:
    if record is None or record.revoked:
        raise InvalidApiKey("Invalid API key.")
    if record.disabled:
        raise ApiDisabled("This API key is disabled.")
    if record.expires_at is not None and record.expires_at <= clock.now():
        raise ApiDisabled("This API key has expired.")
    if require != "any" and record.kind != require:
        raise Forbidden(
            "Management keys cannot call models." if require == "inference" else "This endpoint needs a management key."
        )
    if not record.parent:
        return Principal(record)
    if parent is None or parent.revoked or parent.account_id != record.account_id:
        raise InvalidApiKey("Invalid API key: the key that created it was revoked.")
    if parent.disabled:
        raise ApiDisabled("The key that created this API key is disabled.")
    if parent.expires_at is not None and parent.expires_at <= clock.now():
        raise ApiDisabled("The key that created this API key has expired.")
    return Principal(bound_by(record, parent), parent)


def _cached(key_hash: str, require: Requirement) -> ApiKeyRecord | None:
    """The record read less than `key_cache_seconds` ago, for an inference call (its reserve transaction
    checks the key again). Other calls (models, usage, traces, tasks, management) have no such check."""
    hit = _cache.get(key_hash) if require == "inference" else None
    return hit[1] if hit is not None and hit[0] > time.monotonic() else None


def _read(key_hash: str) -> ApiKeyRecord | None:
    settings = get_settings()
    now = time.monotonic()
    record = stores().keys.get(key_hash, consistent=True)
    if record is not None and settings.key_cache_seconds > 0:
        if len(_cache) >= _CACHE_LIMIT:
            _cache.clear()
        _cache[key_hash] = (now + settings.key_cache_seconds, record)
    return record
