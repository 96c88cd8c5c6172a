"""Reserve and settle credits on a balance shard (storage/balances.py): the only writes on the hot path.

- A hold is ONE conditional UpdateItem of one shard (balance down, the hold counted in its expiry
  window, the account's gate checked) when the key has no limit or rate counter and nothing else is
  written with it; otherwise one transaction with those items too. A hold that must outlive its
  invocation (an image task) also writes a reservation item: `recorded`.
- A settlement is ONE transaction: the shard (hold released, refund, charge by day) and the ledger
  entry, whose `attribute_not_exists` makes it happen once.
- Daily usage and per-key totals are not written here: the aggregator adds them from the table's
  stream of ledger entries (billing/aggregates.py).
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import asdict, replace
from typing import Any

from gateway.storage import dynamo, layout, on_loop
from gateway.storage.balances import ZERO, Shard, seen_slot, window_name
from gateway.storage.channel_windows import ChannelGuard, count_request
from gateway.storage.credit_records import LedgerEntry, Reservation
from gateway.storage.errors import MAX_HOLD, RefusalReason, ReservationRefused, StorageUnavailable, checked_amount
from gateway.storage.key_checks import PARENT_TAGS, KeyGuard, key_items

__all__ = ["CreditRepository", "KeyGuard", "LedgerEntry", "Reservation"]

CONFLICT_RETRIES = 12


class CreditRepository(dynamo.TableRepository):
    def reserve(
        self,
        reservation: Reservation,
        guard: KeyGuard,
        now: int,
        also: Sequence[dict[str, Any]] = (),
        parent: KeyGuard | None = None,
        *,
        gate: int,
        channel: ChannelGuard | None = None,
    ) -> Shard | None:
        """Take the credits from the reservation's shard while the account's gate is still `gate`
        (no key of the account, its profile or its `disabled` switch changed since it was read), within
        the key's limit and rate (and its parent's), count the request in a capped `channel`'s window,
        and write any `also` items: all or nothing. Returns the shard as the hold left it when that was
        a single write (None for a transaction: it answers no values)."""
        checked_amount(reservation.amount, "a hold", low=1, high=MAX_HOLD)
        if guard.limit_headroom is not None and guard.limit_headroom < 0:
            raise ReservationRefused("key_limit")
        if parent is not None and parent.limit_headroom is not None and parent.limit_headroom < 0:
            raise ReservationRefused("parent_limit")
        hold = self._hold(reservation, gate)
        counters = key_items(self.table, reservation.key_hash, guard, reservation.amount, reservation.limit_period, now)
        if channel is not None and channel.capped:
            counters.append(("channel", count_request(self.table, channel)))
        if parent is not None and reservation.parent_hash is not None:
            period = reservation.parent_limit_period
            counters += key_items(
                self.table, reservation.parent_hash, parent, reservation.amount, period, now, PARENT_TAGS
            )
        if not counters and not also and not reservation.recorded:
            return self._hold_alone(reservation, hold, gate)
        items: list[tuple[str, dict[str, Any]]] = [("shard", {"Update": hold}), *counters]
        if reservation.recorded:
            items.append(("reservation", self._reservation_put(reservation)))
        items.extend(("also", item) for item in also)
        codes, old_items = self._transact([item for _, item in items])
        if not codes:
            return None
        failed = {
            tag: old
            for (tag, _), code, old in zip(items, codes, old_items, strict=True)
            if code == "ConditionalCheckFailed"
        }
        if "shard" in failed:
            self._refuse_hold(reservation, failed["shard"], gate)  # returns when ours went through before
            return None
        if "reservation" in failed and set(failed) <= {"reservation", "also"}:
            return None  # an earlier attempt of ours went through; its answer was lost
        for tag, reason in _COUNTER_REFUSALS.items():
            if tag in failed:
                raise ReservationRefused(reason)
        raise StorageUnavailable(f"reservation cancelled: {codes}")

    def _hold(self, reservation: Reservation, gate: int) -> dict[str, Any]:
        names = {"#slot": seen_slot(reservation.trace_id)}
        values: dict[str, Any] = {
            ":amount": {"N": str(reservation.amount)},
            ":gate": {"N": str(gate)},
            ":trace": {"S": reservation.trace_id},
        }
        if reservation.recorded:
            sets = "recorded = recorded + :amount"
        else:
            names["#w"] = window_name(reservation.window)
            values[":zero"] = ZERO
            index = layout.holds_index(reservation.account_id, reservation.shard, reservation.window)
            values[":hpk"], values[":hsk"] = {"S": index["gsi3pk"]}, {"S": index["gsi3sk"]}
            sets = "held.#w = if_not_exists(held.#w, :zero) + :amount, gsi3pk = :hpk, gsi3sk = :hsk"
        return {
            "TableName": self.table,
            "Key": layout.balance_key(reservation.account_id, reservation.shard),
            "UpdateExpression": f"SET balance = balance - :amount, {sets}, seen.#slot = :trace",
            "ConditionExpression": (
                "attribute_exists(pk) AND gate = :gate AND balance >= :amount"
                " AND (attribute_not_exists(seen.#slot) OR seen.#slot <> :trace)"
            ),
            "ExpressionAttributeNames": names,
            "ExpressionAttributeValues": values,
            "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
        }

    def _hold_alone(self, reservation: Reservation, hold: dict[str, Any], gate: int) -> Shard:
        for attempt in range(CONFLICT_RETRIES):
            try:
                answer = self.db.update_item(**hold, ReturnValues="ALL_NEW")
            except dynamo.DynamoError as error:
                if error.code == "ConditionalCheckFailedException":
                    old = error.response.get("Item")
                    return self._refuse_hold(reservation, dynamo.from_item(old) if old else None, gate)
                if error.code == "TransactionConflictException":  # the client's own retries ran out
                    on_loop.pause(random.uniform(0, min(0.4, 0.01 * 2**attempt)))
                    continue
                raise StorageUnavailable(str(error)) from error
            return Shard.from_item(dynamo.from_item(answer["Attributes"]))
        raise StorageUnavailable("too many write conflicts")

    def _refuse_hold(self, reservation: Reservation, old: dict[str, Any] | None, gate: int) -> Shard:
        """Why the shard refused the hold; returns the shard when it was our own earlier attempt."""
        if old is None:
            raise ReservationRefused("account_missing")
        shard = Shard.from_item(old)
        if shard.seen.get(seen_slot(reservation.trace_id)) == reservation.trace_id:
            return shard  # an earlier attempt of ours went through; its answer was lost
        if shard.gate != gate:
            raise ReservationRefused("key_changed", old)
        raise ReservationRefused("shard_short", old)

    def _reservation_put(self, reservation: Reservation) -> dict[str, Any]:
        values = {
            **{name: value for name, value in asdict(reservation).items() if name not in ("pending", "recorded")},
            **layout.reservation_index(reservation.trace_id, reservation.expires_at),
        }
        return {
            "Put": {
                "TableName": self.table,
                "Item": {**layout.reservation_key(reservation.trace_id), **dynamo.to_attributes(values)},
                "ConditionExpression": "attribute_not_exists(pk)",
            }
        }

    def settle(
        self, reservation: Reservation, entry: LedgerEntry, retention_until: int, also: Sequence[dict[str, Any]] = ()
    ) -> bool:
        """Release the hold, charge `entry.credits`, refund the rest and write the ledger entry, and
        any `also` items (a task's new state, say) in the same transaction.

        Returns False when the hold was already settled (by an earlier attempt or the sweeper) or
        released, or an `also` item's condition failed: then nothing was written.
        """
        checked_amount(reservation.amount, "a hold", low=1, high=MAX_HOLD)
        checked_amount(entry.credits, "a charge", low=0, high=reservation.amount)
        refund = checked_amount(reservation.amount - entry.credits, "a refund", low=0, high=reservation.amount)
        items: list[dict[str, Any]] = [
            {"Update": self._release(reservation, entry.credits, refund, entry.day)},
            self._ledger_put(entry, retention_until),
        ]
        if reservation.recorded:
            # settled as read: a charge kept on it since (record_pending) is not refunded by a stale copy
            kept = "" if reservation.pending is not None else " AND attribute_not_exists(pending)"
            items.append(
                {
                    "Delete": {
                        "TableName": self.table,
                        "Key": layout.reservation_key(reservation.trace_id),
                        "ConditionExpression": f"attribute_exists(pk){kept}",
                    }
                }
            )
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
        items.extend(also)
        codes, _ = self._transact(items)
        if not codes:
            return True
        if "ConditionalCheckFailed" in codes:
            return False
        raise StorageUnavailable(f"settlement cancelled: {codes}")

    def charge_late(self, reservation: Reservation, entry: LedgerEntry, retention_until: int) -> LedgerEntry | None:
        """Charge an answer whose hold was given back before its settlement could be written (its
        window released): from the shard's balance, at most what it has (a balance never goes below
        zero), with its ledger entry. None when the entry was written meanwhile (charged once)."""
        checked_amount(entry.credits, "a charge", low=0, high=reservation.amount)
        for _ in range(CONFLICT_RETRIES):
            answer = self.db.get_item(
                TableName=self.table,
                Key=layout.balance_key(reservation.account_id, reservation.shard),
                ConsistentRead=True,
            )
            if "Item" not in answer:
                return None  # no such shard (a deleted account): nothing to charge from
            balance = int(dynamo.from_item(answer["Item"])["balance"])
            late = replace(entry, credits=min(entry.credits, max(balance, 0)))
            charge = {
                "TableName": self.table,
                "Key": layout.balance_key(reservation.account_id, reservation.shard),
                "UpdateExpression": (
                    "SET balance = balance - :c, charged.#day = if_not_exists(charged.#day, :zero) + :c"
                ),
                "ConditionExpression": "balance >= :c",
                "ExpressionAttributeNames": {"#day": late.day},
                "ExpressionAttributeValues": {":c": {"N": str(late.credits)}, ":zero": ZERO},
            }
            codes, _ = self._transact([{"Update": charge}, self._ledger_put(late, retention_until)])
            if not codes:
                return late
            if codes[1] == "ConditionalCheckFailed":
                return None
            # the balance moved under the charge: read it again
        raise StorageUnavailable("too many write conflicts")

    def _ledger_put(self, entry: LedgerEntry, retention_until: int) -> dict[str, Any]:
        """The ledger entry's Put, once per trace."""
        values = {
            **asdict(entry),
            "attempts": [dict(attempt) for attempt in entry.attempts],
            **layout.trace_index(entry.account_id, entry.key_hash, entry.created_at, entry.trace_id),
            "ttl": retention_until,
        }
        return {
            "Put": {
                "TableName": self.table,
                "Item": {**layout.trace_key(entry.trace_id), **dynamo.to_attributes(values)},
                "ConditionExpression": "attribute_not_exists(pk)",
            }
        }

    def _release(self, reservation: Reservation, charged: int, refund: int, day: str) -> dict[str, Any]:
        """The shard's part of a settlement: the hold released, the refund back, the charge booked."""
        names = {"#day": day}
        if reservation.recorded:
            held, condition = "recorded = recorded - :amount", "recorded >= :amount"
        else:
            names["#w"] = window_name(reservation.window)
            held, condition = "held.#w = held.#w - :amount", "held.#w >= :amount"
        return {
            "TableName": self.table,
            "Key": layout.balance_key(reservation.account_id, reservation.shard),
            "UpdateExpression": (
                f"SET balance = balance + :refund, {held}, charged.#day = if_not_exists(charged.#day, :zero) + :charged"
            ),
            "ConditionExpression": condition,
            "ExpressionAttributeNames": names,
            "ExpressionAttributeValues": {
                ":refund": {"N": str(refund)},
                ":amount": {"N": str(reservation.amount)},
                ":charged": {"N": str(charged)},
                ":zero": ZERO,
            },
        }

    def record_pending(self, reservation: Reservation, entry: LedgerEntry) -> None:
        """Keep a charge the settlement could not write (one small write, no transaction): the
        sweeper settles it as this entry instead of releasing the hold. On the reservation item for
        a recorded hold; else on a pending item the window's release reads first."""
        checked_amount(entry.credits, "a charge", low=0, high=reservation.amount)
        pending = {**asdict(entry), "attempts": [dict(attempt) for attempt in entry.attempts]}
        try:
            if reservation.recorded:
                self.db.update_item(
                    TableName=self.table,
                    Key=layout.reservation_key(reservation.trace_id),
                    UpdateExpression="SET pending = :pending",
                    ConditionExpression="attribute_exists(pk)",
                    ExpressionAttributeValues=dynamo.to_attributes({":pending": pending}),
                )
                return
            values = {**asdict(reservation), "pending": pending}
            key = _pending_key(reservation)
            self.db.put_item(
                TableName=self.table,
                Item={**key, **dynamo.to_attributes(values)},
                ConditionExpression="attribute_not_exists(pk)",
            )
        except dynamo.DynamoError as error:
            if error.code != "ConditionalCheckFailedException":  # settled meanwhile: nothing to keep
                raise StorageUnavailable(str(error)) from error

    def pending_in(self, account_id: str, shard: int, window: int) -> list[Reservation]:
        """Holds of the window whose settlement failed, each with the charge it kept (`pending`)."""
        items = self.db.query_all(
            TableName=self.table,
            KeyConditionExpression="pk = :pk AND begins_with(sk, :window)",
            ExpressionAttributeValues={
                ":pk": {"S": layout.pending_pk(account_id, shard)},
                ":window": {"S": f"{window:010d}#"},
            },
            ConsistentRead=True,
        )
        return [Reservation.from_item(dynamo.from_item(item), recorded=False) for item in items]

    def drop_pending(self, reservation: Reservation) -> None:
        """Remove the hold's pending item, if any (its charge settled otherwise)."""
        self.db.delete_item(TableName=self.table, Key=_pending_key(reservation))

    def pending_done_item(self, reservation: Reservation) -> dict[str, Any]:
        """The transaction item that removes a pending charge, written with its settlement."""
        key = _pending_key(reservation)
        return {"Delete": {"TableName": self.table, "Key": key, "ConditionExpression": "attribute_exists(pk)"}}

    def expired_reservations(self, now: int, limit: int = 100) -> list[Reservation]:
        """Recorded reservations whose holder must have died, oldest first, across every shard."""
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
            found.extend(
                Reservation.from_item(dynamo.from_item(item), recorded=True) for item in answer.get("Items", [])
            )
        return sorted(found, key=lambda r: r.expires_at)[:limit]

    def get_entry(self, trace_id: str) -> dict[str, Any] | None:
        answer = self.db.get_item(TableName=self.table, Key=layout.trace_key(trace_id), ConsistentRead=True)
        item = answer.get("Item")
        return dynamo.from_item(item) if item else None

    def get_reservation(self, trace_id: str) -> Reservation | None:
        """A recorded reservation (an image task's), while it is open."""
        answer = self.db.get_item(TableName=self.table, Key=layout.reservation_key(trace_id), ConsistentRead=True)
        item = answer.get("Item")
        return Reservation.from_item(dynamo.from_item(item), recorded=True) if item else None

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
                    on_loop.pause(random.uniform(0, min(0.4, 0.01 * 2**attempt)))
                    continue
                raise StorageUnavailable(f"transaction cancelled: {codes}") from error
            else:
                return [], []
        raise StorageUnavailable("too many write conflicts")


def _pending_key(reservation: Reservation) -> dict[str, Any]:
    """The key of the hold's pending item (a charge its settlement could not write)."""
    return layout.pending_key(reservation.account_id, reservation.shard, reservation.window, reservation.trace_id)


_COUNTER_REFUSALS: dict[str, RefusalReason] = {
    "limit": "key_limit",
    "parent_limit": "parent_limit",
    "rate": "rate_limited",
    "parent_rate": "parent_rate_limited",
    "channel": "channel_full",
}
