"""Settles reservations whose Lambda died between reserve and settle: a full refund."""

from __future__ import annotations

from dataclasses import dataclass

from gateway.billing.credits import EXPIRED, Outcome, settle
from gateway.clock import now_epoch
from gateway.config import get_settings
from gateway.storage.credits import CreditRepository


@dataclass(frozen=True)
class SweepResult:
    settled: int
    refunded: int  # micro-credits


def sweep_expired(now: int | None = None, batch: int = 100) -> SweepResult:
    """Refund every reservation past its expiry. The index is eventually consistent, so a
    reservation seen twice is settled once: the settle transaction's condition decides."""
    repository = CreditRepository(get_settings().table_name)
    moment = now_epoch() if now is None else now
    seen: set[str] = set()
    settled = refunded = 0
    while True:
        fresh = [r for r in repository.expired_reservations(moment, limit=batch) if r.trace_id not in seen]
        if not fresh:
            return SweepResult(settled, refunded)
        for reservation in fresh:
            seen.add(reservation.trace_id)
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
            if settle(reservation, outcome) is not None:
                settled += 1
                refunded += reservation.amount
