"""Scheduled: refunds holds whose request died between reserve and settle (recorded reservations, and
the ended hold windows of balance shards that went quiet); with
{"task": "audit"} (hourly), audits the ledger of recently active accounts instead."""

from __future__ import annotations

from typing import Any

from gateway.billing.audit import audit_recent
from gateway.billing.sweeper import sweep_expired
from gateway.clock import now
from gateway.entry import observed
from gateway.observability import emit_count, logger

AUDIT_TASK = "audit"
AUDIT_MARGIN_SECONDS = 20  # stop starting account audits this long before the function's timeout


def sweep(event: dict[str, Any], context: Any) -> dict[str, Any]:
    if event.get("task") == AUDIT_TASK:
        return audit(context)
    result = sweep_expired()
    emit_count("SweptReservations", result.settled)
    emit_count("SweptCreditsMicro", result.refunded + result.released)
    answer = {"settled": result.settled, "refunded_micro": result.refunded, "released_micro": result.released}
    logger().info("sweep finished", extra=answer)
    return answer


def audit(context: Any) -> dict[str, Any]:
    deadline = now() + context.get_remaining_time_in_millis() / 1000 - AUDIT_MARGIN_SECONDS
    summary = audit_recent(deadline)
    emit_count("AuditedAccounts", len(summary.reports))
    emit_count("LedgerDrift", len(summary.drifting))
    emit_count("LedgerDriftMicro", summary.abs_balance_drift)
    for report in summary.drifting:
        logger().error("ledger drift", extra={"audit": report.view()})
    result = {name: value for name, value in summary.view().items() if name != "accounts"}
    logger().info("ledger audit finished", extra=result)
    return result


handler = observed(sweep)
