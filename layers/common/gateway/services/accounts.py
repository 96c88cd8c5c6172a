"""Accounts and keys as operators (admin CLI) and key holders see them."""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from typing import Any

from gateway.auth.authenticate import Principal
from gateway.clock import now_iso
from gateway.config import get_settings
from gateway.errors import InvalidRequest, NotFound
from gateway.ids import new_account_id
from gateway.money import display
from gateway.storage.accounts import TOP_UP, Account, AccountRepository
from gateway.storage.balances import split
from gateway.storage.stores import stores


def _accounts() -> AccountRepository:
    return stores().accounts


def create_account(name: str, credits_micro: int, account_id: str | None = None, email: str | None = None) -> Account:
    """A new account; its initial credits are a grant entry of the ledger, written with it, and are
    spread over its balance shards."""
    account = Account(
        account_id=account_id or new_account_id(),
        name=name,
        balance=credits_micro,
        granted=credits_micro,
        created_at=now_iso(),
        email=email,
        shards=get_settings().balance_shards,
    )
    _accounts().create(account, grant_id=secrets.token_hex(6))
    return account


def get_account(account_id: str) -> Account:
    account = _accounts().get(account_id)
    if account is None:
        raise NotFound(f"No account {account_id}.")
    return account


def top_up(account_id: str, credits_micro: int, *, also: Sequence[dict[str, Any]] = ()) -> Account:
    """Add credits; `also`: items written in the same transaction (the operator log's entry)."""
    if credits_micro <= 0:
        raise InvalidRequest("A top-up adds a positive number of credits.", param="credits")
    get_account(account_id)
    return _accounts().grant(
        account_id, credits_micro, grant_id=secrets.token_hex(6), at_iso=now_iso(), source=TOP_UP, also=also
    )


def shard_balances(account_id: str | None = None) -> dict[str, Any]:
    """Accounts from before balance shards get them (their balance split, their open reservations
    held on shard 0); accounts that have them are left as they are."""
    from gateway.storage.ledger import LedgerReader

    repository = _accounts()
    targets = [account_id] if account_id else list(LedgerReader(repository.table).account_ids())
    moved = []
    for target in targets:
        before = get_account(target)
        if not before.shards:
            repository.sharded(target)
            moved.append(target)
    return {"sharded": moved, "already": len(targets) - len(moved)}


def add_shards(account_id: str, shards: int) -> Account:
    if not 1 <= shards <= 64:
        raise InvalidRequest("An account has 1 to 64 balance shards.", param="shards")
    account = _accounts().sharded(account_id)
    if shards < account.shards:
        raise InvalidRequest(f"The account has {account.shards} shards already; shards are never removed.")
    grown = _accounts().add_shards(account, shards)
    balances = _accounts().balances
    for _ in range(5):  # spread the balance over all of them (holds in flight may move it meanwhile)
        found, _ = balances.snapshot(account_id, grown.shards)
        parts = split(sum(shard.balance for shard in found), len(found))
        if balances.move(
            account_id, {shard.number: part - shard.balance for shard, part in zip(found, parts, strict=True)}
        ):
            break
    return get_account(account_id)


def spent(account: Account) -> int:
    """Micro-credits charged: what was granted and is neither left nor held for a request in flight."""
    return max(account.granted - account.balance - account.holds, 0)


def account_view(account: Account) -> dict[str, Any]:
    return {
        "account_id": account.account_id,
        "name": account.name,
        "balance": display(account.balance),
        "balance_micro": account.balance,
        "granted": display(account.granted),
        "granted_micro": account.granted,
        "used": display(spent(account)),
        "held": display(account.holds),
        "balance_shards": account.shards,
        "email": account.email,
        "created_at": account.created_at,
        "disabled": account.disabled,
    }


def self_view(principal: Principal) -> dict[str, Any]:
    """The account, with PotatoRouter's fields (username, email, role): the username is the account's
    name, the role the calling key's kind."""
    account = get_account(principal.account_id)
    return {
        "id": account.account_id,
        "name": account.name,
        "username": account.name,
        "display_name": account.name,
        "email": account.email,
        "role": principal.kind,
        "created_at": account.created_at,
    }


def quota(principal: Principal) -> dict[str, Any]:
    """PotatoRouter's shape: remaining, used and granted credits."""
    account = get_account(principal.account_id)
    return {
        "quota": display(account.balance),
        "used": display(spent(account)),
        "total": display(account.granted),
    }
