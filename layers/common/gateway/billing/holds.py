"""Holds whose requests never settled, given back: a request's hold is counted in the window its
reservation expires in, so once that window is over (and RELEASE_MARGIN_SECONDS more), whatever is
still held in it belongs to requests that died between reserve and settle. A charge whose settlement
failed (a pending one) is settled first; the rest goes back to the balance with a release entry.

Who does it: the first request to see a shard with an ended window (in the background), and the
sweeper, for shards that went quiet (found by the window of their latest hold). Old days' charges
are folded away at the same time, so a shard's item stays small.
"""

from __future__ import annotations

import logging
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, fields
from datetime import date, timedelta
from typing import Any

from gateway.clock import day_from_epoch, now_epoch, now_iso
from gateway.storage import layout
from gateway.storage.balances import Shard
from gateway.storage.credits import LedgerEntry, Reservation
from gateway.storage.stores import stores

RELEASE_MARGIN_SECONDS = 60  # after its window ends, a hold's request is surely over (timeouts < TTL)
FOLD_AFTER_DAYS = 7  # a shard keeps its charges by day this long, then sums them in charged_before


@dataclass(frozen=True)
class Tidied:
    """What tidying shards did, in micro-credits: pending charges settled, holds released."""

    settled: int = 0  # pending charges settled
    charged: int = 0
    refunded: int = 0  # what their holds held beyond their charges
    released: int = 0  # holds of requests that never settled, given back

    def __add__(self, other: Tidied) -> Tidied:
        return Tidied(*(a + b for a, b in zip(self.counts(), other.counts(), strict=True)))

    def counts(self) -> tuple[int, int, int, int]:
        return self.settled, self.charged, self.refunded, self.released


_tidying: set[tuple[str, int]] = set()
_lock = threading.Lock()
_executor: ThreadPoolExecutor | None = None


def ended_windows(shard: Shard, now: int) -> list[int]:
    return sorted(window for window in shard.held if layout.window_end(window) + RELEASE_MARGIN_SECONDS < now)


def old_days(shard: Shard, now: int) -> list[str]:
    cutoff = (date.fromisoformat(day_from_epoch(now)) - timedelta(days=FOLD_AFTER_DAYS)).isoformat()
    return sorted(day for day in shard.charged if day < cutoff)


def needs_tidying(shard: Shard, now: int) -> bool:
    return bool(ended_windows(shard, now) or old_days(shard, now))


def tidy_soon(shard: Shard) -> None:
    """tidy() in a background thread, once at a time per shard (the next request or the sweeper
    finishes it if this process is frozen or stops)."""
    _tidy_soon(shard.account_id, shard.number)


_checked: dict[tuple[str, int], int] = {}  # shard -> the hold window this process last checked it in
CHECKED_LIMIT = 10_000


def check_settled_shard(account_id: str, number: int, window: int) -> None:
    """A shard a request settled on is tidied even when its hold returned no shard (a transaction's):
    once per hold window in each process, tidy() reads it in the background. A busy shard is always
    listed under a window still to come, so the sweeper never finds it; its requests tidy it."""
    target = (account_id, number)
    with _lock:
        if _checked.get(target) == window:
            return
        if len(_checked) >= CHECKED_LIMIT:
            _checked.clear()
        _checked[target] = window
    _tidy_soon(account_id, number)


def _tidy_soon(account_id: str, number: int) -> None:
    global _executor
    target = (account_id, number)
    with _lock:
        if target in _tidying:
            return
        _tidying.add(target)
        if _executor is None:
            _executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="tidy-holds")
    _executor.submit(_tidy_in_background, account_id, number)


def drain(timeout: float = 10.0) -> None:
    """Wait until the background tidies asked for so far are done (tests; a process at rest)."""
    with _lock:
        executor = _executor
    if executor is not None:
        executor.submit(lambda: None).result(timeout)  # one worker: it runs after every earlier one


def _tidy_in_background(account_id: str, number: int) -> None:
    try:
        tidy(account_id, number)
    except Exception:
        logging.getLogger(__name__).warning("tidying a balance shard failed; the sweeper will", exc_info=True)
    finally:
        with _lock:
            _tidying.discard((account_id, number))


def tidy(account_id: str, number: int, now: int | None = None) -> Tidied:
    """Settle the pending charges and release the holds of the shard's ended windows, and fold its
    old days."""
    moment = now_epoch() if now is None else now
    balances = stores().accounts.balances
    done, released = Tidied(), 0
    shard = balances.get(account_id, number)
    if shard is None:
        return done
    for window in ended_windows(shard, moment):
        done += _settle_pending(account_id, number, window)
        for _ in range(5):  # a settlement landing meanwhile changes the amount: read it again
            current = balances.get(account_id, number)
            if current is None or window not in current.held:
                break
            amount = current.held[window]
            if balances.release(current, window, amount, now_iso()):
                released += amount
                break
    for _ in range(5):
        current = balances.get(account_id, number)
        if current is None or balances.fold(current, old_days(current, moment)):
            break
    return done + Tidied(released=released)


RECENT_WINDOWS = 2  # every sweep looks at the last windows again (the index is eventually consistent)
LOOKBACK_WINDOWS = 12 * 24  # and further back, up to a day, to where the last sweep got


def sweep_quiet_shards(now: int | None = None) -> Tidied:
    """Tidy every shard whose latest hold fell in a window that has ended: the last RECENT_WINDOWS,
    and back to where the last sweep got (at most LOOKBACK_WINDOWS)."""
    moment = now_epoch() if now is None else now
    balances = stores().accounts.balances
    last_ended = layout.hold_window(moment - RELEASE_MARGIN_SECONDS) - 1
    swept = _swept_through()  # 0: the first sweep ever
    behind = swept + 1 if swept else last_ended
    first = max(min(behind, last_ended - RECENT_WINDOWS), last_ended - LOOKBACK_WINDOWS)
    done, failed = Tidied(), 0
    for window in range(first, last_ended + 1):
        for account_id, number in balances.quiet_shards(window):
            try:
                done += tidy(account_id, number, moment)
            except Exception:  # one shard that cannot be tidied stops no other's release
                failed += 1
                logging.getLogger(__name__).warning("tidying a balance shard failed", exc_info=True)
        if not failed:  # the next sweep starts again from the first window with a failed shard
            _mark_swept(window)
    if failed:  # the sweeper's run fails (its alarm), after doing all it could
        raise ShardsNotTidied(failed, done)
    return done


class ShardsNotTidied(Exception):
    """Some shards of a window could not be tidied (logged); the rest were (`done`)."""

    def __init__(self, failed: int, done: Tidied) -> None:
        super().__init__(f"{failed} balance shards could not be tidied")
        self.done = done


def _settle_pending(account_id: str, number: int, window: int) -> Tidied:
    from gateway.billing.credits import settle_entry

    credits = stores().credits
    done = Tidied()
    for reservation in credits.pending_in(account_id, number, window):
        entry = settle_entry(reservation, pending_entry(reservation), [credits.pending_done_item(reservation)])
        if entry is not None:
            done += Tidied(1, entry.credits, reservation.amount - entry.credits)
    return done


def pending_entry(reservation: Reservation) -> LedgerEntry:
    """The ledger entry kept with a hold, as it was computed when the answer went out."""
    kept = reservation.pending or {}
    values: dict[str, Any] = {field.name: kept[field.name] for field in fields(LedgerEntry) if field.name in kept}
    values["attempts"] = tuple(values.get("attempts") or ())
    # never more than this reservation holds, whatever the item says
    values["credits"] = min(max(int(values.get("credits") or 0), 0), reservation.amount)
    values["reserved"] = reservation.amount
    return LedgerEntry(**values)


def _swept_through() -> int:
    table = stores().accounts
    answer = table.db.get_item(TableName=table.table, Key=layout.sweeper_key(), ConsistentRead=True)
    item = answer.get("Item") or {}
    return int(item["window"]["N"]) if "window" in item else 0


def _mark_swept(window: int) -> None:
    from gateway.storage.dynamo import DynamoError

    table = stores().accounts
    try:
        table.db.update_item(
            TableName=table.table,
            Key=layout.sweeper_key(),
            UpdateExpression="SET #window = :window",
            ConditionExpression="attribute_not_exists(#window) OR #window < :window",
            ExpressionAttributeNames={"#window": "window"},
            ExpressionAttributeValues={":window": {"N": str(window)}},
        )
    except DynamoError as error:
        if error.code != "ConditionalCheckFailedException":  # another sweep got further: fine
            raise
