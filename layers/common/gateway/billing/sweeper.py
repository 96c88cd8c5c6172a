"""Settles reservations whose request never settled: the Lambda died between reserve and settle
(a full refund), or the settlement failed after the answer went out (the charge kept on the
reservation is charged, not refunded)."""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any

from gateway.billing.credits import EXPIRED, Outcome, settle, settle_entry
from gateway.clock import now_epoch
from gateway.config import get_settings
from gateway.storage.credits import CreditRepository, LedgerEntry, Reservation


@dataclass(frozen=True)
class SweepResult:
    settled: int
    refunded: int  # micro-credits
    charged: int = 0  # micro-credits of answers whose own settlement had failed


def sweep_expired(now: int | None = None, batch: int = 100) -> SweepResult:
    """Settle every reservation past its expiry. The index is eventually consistent, so a
    reservation seen twice is settled once: the settle transaction's condition decides."""
    repository = CreditRepository(get_settings().table_name)
    moment = now_epoch() if now is None else now
    seen: set[str] = set()
    settled = refunded = charged = 0
    while True:
        fresh = [r for r in repository.expired_reservations(moment, limit=batch) if r.trace_id not in seen]
        if not fresh:
            return SweepResult(settled, refunded, charged)
        for reservation in fresh:
            seen.add(reservation.trace_id)
            entry = _settle_one(reservation)
            if entry is not None:
                settled += 1
                charged += entry.credits
                refunded += reservation.amount - entry.credits


def _settle_one(reservation: Reservation) -> LedgerEntry | None:
    if reservation.pending is not None:
        return settle_entry(reservation, pending_entry(reservation))
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
    return settle(reservation, outcome)


def pending_entry(reservation: Reservation) -> LedgerEntry:
    """The ledger entry kept on a reservation, as it was computed when the answer went out."""
    kept = reservation.pending or {}
    values: dict[str, Any] = {field.name: kept[field.name] for field in fields(LedgerEntry) if field.name in kept}
    values["attempts"] = tuple(values.get("attempts") or ())
    # never more than this reservation holds, whatever the item says
    values["credits"] = min(max(int(values.get("credits") or 0), 0), reservation.amount)
    values["reserved"] = reservation.amount
    return LedgerEntry(**values)
