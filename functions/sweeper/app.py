"""Scheduled: refunds reservations whose request died between reserve and settle."""

from __future__ import annotations

from typing import Any

from gateway.billing.sweeper import sweep_expired
from gateway.entry import observed
from gateway.observability import emit_count, logger


def sweep(event: dict[str, Any], context: Any) -> dict[str, int]:
    result = sweep_expired()
    emit_count("SweptReservations", result.settled)
    emit_count("SweptCreditsMicro", result.refunded)
    logger().info("sweep finished", extra={"settled": result.settled, "refunded_micro": result.refunded})
    return {"settled": result.settled, "refunded_micro": result.refunded}


handler = observed(sweep)
