"""Reserve and settle credits: one TransactWriteItems each, the only writes on the hot path."""

from __future__ import annotations

import random
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

from gateway.storage import dynamo, layout
from gateway.storage.errors import MAX_HOLD, ReservationRefused, StorageUnavailable, checked_amount

CONFLICT_RETRIES = 12
_KEY_USABLE = (
    "attribute_exists(kind) AND (attribute_not_exists(revoked) OR revoked = :false) AND disabled = :false"
    " AND kind = :inference"
    " AND (attribute_not_exists(expires_at) OR expires_at > :now) AND version = :version"
)


@dataclass(frozen=True)
class KeyGuard:
    """What the reservation checks on the key, as last read: its version, limit and rate limit."""

    version: int
    limit_headroom: int | None = None  # the key's limit minus this reservation (None: no limit)
    limit_until: int | None = None  # when the limit period ends (TTL of its usage item)
    rate_limit: int | None = None  # requests per minute
    rate_window: int | None = None


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
    user: str | None = None  # the end user the client named (OpenAI `user`, Anthropic `metadata.user_id`)
    metadata: dict[str, str] | None = None  # the client's tags (OpenAI / OpenRouter `metadata`)


class CreditRepository(dynamo.TableRepository):
    def reserve(self, reservation: Reservation, guard: KeyGuard, now: int, also: Sequence[dict[str, Any]] = ()) -> None:
        """Check the key, take the credits (and the key's limit and rate), write the reservation and
        any `also` items (an image task, say): all or nothing, in one transaction."""
        checked_amount(reservation.amount, "a hold", low=1, high=MAX_HOLD)
        if guard.limit_headroom is not None and guard.limit_headroom < 0:
            raise ReservationRefused("key_limit")
        values = {
            **{name: value for name, value in asdict(reservation).items() if name != "pending"},
            **layout.reservation_index(reservation.trace_id, reservation.expires_at),
        }
        items: list[tuple[str, dict[str, Any]]] = [
            (
                "key",
                {
                    "ConditionCheck": {
                        "TableName": self.table,
                        "Key": layout.api_key_key(reservation.key_hash),
                        "ConditionExpression": _KEY_USABLE,
                        "ExpressionAttributeValues": {
                            ":false": {"BOOL": False},
                            ":inference": {"S": "inference"},
                            ":now": {"N": str(now)},
                            ":version": {"N": str(guard.version)},
                        },
                        "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
                    }
                },
            ),
            (
                "account",
                {
                    "Update": {
                        "TableName": self.table,
                        "Key": layout.account_key(reservation.account_id),
                        "UpdateExpression": "SET balance = balance - :amount",
                        "ConditionExpression": "attribute_exists(pk) AND balance >= :amount",
                        "ExpressionAttributeValues": {":amount": {"N": str(reservation.amount)}},
                        "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
                    }
                },
            ),
        ]
        if reservation.limit_period is not None and guard.limit_headroom is not None:
            items.append(
                (
                    "limit",
                    _counter(
                        self.table,
                        layout.key_limit_key(reservation.key_hash, reservation.limit_period),
                        "used",
                        reservation.amount,
                        ceiling=guard.limit_headroom,
                        inclusive=True,
                        ttl=guard.limit_until,
                    ),
                )
            )
        if guard.rate_limit is not None and guard.rate_window is not None:
            items.append(
                (
                    "rate",
                    _counter(
                        self.table,
                        layout.key_rate_key(reservation.key_hash, guard.rate_window),
                        "count",
                        1,
                        ceiling=guard.rate_limit,
                        inclusive=False,
                        ttl=(guard.rate_window + 2) * 60,
                    ),
                )
            )
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
            raise ReservationRefused(_key_refusal(failed["key"], now, guard.version), failed["key"])
        if "account" in failed:
            raise ReservationRefused("insufficient_credits" if failed["account"] else "account_missing")
        if "limit" in failed:
            raise ReservationRefused("key_limit")
        if "rate" in failed:
            raise ReservationRefused("rate_limited")
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
        if refund and reservation.limit_period is not None:
            items.append(
                {
                    "Update": {
                        "TableName": self.table,
                        "Key": layout.key_limit_key(reservation.key_hash, reservation.limit_period),
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


def _key_refusal(key_item: dict[str, Any] | None, now: int, version: int) -> Any:
    if key_item is None or "kind" not in key_item or key_item.get("revoked"):
        return "key_missing"
    if key_item.get("kind") != "inference":
        return "key_wrong_kind"
    if key_item.get("disabled"):
        return "key_disabled"
    if key_item.get("expires_at") is not None and int(key_item["expires_at"]) <= now:
        return "key_expired"
    if int(key_item.get("version", 0)) != version:
        return "key_changed"
    return "key_missing"


def _counter(
    table: str, key: dict[str, Any], name: str, amount: int, *, ceiling: int, inclusive: bool, ttl: int | None
) -> dict[str, Any]:
    """ADD `amount` to a counter item unless it already stands above `ceiling` (or at it, if not inclusive)."""
    comparison = "<=" if inclusive else "<"
    update: dict[str, Any] = {
        "TableName": table,
        "Key": key,
        "UpdateExpression": "ADD #counter :amount" + (" SET #ttl = :ttl" if ttl is not None else ""),
        "ConditionExpression": f"attribute_not_exists(#counter) OR #counter {comparison} :ceiling",
        "ExpressionAttributeNames": {"#counter": name, **({"#ttl": "ttl"} if ttl is not None else {})},
        "ExpressionAttributeValues": {
            ":amount": {"N": str(amount)},
            ":ceiling": {"N": str(ceiling)},
            **({":ttl": {"N": str(ttl)}} if ttl is not None else {}),
        },
    }
    return {"Update": update}


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
