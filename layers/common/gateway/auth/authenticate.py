"""From a request's credentials to a Principal, with a short in-memory cache of key records.

The cache only saves a read: every inference request re-checks the key item inside the reserve
transaction, so revocation and disabling take effect on the very next request.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

from gateway.auth.keys import hash_key, looks_like_key
from gateway.config import get_settings
from gateway.errors import ApiDisabled, Forbidden, InvalidApiKey
from gateway.storage.api_keys import ApiKeyRecord, ApiKeyRepository

_cache: dict[str, tuple[float, ApiKeyRecord]] = {}
_CACHE_LIMIT = 10_000


@dataclass(frozen=True)
class Principal:
    key_hash: str
    key_prefix: str
    account_id: str
    kind: Literal["inference", "management"]
    name: str


def credential_from(headers: Mapping[str, str], query: Mapping[str, str]) -> str | None:
    """The key from `Authorization: Bearer`, `x-api-key`, `x-goog-api-key` or `?key=`."""
    authorization = headers.get("authorization", "")
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() == "bearer" and token.strip():
        return token.strip()
    return headers.get("x-api-key") or headers.get("x-goog-api-key") or query.get("key") or None


def authenticate(credential: str | None, *, require: Literal["inference", "management", "any"]) -> Principal:
    if not credential:
        raise InvalidApiKey("Missing API key. Send it as `Authorization: Bearer sk-...`.")
    if not looks_like_key(credential):
        raise InvalidApiKey("Invalid API key.")
    record = _lookup(hash_key(credential))
    if record is None:
        raise InvalidApiKey("Invalid API key.")
    if record.disabled:
        raise ApiDisabled("This API key is disabled.")
    if record.expires_at is not None and record.expires_at <= time.time():
        raise ApiDisabled("This API key has expired.")
    if require != "any" and record.kind != require:
        raise Forbidden(
            "Management keys cannot call models." if require == "inference" else "This endpoint needs a management key."
        )
    return Principal(
        key_hash=record.key_hash,
        key_prefix=record.key_prefix,
        account_id=record.account_id,
        kind=record.kind,
        name=record.name,
    )


def forget(key_hash: str) -> None:
    _cache.pop(key_hash, None)


def _lookup(key_hash: str) -> ApiKeyRecord | None:
    settings = get_settings()
    now = time.monotonic()
    cached = _cache.get(key_hash)
    if cached is not None and cached[0] > now:
        return cached[1]
    record = ApiKeyRepository(settings.table_name).get(key_hash)
    if record is not None and settings.key_cache_seconds > 0:
        if len(_cache) >= _CACHE_LIMIT:
            _cache.clear()
        _cache[key_hash] = (now + settings.key_cache_seconds, record)
    return record
