"""Settles holds whose request never settled. A recorded hold (an image task's, with a reservation
item) past its expiry: refunded whole, or charged the charge kept on it when its settlement failed
after the answer went out; its task ends in the same transaction (failed and refunded, or succeeded
when its charge was kept). Holds counted in expiry windows are released window by window
(billing/holds.py)."""

from __future__ import annotations

from dataclasses import dataclass

from gateway.billing import unsettled
from gateway.billing.credits import EXPIRED, Outcome, settle, settle_entry
from gateway.billing.holds import pending_entry, sweep_quiet_shards
from gateway.clock import now_epoch
from gateway.storage.credits import LedgerEntry, Reservation
from gateway.storage.stores import stores
from gateway.storage.tasks import image_key

__all__ = ["EXPIRED_TASK", "SweepResult", "pending_entry", "settle_expired", "sweep_expired"]


@dataclass(frozen=True)
class SweepResult:
    settled: int  # recorded reservations and pending charges settled
    refunded: int  # micro-credits
    charged: int = 0  # micro-credits of answers whose own settlement had failed
    released: int = 0  # micro-credits of windowed holds whose requests never settled
    late: int = 0  # charges from the unsettled queue whose holds had been given back


def sweep_expired(now: int | None = None, batch: int = 100) -> SweepResult:
    """Apply the unsettled queue's charges, then settle every recorded reservation past its expiry,
    and release the ended windows of quiet shards. The index is eventually consistent: each
    reservation is read again before it is settled (a charge kept on it since is charged, not
    refunded), and one seen twice is settled once: the settle transaction's condition decides."""
    queued = unsettled.apply_queue()  # first: their holds must not be given back
    repository = stores().credits
    moment = now_epoch() if now is None else now
    seen: set[str] = set()
    settled = refunded = charged = 0
    while True:
        fresh = [r for r in repository.expired_reservations(moment, limit=batch) if r.trace_id not in seen]
        if not fresh:
            break
        for listed in fresh:
            seen.add(listed.trace_id)
            reservation = repository.get_reservation(listed.trace_id)  # the index's copy may be stale
            if reservation is None:
                continue  # settled meanwhile
            entry = settle_expired(reservation)
            if entry is not None:
                settled += 1
                charged += entry.credits
                refunded += reservation.amount - entry.credits
    tidied = sweep_quiet_shards(moment)
    return SweepResult(
        settled + tidied.settled + queued.settled,
        refunded + tidied.refunded,
        charged + tidied.charged + queued.charged,
        tidied.released,
        queued.late,
    )


EXPIRED_TASK = "The image task did not finish in time; it was not charged."


def settle_expired(reservation: Reservation) -> LedgerEntry | None:
    """Settle one recorded reservation whose request never did (None: it was settled meanwhile)."""
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
