"""Operator keys (`sk-gwo-...`): the credential of the admin API. Only gateway-admin makes them (with
the AWS credentials that reach the table); they belong to no account, cannot call models or manage an
account's keys, and are read afresh on every admin call, so revoking one takes effect at once."""

from __future__ import annotations

from typing import Any

from gateway.auth.keys import display_prefix, generate_key, hash_key
from gateway.clock import now_epoch, now_iso
from gateway.errors import NotFound
from gateway.services.keys import IssuedKey
from gateway.storage.api_keys import ApiKeyRecord
from gateway.storage.stores import stores

OPERATORS = "operators"  # the account id operator keys are filed under (no such account exists)


def issue_operator_key(name: str) -> IssuedKey:
    key = generate_key("operator")
    created = now_iso()
    record = ApiKeyRecord(
        key_hash=hash_key(key),
        key_prefix=display_prefix(key),
        account_id=OPERATORS,
        name=name[:100],
        kind="operator",
        disabled=False,
        created_at=created,
        updated_at=created,
    )
    stores().keys.create(record)
    return IssuedKey(key=key, record=record)


def list_operator_keys() -> list[dict[str, Any]]:
    return [_view(record) for record in stores().keys.list_for_account(OPERATORS)]


def revoke_operator_key(key_hash: str) -> None:
    if stores().keys.revoke(key_hash, OPERATORS, now_epoch(), now_iso()) is None:
        raise NotFound("No such operator key.")


def _view(record: ApiKeyRecord) -> dict[str, Any]:
    return {
        "hash": record.key_hash,
        "name": record.name,
        "key_prefix": record.key_prefix,
        "disabled": record.disabled,
        "created_at": record.created_at,
    }
