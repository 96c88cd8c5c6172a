"""Image-task worker: SQS delivers {"task_id"}; failed records, and a task another delivery of its message
is working, go back to the queue (partial batch)."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from gateway.entry import observed
from gateway.observability import logger
from gateway.services.image_tasks import BUSY, work


def work_batch(event: dict[str, Any], context: Any) -> dict[str, list[dict[str, str]]]:
    failures = []
    for record in event.get("Records", []):
        try:
            outcome = _run(work(json.loads(record["body"])["task_id"]))
            logger().info("image task worked", extra={"outcome": outcome})
            if outcome == BUSY:  # delivered twice at once: retried once the other delivery is done
                failures.append({"itemIdentifier": record["messageId"]})
        except Exception:
            logger().exception("image task will be retried")
            failures.append({"itemIdentifier": record["messageId"]})
    return {"batchItemFailures": failures}


def _run(job: Any) -> str:
    """As asyncio.run runs it (what the job left open, such as the providers' HTTP session, is closed),
    on a loop of its own: the thread's current event loop (if any) is left as it was."""
    with asyncio.Runner(loop_factory=asyncio.new_event_loop) as runner:
        return str(runner.run(job))


handler = observed(work_batch)
