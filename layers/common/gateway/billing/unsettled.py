"""The last place a charge goes when DynamoDB took neither its settlement nor its pending record after
the answer went out: a message on the unsettled queue (SQS, a service that fails apart from
DynamoDB). The sweeper applies the queue first, before it releases any hold: the settlement as it
would have been written, or, when the hold was given back meanwhile (an outage longer than its
window), a late charge from the balance (never below zero). A message is deleted once applied, so a
sweep that fails leaves it for the next; the ledger entry's own condition charges it once."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass

from gateway.billing.holds import pending_entry
from gateway.clock import now_epoch
from gateway.config import get_settings
from gateway.observability import logger
from gateway.storage import dynamo
from gateway.storage.credits import LedgerEntry, Reservation
from gateway.storage.objects import sqs
from gateway.storage.stores import stores

BATCH = 10  # SQS's most messages a receive
MOST_BATCHES = 100  # a sweep applies at most this many batches; the rest wait for the next


@dataclass(frozen=True)
class Applied:
    settled: int = 0  # settlements written as they would have been
    charged: int = 0  # micro-credits charged by them and by late charges
    late: int = 0  # late charges (the hold had been given back)


def keep(reservation: Reservation, entry: LedgerEntry) -> bool:
    """Put the charge on the unsettled queue; False when there is no queue or it failed too."""
    queue = get_settings().unsettled_queue_url
    if not queue:
        return False
    body = {**asdict(reservation), "pending": {**asdict(entry), "attempts": list(entry.attempts)}}
    try:
        sqs().send_message(QueueUrl=queue, MessageBody=json.dumps(dynamo.to_attributes(body)))
    except Exception:
        logger().exception("the unsettled queue refused the charge too")
        return False
    return True


def apply_queue() -> Applied:
    """Apply every charge on the queue (up to MOST_BATCHES batches)."""
    settings = get_settings()
    queue = settings.unsettled_queue_url
    if not queue:
        return Applied()
    settled = charged = late = 0
    for _ in range(MOST_BATCHES):
        wait = settings.unsettled_wait_seconds
        answer = sqs().receive_message(QueueUrl=queue, MaxNumberOfMessages=BATCH, WaitTimeSeconds=wait)
        messages = answer.get("Messages", [])
        if not messages:
            break
        for message in messages:
            done = apply(_reservation(message["Body"]))
            if done is not None:
                entry, was_late = done
                settled, charged, late = settled + 1, charged + entry.credits, late + was_late
            sqs().delete_message(QueueUrl=queue, ReceiptHandle=message["ReceiptHandle"])
    return Applied(settled, charged, late)


def apply(reservation: Reservation) -> tuple[LedgerEntry, bool] | None:
    """Settle the charge kept on `reservation` against its hold, or charge it late (True) when the
    hold was given back. None when it had been settled already (its ledger entry exists). An image
    task's hold gets its pending record, as the worker would have written it: the sweeper settles it
    with its task when it expires."""
    entry = pending_entry(reservation)
    credits = stores().credits
    if reservation.recorded and credits.get_reservation(reservation.trace_id) is not None:
        credits.record_pending(reservation, entry)
        return entry, False
    retention = now_epoch() + get_settings().trace_retention_days * 86_400
    if not reservation.recorded and credits.settle(reservation, entry, retention):
        return entry, False
    if credits.get_entry(reservation.trace_id) is not None:
        return None
    charged = credits.charge_late(reservation, entry, retention)
    if charged is None:
        return None
    logger().warning(
        "an answer's hold was given back before its charge; charged late",
        extra={"trace_id": charged.trace_id, "credits": charged.credits, "owed": entry.credits},
    )
    return charged, True


def _reservation(body: str) -> Reservation:
    values = dynamo.from_item(json.loads(body))
    return Reservation.from_item(values, recorded=bool(values.get("recorded")))
