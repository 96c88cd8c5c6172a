"""What prices and routes an account's requests beyond its key: its price group and its own provider
keys (bring your own key). Both live on the account item (`price_group`, `byok_providers`) with a
`profile_version` every change bumps, and every change moves the account's gate (storage/gates.py),
which each hold checks on its balance shard: a request priced on a profile read before the change is
refused and priced again, so none is held at a group's or a key's terms the account no longer has,
and no request reads the profile.

An own key is its own item (`BYOK#<provider>` in the account's partition), encrypted with KMS under an
encryption context naming the account and the provider: its ciphertext decrypts for that account only.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from gateway.storage import dynamo, layout
from gateway.storage.gates import change_account
from gateway.storage.transactions import AlsoRefused, ConditionsFailed


@dataclass(frozen=True)
class AccountProfile:
    version: int = 0
    group: str | None = None  # None: the default group
    byok: frozenset[str] = frozenset()  # providers the account has its own key for

    @classmethod
    def from_item(cls, item: dict[str, Any]) -> AccountProfile:
        return cls(
            version=int(item.get("profile_version", 0)),
            group=item.get("price_group") or None,
            byok=frozenset(item.get("byok_providers") or ()),
        )


@dataclass(frozen=True)
class ProviderKey:
    account_id: str
    provider: str
    ciphertext: bytes  # KMS, under the context {"account_id", "provider"}
    hint: str  # the key's last characters, for people to tell keys apart
    created_at: str

    def view(self) -> dict[str, Any]:
        return {"provider": self.provider, "key_hint": f"...{self.hint or '****'}", "created_at": self.created_at}


class ProfileRepository(dynamo.TableRepository):
    def get(self, account_id: str) -> AccountProfile | None:
        """The account's profile (None: no such account)."""
        answer = self.db.get_item(
            TableName=self.table,
            Key=layout.account_key(account_id),
            ConsistentRead=True,
            ProjectionExpression="pk, profile_version, price_group, byok_providers",
        )
        item = answer.get("Item")
        return AccountProfile.from_item(dynamo.from_item(item)) if item else None

    def set_group(
        self, account_id: str, group: str | None, *, also: Sequence[dict[str, Any]] = ()
    ) -> AccountProfile | None:
        """Put the account in a price group (None: the default one); None when there is no account.
        Moves the account's gate (storage/gates.py): a request priced for the old group is refused.
        `also` (the operator log's entry) is written in the same transaction (AlsoRefused)."""
        expression = "SET price_group = :group" if group else "REMOVE price_group"
        try:
            changed = change_account(
                self.db,
                self.table,
                account_id,
                f"{expression} ADD profile_version :one, gate :one",
                {":group": group} if group else {},
                after=also,
            )
        except ConditionsFailed as failed:
            total = len(failed.codes)
            if any(failed.failed(position) for position in range(total - len(also), total)):
                raise AlsoRefused from failed
            raise
        return self.get(account_id) if changed else None

    def put_key(self, key: ProviderKey) -> bool:
        """Store (or replace) the account's key for a provider and mark it on the account, in one
        transaction; False when there is no such account."""
        values = {
            "account_id": key.account_id,
            "provider": key.provider,
            "ciphertext": key.ciphertext,
            "hint": key.hint,
            "created_at": key.created_at,
        }
        return self._profile_change(
            {
                "Put": {
                    "TableName": self.table,
                    "Item": {**layout.provider_key_key(key.account_id, key.provider), **dynamo.to_attributes(values)},
                }
            },
            key.account_id,
            "ADD byok_providers :provider, profile_version :one, gate :one",
            key.provider,
        )

    def delete_key(self, account_id: str, provider: str) -> bool:
        """Remove the account's key for a provider; False when it has none."""
        return self._profile_change(
            {
                "Delete": {
                    "TableName": self.table,
                    "Key": layout.provider_key_key(account_id, provider),
                    "ConditionExpression": "attribute_exists(pk)",
                }
            },
            account_id,
            "DELETE byok_providers :provider ADD profile_version :one, gate :one",
            provider,
        )

    def key(self, account_id: str, provider: str) -> ProviderKey | None:
        answer = self.db.get_item(
            TableName=self.table, Key=layout.provider_key_key(account_id, provider), ConsistentRead=True
        )
        item = answer.get("Item")
        return _provider_key(dynamo.from_item(item)) if item else None

    def keys(self, account_id: str) -> list[ProviderKey]:
        answer = self.db.query(
            TableName=self.table,
            KeyConditionExpression="pk = :pk AND begins_with(sk, :prefix)",
            ExpressionAttributeValues={
                ":pk": {"S": layout.account_pk(account_id)},
                ":prefix": {"S": layout.PROVIDER_KEY_PREFIX},
            },
            ConsistentRead=True,
        )
        return [_provider_key(dynamo.from_item(item)) for item in answer.get("Items", [])]

    def _profile_change(self, write: dict[str, Any], account_id: str, expression: str, provider: str) -> bool:
        """`write` (the key's item) and the account's change, its gate moved (storage/gates.py)."""
        try:
            return change_account(
                self.db, self.table, account_id, expression, {":provider": {provider}}, before=[write]
            )
        except ConditionsFailed:
            return False


def _provider_key(item: dict[str, Any]) -> ProviderKey:
    return ProviderKey(
        account_id=item["account_id"],
        provider=item["provider"],
        ciphertext=bytes(item["ciphertext"]),
        hint=item.get("hint", ""),
        created_at=item.get("created_at", ""),
    )
