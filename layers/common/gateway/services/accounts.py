"""Accounts and keys as operators (admin CLI) and key holders see them."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Any

from gateway.auth.authenticate import Principal
from gateway.auth.keys import display_prefix, generate_key, hash_key
from gateway.clock import iso_from_epoch, now_iso
from gateway.config import get_settings
from gateway.errors import NotFound
from gateway.ids import new_account_id
from gateway.money import display
from gateway.storage.accounts import Account, AccountRepository
from gateway.storage.api_keys import ApiKeyRecord, ApiKeyRepository, KeyKind


@dataclass(frozen=True)
class IssuedKey:
    key: str  # shown once, never stored
    record: ApiKeyRecord


def _accounts() -> AccountRepository:
    return AccountRepository(get_settings().table_name)


def _keys() -> ApiKeyRepository:
    return ApiKeyRepository(get_settings().table_name)


def create_account(name: str, credits_micro: int, account_id: str | None = None) -> Account:
    account = Account(
        account_id=account_id or new_account_id(),
        name=name,
        balance=credits_micro,
        granted=credits_micro,
        created_at=now_iso(),
    )
    _accounts().create(account)
    return account


def get_account(account_id: str) -> Account:
    account = _accounts().get(account_id)
    if account is None:
        raise NotFound(f"No account {account_id}.")
    return account


def top_up(account_id: str, credits_micro: int) -> Account:
    get_account(account_id)
    return _accounts().top_up(account_id, credits_micro, topup_id=secrets.token_hex(6), at_iso=now_iso())


def issue_key(account_id: str, name: str, kind: KeyKind, expires_at: int | None = None) -> IssuedKey:
    get_account(account_id)
    key = generate_key(kind)
    record = ApiKeyRecord(
        key_hash=hash_key(key),
        key_prefix=display_prefix(key),
        account_id=account_id,
        name=name,
        kind=kind,
        disabled=False,
        created_at=now_iso(),
        expires_at=expires_at,
    )
    _keys().create(record)
    return IssuedKey(key=key, record=record)


def set_key_disabled(key_hash: str, disabled: bool) -> None:
    _keys().set_disabled(key_hash, disabled)


def account_view(account: Account) -> dict[str, Any]:
    return {
        "account_id": account.account_id,
        "name": account.name,
        "balance": display(account.balance),
        "balance_micro": account.balance,
        "granted": display(account.granted),
        "granted_micro": account.granted,
        "used": display(account.granted - account.balance),
        "created_at": account.created_at,
    }


def key_view(record: ApiKeyRecord) -> dict[str, Any]:
    return {
        "hash": record.key_hash,
        "key_prefix": record.key_prefix,
        "name": record.name,
        "kind": record.kind,
        "account_id": record.account_id,
        "disabled": record.disabled,
        "created_at": record.created_at,
        "expires_at": iso_from_epoch(record.expires_at) if record.expires_at else None,
    }


def own_key(principal: Principal) -> dict[str, Any]:
    record = _keys().get(principal.key_hash)
    if record is None:
        raise NotFound("This key no longer exists.")
    return {"data": key_view(record)}


def self_view(principal: Principal) -> dict[str, Any]:
    account = get_account(principal.account_id)
    return {
        "id": account.account_id,
        "name": account.name,
        "role": principal.kind,
        "created_at": account.created_at,
    }


def quota(principal: Principal) -> dict[str, Any]:
    """PotatoRouter's shape: remaining, used and granted credits."""
    account = get_account(principal.account_id)
    return {
        "quota": display(account.balance),
        "used": display(account.granted - account.balance),
        "total": display(account.granted),
    }
