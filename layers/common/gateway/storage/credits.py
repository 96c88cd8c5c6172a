"""Reserve and settle credits: one TransactWriteItems each, the only writes on the hot path."""

from __future__ import annotations

import random
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

from gateway.storage import dynamo, layout
from gateway.storage.channel_windows import ChannelGuard, count_request
from gateway.storage.errors import MAX_HOLD, RefusalReason, ReservationRefused, StorageUnavailable, checked_amount
from gateway.storage.key_checks import PARENT_REFUSALS, PARENT_TAGS, KeyGuard, key_items, key_refusal

__all__ = ["CreditRepository", "KeyGuard", "LedgerEntry", "Reservation"]

CONFLICT_RETRIES = 12
# The account's profile (price group, own provider keys) as the hold was priced: unchanged since.
_PROFILE = {False: "attribute_not_exists(profile_version)", True: "profile_version = :profile"}


@dataclass(frozen=True)
class Reservation:
    trace_id: str
    account_id: str
    key_hash: str
    key_prefix: str
    model: str
    amount: int  # micro-credits held
    created_at: str
    expires_at: int  # epoch seconds; the sweeper settles it after this
    limit_period: str | None = None  # the key-limit period the amount also counts against
    parent_hash: str | None = None  # the key that created the calling key: its limit counts the amount too
    parent_limit_period: str | None = None
    # The terms the hold was priced on (recorded, and settled on by the same process: see services/pricing.py)
    catalog_version: int | None = None  # the runtime catalog's version the prices came from
    price_ratio: str | None = None  # the account's price group ratio (times the own-key fee), as a decimal
    byok: bool = False  # routed to the account's own provider key
    profile_version: int = 0  # the account profile (price group, own keys) it was priced for: checked
    channel: str | None = None  # the capped channel whose per-minute window counts this request
    # The ledger entry of an answer whose settlement could not be written: the sweeper charges it.
    pending: dict[str, Any] | None = None

    @classmethod
    def from_item(cls, item: dict[str, Any]) -> Reservation:
        return cls(**{name: item[name] for name in cls.__dataclass_fields__ if name in item})


@dataclass(frozen=True)
class LedgerEntry:
    """One request's record: what it cost and how it went (the request trace)."""

    trace_id: str
    account_id: str
    key_hash: str
    key_prefix: str
    model: str
    provider: str | None
    endpoint: str
    status: str  # success | error | expired
    http_status: int
    error_code: str | None
    prompt_tokens: int
    completion_tokens: int
    credits: int  # micro-credits charged
    reserved: int  # micro-credits that were held
    latency_ms: int
    upstream_latency_ms: int | None
    ttft_ms: int | None
    stream: bool
    usage_estimated: bool
    created_at: str
    day: str
    attempts: tuple[dict[str, Any], ...] = ()  # each upstream attempt: provider, http_status, latency_ms, error_code
    units: dict[str, Any] | None = None  # media billed in their own units: images, characters, audio_seconds
    routing_strategy: str | None = None  # auto, vendor or provider_preferences (None: not recorded)
    user: str | None = None  # the end user the client named (OpenAI `user`, Anthropic `metadata.user_id`)
    metadata: dict[str, str] | None = None  # the client's tags (OpenAI / OpenRouter `metadata`)
    channel: str | None = None  # the upstream channel that answered
    catalog_version: int | None = None
    price_ratio: str | None = None
    byok: bool = False


class CreditRepository(dynamo.TableRepository):
    def reserve(
        self,
        reservation: Reservation,
        guard: KeyGuard,
        now: int,
        also: Sequence[dict[str, Any]] = (),
        parent: KeyGuard | None = None,
        channel: ChannelGuard | None = None,
    ) -> None:
        """Check the key, take the credits (and the key's limit and rate), write the reservation and
        any `also` items (an image task, say): all or nothing, in one transaction. A key created by
        another key (`parent`, as last read) also needs that key usable, and takes from its limit and
        rate too. The account must still have the profile the hold was priced for; a capped `channel`
        counts the request."""
        checked_amount(reservation.amount, "a hold", low=1, high=MAX_HOLD)
        if guard.limit_headroom is not None and guard.limit_headroom < 0:
            raise ReservationRefused("key_limit")
        if parent is not None and parent.limit_headroom is not None and parent.limit_headroom < 0:
            raise ReservationRefused("parent_limit")
        values = {
            **{name: value for name, value in asdict(reservation).items() if name != "pending"},
            **layout.reservation_index(reservation.trace_id, reservation.expires_at),
        }
        key_check, *key_counters = key_items(
            self.table, reservation.key_hash, guard, reservation.amount, reservation.limit_period, now
        )
        items = [key_check]
        items.append(
            (
                "account",
                {
                    "Update": {
                        "TableName": self.table,
                        "Key": layout.account_key(reservation.account_id),
                        "UpdateExpression": "SET balance = balance - :amount",
                        "ConditionExpression": (
                            "attribute_exists(pk) AND balance >= :amount AND attribute_not_exists(disabled) AND "
                            + _PROFILE[bool(reservation.profile_version)]
                        ),
                        "ExpressionAttributeValues": {
                            ":amount": {"N": str(reservation.amount)},
                            **(
                                {":profile": {"N": str(reservation.profile_version)}}
                                if reservation.profile_version
                                else {}
                            ),
                        },
                        "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
                    }
                },
            )
        )
        items += key_counters
        if parent is not None and reservation.parent_hash is not None:
            period = reservation.parent_limit_period
            items += key_items(
                self.table, reservation.parent_hash, parent, reservation.amount, period, now, PARENT_TAGS
            )
        if channel is not None and channel.capped:
            items.append(("channel", count_request(self.table, channel)))
        items.append(
            (
                "reservation",
                {
                    "Put": {
                        "TableName": self.table,
                        "Item": {**layout.reservation_key(reservation.trace_id), **dynamo.to_attributes(values)},
                        "ConditionExpression": "attribute_not_exists(pk)",
                    }
                },
            )
        )
        items.extend(("also", item) for item in also)
        codes, old_items = self._transact([item for _, item in items])
        if not codes:
            return
        failed = {
            tag: old
            for (tag, _), code, old in zip(items, codes, old_items, strict=True)
            if code == "ConditionalCheckFailed"
        }
        if "reservation" in failed and set(failed) <= {"reservation", "also"}:
            return  # an earlier attempt of ours went through; its answer was lost
        if "key" in failed:
            raise ReservationRefused(key_refusal(failed["key"], now, guard.version), failed["key"])
        if "parent" in failed and parent is not None:
            raise ReservationRefused(PARENT_REFUSALS[key_refusal(failed["parent"], now, parent.version)])
        if "account" in failed:
            account = failed["account"]
            refusal = _account_refusal(account, reservation.profile_version)
            raise ReservationRefused(refusal, account if refusal == "profile_changed" else None)
        if "channel" in failed:
            raise ReservationRefused("channel_full")
        if "limit" in failed:
            raise ReservationRefused("key_limit")
        if "parent_limit" in failed:
            raise ReservationRefused("parent_limit")
        if "rate" in failed:
            raise ReservationRefused("rate_limited")
        if "parent_rate" in failed:
            raise ReservationRefused("parent_rate_limited")
        raise StorageUnavailable(f"reservation cancelled: {codes}")

    def settle(
        self, reservation: Reservation, entry: LedgerEntry, retention_until: int, also: Sequence[dict[str, Any]] = ()
    ) -> bool:
        """Release the hold, charge `entry.credits`, write the ledger entry and the daily usage, and any
        `also` items (a task's new state, say) in the same transaction.

        Returns False when the reservation was already settled (by an earlier attempt or the sweeper)
        or an `also` item's condition failed: then nothing was written.
        """
        checked_amount(reservation.amount, "a hold", low=1, high=MAX_HOLD)
        checked_amount(entry.credits, "a charge", low=0, high=reservation.amount)
        refund = checked_amount(reservation.amount - entry.credits, "a refund", low=0, high=reservation.amount)
        ledger_values = {
            **asdict(entry),
            "attempts": [dict(attempt) for attempt in entry.attempts],
            **layout.trace_index(entry.account_id, entry.key_hash, entry.created_at, entry.trace_id),
            "ttl": retention_until,
        }
        items: list[dict[str, Any]] = [
            {
                "Delete": {
                    "TableName": self.table,
                    "Key": layout.reservation_key(reservation.trace_id),
                    "ConditionExpression": "attribute_exists(pk)",
                }
            },
            {
                "Put": {
                    "TableName": self.table,
                    "Item": {**layout.trace_key(entry.trace_id), **dynamo.to_attributes(ledger_values)},
                    "ConditionExpression": "attribute_not_exists(pk)",
                }
            },
            _usage_update(self.table, entry),
            {
                "Update": {
                    "TableName": self.table,
                    "Key": layout.api_key_key(entry.key_hash),
                    "UpdateExpression": "ADD total_requests :one, total_credits :charged",
                    "ExpressionAttributeValues": {":one": {"N": "1"}, ":charged": {"N": str(entry.credits)}},
                }
            },
        ]
        limits = [
            (reservation.key_hash, reservation.limit_period),
            (reservation.parent_hash, reservation.parent_limit_period),
        ]
        for limited_key, period in limits:
            if refund and limited_key is not None and period is not None:
                items.append(
                    {
                        "Update": {
                            "TableName": self.table,
                            "Key": layout.key_limit_key(limited_key, period),
                            "UpdateExpression": "ADD used :release",
                            "ExpressionAttributeValues": {":release": {"N": str(-refund)}},
                        }
                    }
                )
        if refund:
            items.append(
                {
                    "Update": {
                        "TableName": self.table,
                        "Key": layout.account_key(reservation.account_id),
                        "UpdateExpression": "ADD balance :refund",
                        "ExpressionAttributeValues": {":refund": {"N": str(refund)}},
                    }
                }
            )
        items.extend(also)
        codes, _ = self._transact(items)
        if not codes:
            return True
        if "ConditionalCheckFailed" in codes:
            return False
        raise StorageUnavailable(f"settlement cancelled: {codes}")

    def record_pending(self, reservation: Reservation, entry: LedgerEntry) -> None:
        """Keep a charge the settlement could not write on the reservation (one small write, no
        transaction): the sweeper settles it as this entry instead of refunding the hold."""
        checked_amount(entry.credits, "a charge", low=0, high=reservation.amount)
        pending = {**asdict(entry), "attempts": [dict(attempt) for attempt in entry.attempts]}
        try:
            self.db.update_item(
                TableName=self.table,
                Key=layout.reservation_key(reservation.trace_id),
                UpdateExpression="SET pending = :pending",
                ConditionExpression="attribute_exists(pk)",
                ExpressionAttributeValues=dynamo.to_attributes({":pending": pending}),
            )
        except dynamo.DynamoError as error:
            if error.code != "ConditionalCheckFailedException":  # settled meanwhile: nothing to keep
                raise StorageUnavailable(str(error)) from error

    def expired_reservations(self, now: int, limit: int = 100) -> list[Reservation]:
        """Reservations whose holder must have died, oldest first, across every shard."""
        found: list[Reservation] = []
        for shard in range(layout.RESERVATION_SHARDS):
            answer = self.db.query(
                TableName=self.table,
                IndexName=layout.GSI1,
                KeyConditionExpression="gsi1pk = :pk AND gsi1sk < :until",
                ExpressionAttributeValues={
                    ":pk": {"S": layout.reservation_shard_pk(shard)},
                    ":until": {"S": f"{now:010d}"},
                },
                Limit=limit,
            )
            found.extend(Reservation.from_item(dynamo.from_item(item)) for item in answer.get("Items", []))
        return sorted(found, key=lambda r: r.expires_at)[:limit]

    def get_entry(self, trace_id: str) -> dict[str, Any] | None:
        answer = self.db.get_item(TableName=self.table, Key=layout.trace_key(trace_id), ConsistentRead=True)
        item = answer.get("Item")
        return dynamo.from_item(item) if item else None

    def get_reservation(self, trace_id: str) -> Reservation | None:
        answer = self.db.get_item(TableName=self.table, Key=layout.reservation_key(trace_id), ConsistentRead=True)
        item = answer.get("Item")
        return Reservation.from_item(dynamo.from_item(item)) if item else None

    def _transact(self, items: list[dict[str, Any]]) -> tuple[list[str], list[dict[str, Any] | None]]:
        """Run a transaction; retry write conflicts. Returns the cancellation codes ([] on success)."""
        for attempt in range(CONFLICT_RETRIES):
            try:
                self.db.transact_write_items(TransactItems=items)
            except dynamo.DynamoError as error:
                if error.code != "TransactionCanceledException":
                    raise StorageUnavailable(str(error)) from error
                codes = dynamo.cancellation_codes(error)
                if "ConditionalCheckFailed" in codes:
                    return codes, dynamo.cancellation_items(error)
                if any(code in ("TransactionConflict", "ThrottlingError") for code in codes):
                    time.sleep(random.uniform(0, min(0.4, 0.01 * 2**attempt)))
                    continue
                raise StorageUnavailable(f"transaction cancelled: {codes}") from error
            else:
                return [], []
        raise StorageUnavailable("too many write conflicts")


def _account_refusal(old: dict[str, Any] | None, profile_version: int) -> RefusalReason:
    if not old:
        return "account_missing"
    if "disabled" in old:
        return "account_disabled"
    if int(old.get("profile_version", 0)) != profile_version:
        return "profile_changed"  # priced for a group or own keys it no longer has: price it again
    return "insufficient_credits"


def _usage_update(table: str, entry: LedgerEntry) -> dict[str, Any]:
    failed = 0 if entry.status == "success" else 1
    active = layout.active_index(entry.account_id, entry.day)
    return {
        "Update": {
            "TableName": table,
            "Key": layout.usage_key(entry.account_id, entry.day, entry.model, entry.key_hash),
            "UpdateExpression": (
                "ADD #requests :one, #errors :failed, #prompt :prompt, #completion :completion, #credits :credits"
                " SET #account = :account, #day = :day, #model = :model, #key = :key, #prefix = :prefix,"
                " gsi3pk = :active_pk, gsi3sk = :active_sk"
            ),
            "ExpressionAttributeNames": {
                "#requests": "requests",
                "#errors": "errors",
                "#prompt": "prompt_tokens",
                "#completion": "completion_tokens",
                "#credits": "credits",
                "#account": "account_id",
                "#day": "day",
                "#model": "model",
                "#key": "key_hash",
                "#prefix": "key_prefix",
            },
            "ExpressionAttributeValues": {
                ":one": {"N": "1"},
                ":failed": {"N": str(failed)},
                ":prompt": {"N": str(entry.prompt_tokens)},
                ":completion": {"N": str(entry.completion_tokens)},
                ":credits": {"N": str(entry.credits)},
                ":account": {"S": entry.account_id},
                ":day": {"S": entry.day},
                ":model": {"S": entry.model},
                ":key": {"S": entry.key_hash},
                ":prefix": {"S": entry.key_prefix},
                ":active_pk": {"S": active["gsi3pk"]},
                ":active_sk": {"S": active["gsi3sk"]},
            },
        }
    }
