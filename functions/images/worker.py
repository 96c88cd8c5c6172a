"""Image-task worker: SQS delivers {"task_id"}; failed records go back to the queue (partial batch)."""

from __future__ import annotations

import json
from typing import Any

import anyio

from gateway.entry import observed
from gateway.observability import logger
from gateway.services.image_tasks import work


def work_batch(event: dict[str, Any], context: Any) -> dict[str, list[dict[str, str]]]:
    failures = []
    for record in event.get("Records", []):
        try:
            outcome = anyio.run(work, json.loads(record["body"])["task_id"])
            logger().info("image task worked", extra={"outcome": outcome})
        except Exception:
            logger().exception("image task will be retried")
            failures.append({"itemIdentifier": record["messageId"]})
    return {"batchItemFailures": failures}


handler = observed(work_batch)
