"""Settles reservations whose request never settled: the Lambda died between reserve and settle
(a full refund), or the settlement failed after the answer went out (the charge kept on the
reservation is charged, not refunded). An image task whose reservation this settles (its worker
died, its message went to the dead-letter queue) ends in the same transaction: failed and refunded,
or succeeded when its charge was kept."""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any

from gateway.billing.credits import EXPIRED, Outcome, settle, settle_entry
from gateway.clock import now_epoch
from gateway.storage.credits import LedgerEntry, Reservation
from gateway.storage.stores import stores
from gateway.storage.tasks import image_key


@dataclass(frozen=True)
class SweepResult:
    settled: int
    refunded: int  # micro-credits
    charged: int = 0  # micro-credits of answers whose own settlement had failed


def sweep_expired(now: int | None = None, batch: int = 100) -> SweepResult:
    """Settle every reservation past its expiry. The index is eventually consistent, so a
    reservation seen twice is settled once: the settle transaction's condition decides."""
    repository = stores().credits
    moment = now_epoch() if now is None else now
    seen: set[str] = set()
    settled = refunded = charged = 0
    while True:
        fresh = [r for r in repository.expired_reservations(moment, limit=batch) if r.trace_id not in seen]
        if not fresh:
            return SweepResult(settled, refunded, charged)
        for reservation in fresh:
            seen.add(reservation.trace_id)
            entry = settle_expired(reservation)
            if entry is not None:
                settled += 1
                charged += entry.credits
                refunded += reservation.amount - entry.credits


EXPIRED_TASK = "The image task did not finish in time; it was not charged."


def settle_expired(reservation: Reservation) -> LedgerEntry | None:
    """Settle one reservation whose request never did (None: it was settled meanwhile)."""
    tasks = stores().tasks
    task = tasks.get(reservation.trace_id)  # one read, for the rare reservation that outlived its request
    pending_task = task is not None and task.status == "pending"
    if reservation.pending is not None:
        entry = pending_entry(reservation)
        if entry.status == "success":  # the worker's images were kept; only their settlement failed
            count = int((entry.units or {}).get("images") or 0)
            finish = tasks.finish_item(
                reservation.trace_id, images=[image_key(reservation.trace_id, n) for n in range(count)]
            )
        else:
            finish = tasks.finish_item(reservation.trace_id, error=EXPIRED_TASK)
        return settle_entry(reservation, entry, [finish] if pending_task else [])
    also = [tasks.finish_item(reservation.trace_id, error=EXPIRED_TASK)] if pending_task else []
    outcome = Outcome(
        endpoint="unknown",
        provider=None,
        http_status=0,
        error_code=EXPIRED,
        prompt_tokens=0,
        completion_tokens=0,
        cost=0,
        latency_ms=0,
    )
    return settle(reservation, outcome, also)


def pending_entry(reservation: Reservation) -> LedgerEntry:
    """The ledger entry kept on a reservation, as it was computed when the answer went out."""
    kept = reservation.pending or {}
    values: dict[str, Any] = {field.name: kept[field.name] for field in fields(LedgerEntry) if field.name in kept}
    values["attempts"] = tuple(values.get("attempts") or ())
    # never more than this reservation holds, whatever the item says
    values["credits"] = min(max(int(values.get("credits") or 0), 0), reservation.amount)
    values["reserved"] = reservation.amount
    return LedgerEntry(**values)
