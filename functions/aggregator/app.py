"""DynamoDB Streams -> daily usage and per-key totals (gateway.billing.aggregates). The event source
delivers only ledger entries (INSERTs of TRACE items: its filter); a batch delivered again is added once."""

from __future__ import annotations

from typing import Any

from gateway.billing.aggregates import handle_batch
from gateway.entry import observed
from gateway.observability import logger


def aggregate(event: dict[str, Any], context: Any) -> dict[str, Any]:
    result = handle_batch(event)
    logger().info("usage aggregated", extra=result)
    return result


handler = observed(aggregate)
