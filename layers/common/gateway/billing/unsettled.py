"""The last place a charge goes when DynamoDB took neither its settlement nor its pending record after
the answer went out: a message on the unsettled queue (SQS, a service that fails apart from
DynamoDB). The sweeper applies the queue first, before it releases any hold: the settlement as it
would have been written, or, when the hold was given back meanwhile (an outage longer than its
window), a late charge from the balance (never below zero). A message is deleted once applied, so a
sweep that fails leaves it for the next; the ledger entry's own condition charges it once."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, replace
from typing import Any

from gateway.billing.holds import pending_entry
from gateway.config import get_settings
from gateway.observability import logger
from gateway.storage import dynamo
from gateway.storage.balances import Shard
from gateway.storage.credits import LedgerEntry, Reservation
from gateway.storage.errors import StorageUnavailable
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
    body = {**asdict(reservation), "pending": asdict(entry)}
    try:
        sqs().send_message(QueueUrl=queue, MessageBody=json.dumps(dynamo.to_attributes(body)))
    except Exception:
        logger().exception("the unsettled queue refused the charge too")
        return False
    return True


def apply_queue() -> Applied:
    """Apply every charge on the queue (up to MOST_BATCHES batches). DynamoDB failing stops the
    sweep (no hold is given back while its charge waits); a message that fails otherwise is logged
    and left for the next sweep (UnsettledChargesAlarm), and the others are applied."""
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
            try:
                done = apply(_reservation(message["Body"]))
            except (StorageUnavailable, dynamo.DynamoError):
                raise
            except Exception:
                logger().exception("a charge on the unsettled queue could not be applied; left for the next sweep")
                continue
            if done is not None:
                entry, was_late = done
                settled, charged, late = settled + 1, charged + entry.credits, late + was_late
            sqs().delete_message(QueueUrl=queue, ReceiptHandle=message["ReceiptHandle"])
    return Applied(settled, charged, late)


def apply(reservation: Reservation) -> tuple[LedgerEntry, bool] | None:
    """Settle the charge kept on `reservation` against its hold (an image task's with its task, as
    the sweeper settles a kept charge), or charge it late (True) when the hold was given back. None
    when it had been settled already (its ledger entry exists)."""
    from gateway.billing.credits import retention_until
    from gateway.billing.sweeper import settle_expired

    entry = pending_entry(reservation)
    credits = stores().credits
    if reservation.recorded:
        current = credits.get_reservation(reservation.trace_id)
        settled = settle_expired(replace(current, pending=reservation.pending)) if current else None
        if settled is not None:
            return settled, False
    elif credits.settle(reservation, entry, retention_until()):
        credits.drop_pending(reservation)  # one a pending record that committed but lost its answer left
        return entry, False
    before = credits.get_entry(reservation.trace_id)
    if before is not None:
        paid = int(before.get("credits") or 0)
        if paid < entry.credits:  # an image task ended unworked meanwhile
            logger().warning("a queued charge found its request settled for less", extra=_owed(entry, paid))
        return None
    return _charged_late(reservation, entry)


def _charged_late(reservation: Reservation, entry: LedgerEntry) -> tuple[LedgerEntry, bool] | None:
    """The hold was given back: charge the account's balance, its other shards' credits moved into
    the hold's shard first when it alone is short."""
    from gateway.billing.credits import retention_until

    account = stores().accounts.get(reservation.account_id)
    if account is None:
        logger().warning("a queued charge's account is gone", extra=_owed(entry, 0))
        return None
    balances = stores().accounts.balances
    found, _ = balances.snapshot(reservation.account_id, account.shards)
    short = entry.credits - next((s.balance for s in found if s.number == reservation.shard), 0)
    if short > 0:
        moves = _gathered(found, reservation.shard, short)
        if moves:
            balances.move(reservation.account_id, moves)  # False: balances moved meanwhile; charge what is there
    charged = stores().credits.charge_late(reservation, entry, retention_until())
    if charged is None:
        return None
    logger().warning(
        "an answer's hold was given back before its charge; charged late", extra=_owed(entry, charged.credits)
    )
    return charged, True


def _gathered(found: list[Shard], target: int, needed: int) -> dict[int, int]:
    """Moves of up to `needed` credits from the other shards into `target`."""
    moves: dict[int, int] = {}
    for shard in sorted(found, key=lambda s: -s.balance):
        if shard.number == target or shard.balance <= 0 or needed <= 0:
            continue
        taken = min(shard.balance, needed)
        moves[shard.number], needed = -taken, needed - taken
    if moves:
        moves[target] = -sum(moves.values())
    return moves


def _owed(entry: LedgerEntry, paid: int) -> dict[str, Any]:
    return {"trace_id": entry.trace_id, "owed": entry.credits, "charged": paid}


def _reservation(body: str) -> Reservation:
    values = dynamo.from_item(json.loads(body))
    return Reservation.from_item(values, recorded=bool(values.get("recorded")))
