"""Scheduled: refunds reservations whose request died between reserve and settle."""

from __future__ import annotations

from typing import Any

from gateway.billing.sweeper import sweep_expired
from gateway.entry import observed
from gateway.observability import logger, request_metrics


def sweep(event: dict[str, Any], context: Any) -> dict[str, int]:
    from aws_lambda_powertools.metrics import MetricUnit

    result = sweep_expired()
    metrics = request_metrics()
    metrics.add_metric(name="SweptReservations", unit=MetricUnit.Count, value=result.settled)
    metrics.add_metric(name="SweptCreditsMicro", unit=MetricUnit.Count, value=result.refunded)
    metrics.flush_metrics()
    logger().info("sweep finished", extra={"settled": result.settled, "refunded_micro": result.refunded})
    return {"settled": result.settled, "refunded_micro": result.refunded}


handler = observed(sweep)
