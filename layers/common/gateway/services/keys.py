"""API keys as their account manages them: issue, list, read, change, revoke; with usage and limits."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from gateway import clock, periods
from gateway.auth.authenticate import Principal, forget
from gateway.auth.keys import display_prefix, generate_key, hash_key, looks_like_hash
from gateway.auth.sealing import seal, unseal
from gateway.clock import iso_from_epoch, now_iso
from gateway.errors import InvalidRequest, NotFound
from gateway.formats.keys import KeyCreate, KeyUpdate
from gateway.money import display
from gateway.services.accounts import get_account
from gateway.services.idempotency import run_once
from gateway.storage.api_keys import ApiKeyRecord, ApiKeyRepository, KeyKind
from gateway.storage.stores import stores


@dataclass(frozen=True)
class IssuedKey:
    key: str  # shown once, never stored
    record: ApiKeyRecord


def _keys() -> ApiKeyRepository:
    return stores().keys


def issue_key(account_id: str, name: str, kind: KeyKind, **settings: Any) -> IssuedKey:
    """A new key for the account; `settings` are stored fields (limit in micro-credits, ...)."""
    get_account(account_id)
    key = generate_key(kind)
    created = now_iso()
    record = ApiKeyRecord(
        key_hash=hash_key(key),
        key_prefix=display_prefix(key),
        account_id=account_id,
        name=name,
        kind=kind,
        disabled=False,
        created_at=created,
        updated_at=created,
        **settings,
    )
    _keys().create(record)
    return IssuedKey(key=key, record=record)


def create_key(
    principal: Principal, spec: KeyCreate, parent: str | None = None, asked: KeyCreate | None = None
) -> IssuedKey:
    """`parent`: the inference key creating it (gateway.services.delegation checked `spec` is within it).
    `asked`: what the client sent, when `spec` adds what it inherits: only the allow-lists sent are
    checked against the catalog (the creator's may name a model retired since; they bind it anyway)."""
    changes = spec.changes()
    _check_allow_lists(asked.changes() if asked is not None else changes)
    settings = {name: value for name, value in changes.items() if name not in ("name", "kind")}
    return issue_key(principal.account_id, spec.name, spec.kind, **settings, **({"parent": parent} if parent else {}))


def list_keys(principal: Principal) -> list[ApiKeyRecord]:
    return _keys().list_for_account(principal.account_id)


def get_key(principal: Principal, key_hash: str) -> ApiKeyRecord:
    return _owned(principal, key_hash)


def update_key(principal: Principal, key_hash: str, patch: KeyUpdate) -> ApiKeyRecord:
    changes = patch.changes()
    _check_allow_lists(changes)
    if not changes:
        return get_key(principal, key_hash)
    record = _keys().update(key_hash, principal.account_id, changes, now_iso()) if looks_like_hash(key_hash) else None
    if record is None:
        raise _not_found(key_hash)
    forget(key_hash)
    return record


def revoke_key(principal: Principal, key_hash: str) -> None:
    """The key stops working at once (the reserve transaction sees it) and leaves the list."""
    revoked = (
        _keys().revoke(key_hash, principal.account_id, clock.now_epoch(), now_iso())
        if looks_like_hash(key_hash)
        else None
    )
    if revoked is None:
        raise _not_found(key_hash)
    forget(key_hash)


def set_key_disabled(key_hash: str, disabled: bool) -> None:
    """Operator switch (gateway-admin), across accounts."""
    _keys().set_disabled(key_hash, disabled)
    forget(key_hash)


def own_key(principal: Principal) -> dict[str, Any]:
    record = _keys().get(principal.key_hash, consistent=True)
    if record is None or record.revoked:
        raise NotFound("This key no longer exists.")
    return {"data": key_view(record)}


def key_view(record: ApiKeyRecord) -> dict[str, Any]:
    """A key as its account sees it: never the key itself, only its hash and prefix."""
    return {
        "hash": record.key_hash,
        "name": record.name,
        "key_prefix": record.key_prefix,
        "kind": record.kind,
        "disabled": record.disabled,
        "limit": display(record.limit) if record.limit is not None else None,
        "limit_reset": record.limit_reset,
        "limit_remaining": _remaining(record),
        "rate_limit": record.rate_limit,
        "allowed_providers": list(record.allowed_providers) if record.allowed_providers is not None else None,
        "allowed_models": list(record.allowed_models) if record.allowed_models is not None else None,
        "expires_at": iso_from_epoch(record.expires_at) if record.expires_at is not None else None,
        "created_at": record.created_at,
        "updated_at": record.updated_at,
        "created_by": record.parent,  # the key whose limits bind it, when a key created it
        "usage": {"total_requests": record.total_requests, "total_credits": display(record.total_credits)},
    }


def _remaining(record: ApiKeyRecord) -> float | None:
    """What the key can still spend this period: within its creator's limit too, which binds it."""
    parent = _keys().get(record.parent) if record.parent else None
    left = [n for n in (_left(record), _left(parent) if parent is not None else None) if n is not None]
    return display(min(left)) if left else None


def _left(record: ApiKeyRecord) -> int | None:
    if record.limit is None:
        return None
    used = _keys().period_usage(record.key_hash, periods.period_of(record.limit_reset, clock.now()))
    return max(record.limit - used, 0)


def _owned(principal: Principal, key_hash: str) -> ApiKeyRecord:
    record = _keys().get(key_hash, consistent=True) if looks_like_hash(key_hash) else None
    if record is None or record.revoked or record.account_id != principal.account_id:
        raise _not_found(key_hash)
    return record


def _check_allow_lists(changes: dict[str, Any]) -> None:
    from gateway.catalog.registry import get_catalog  # only for allow lists: not in a cold start's imports

    catalog = get_catalog()
    unknown_providers = sorted(set(changes.get("allowed_providers") or ()) - set(catalog.providers))
    if unknown_providers:
        raise InvalidRequest(f"Unknown providers: {', '.join(unknown_providers)}.", param="allowed_providers")
    unknown_models = sorted(m for m in changes.get("allowed_models") or () if catalog.resolve(m) is None)
    if unknown_models:
        raise InvalidRequest(f"Unknown models: {', '.join(unknown_models)}.", param="allowed_models")


def _not_found(key_hash: str) -> NotFound:
    return NotFound(f"No key `{key_hash[:64]}` in this account.")


def create_key_once(
    principal: Principal,
    spec: KeyCreate,
    *,
    credential: str,
    idempotency_key: str | None,
    parent: str | None = None,
    asked: KeyCreate | None = None,
) -> IssuedKey:
    """create_key, at most once per Idempotency-Key: a retry gets the same key back.

    The new key is kept for the replay only sealed under the caller's own key (auth.sealing), so the
    table never holds it readable."""
    if idempotency_key is None:
        return create_key(principal, spec, parent, asked)
    context = f"create-key:{principal.key_hash}:{idempotency_key}"

    def work() -> dict[str, Any]:
        issued = create_key(principal, spec, parent, asked)
        return {"key_hash": issued.record.key_hash, "sealed_key": seal(issued.key, credential, context)}

    body = spec.model_dump(mode="json", exclude_unset=True)
    stored = run_once("create-key", principal.key_hash, idempotency_key, body, work)
    record = _keys().get(stored["key_hash"], consistent=True)
    if record is None or record.revoked:
        raise NotFound("The key this Idempotency-Key created no longer exists.")
    return IssuedKey(unseal(stored["sealed_key"], credential, context), record)
