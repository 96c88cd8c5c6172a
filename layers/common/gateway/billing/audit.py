"""The ledger audit: every balance recomputed from its entries alone, in exact micro-credits.

For each account

    balance == grants - charges - holds        and        granted == grants

grants   its grant entries (the initial credits, top-ups), each written with the balance change;
balance  its balance shards' balances (storage/balances.py), read at one moment with the account;
charges  its shards' charges by day, each added in a request's settlement with its ledger entry;
holds    its shards' holds of requests in flight: those counted in expiry windows, and recorded
         holds, which must equal its open reservation items (image tasks).

And, day by day, the charges the shards booked, the daily usage aggregates and (while they are all
kept) the request traces agree. The aggregates are added from the table's stream a moment after each
settlement (billing/aggregates.py), so a day is compared once it has been over for AGGREGATE_LAG
(or at once, `drained=True`, when the caller has waited for the aggregator); days the shards have
folded away are compared as one sum. A transaction that commits between the audit's reads can make
one reading look off, so the account and its shards are read in one transaction, before and after
the grants (a change in between means read again), and a reading that is off is confirmed by
reading again before it is reported.
"""

from __future__ import annotations

import random
import secrets
import time
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from gateway.billing.holds import FOLD_AFTER_DAYS
from gateway.clock import day_from_epoch, now, now_iso
from gateway.config import get_settings
from gateway.errors import NotFound
from gateway.storage.accounts import INITIAL_GRANT, OPENING_GRANT, Account, AccountRepository
from gateway.storage.ledger import LedgerReader
from gateway.storage.stores import stores

STABLE_READ_ATTEMPTS = 5  # readings whose account item changed meanwhile are read again
CONFIRMATIONS = 2  # an off reading is read again this many times, until two agree
CONFIRM_AFTER_SECONDS = 1.0  # lets the (eventually consistent) reservation index catch up
SETTLE_MARGIN_DAYS = 2  # a trace is settled at most this long after its request began
AGGREGATE_LAG_SECONDS = 900  # a day's aggregates and trace indexes are complete this long after it ends
BEFORE = "before"  # the days the shards folded into one sum


@dataclass(frozen=True)
class DayMismatch:
    """A day (or the folded days before one) whose charges disagree: as the balance shards booked
    them, as the daily usage aggregates add them up, and as the request traces list them."""

    day: str
    aggregates: int  # micro-credits
    traces: int | None = None  # None: not all of the day's traces are kept (or not compared)
    charged: int | None = None  # None: the shards no longer book this day apart

    @property
    def drift(self) -> int:
        """Aggregates minus the traces (or, where the traces are gone, minus the shards' charges)."""
        return self.aggregates - (self.traces if self.traces is not None else self.charged or 0)


@dataclass(frozen=True)
class AuditReport:
    """One account, recomputed from its entries. Amounts in micro-credits."""

    account_id: str
    balance: int  # the shards' balances
    granted: int  # the account item's total of credits ever added
    grants: int  # sum of the grant entries
    charges: int  # sum of the shards' charges
    holds: int  # sum of the shards' holds
    grant_entries: int
    usage_aggregates: int
    open_holds: int  # open reservation items
    trace_days: tuple[str, str]  # first and last day whose traces were checked against the aggregates
    mismatched_days: tuple[DayMismatch, ...] = ()
    recorded: int = 0  # the shards' recorded holds
    reserved: int = 0  # the open reservation items' holds
    compared_through: str = ""  # the last day whose aggregates were compared

    @property
    def expected_balance(self) -> int:
        return self.grants - self.charges - self.holds

    @property
    def balance_drift(self) -> int:
        """Positive: the balance holds more than its entries account for."""
        return self.balance - self.expected_balance

    @property
    def granted_drift(self) -> int:
        return self.granted - self.grants

    @property
    def holds_drift(self) -> int:
        return self.recorded - self.reserved

    @property
    def drifting(self) -> list[str]:
        """The components that disagree: balance, granted, holds, usage:<day>."""
        named = (("balance", self.balance_drift), ("granted", self.granted_drift), ("holds", self.holds_drift))
        found = [name for name, drift in named if drift]
        return found + [f"usage:{mismatch.day}" for mismatch in self.mismatched_days]

    @property
    def balanced(self) -> bool:
        return not self.drifting

    def findings(self) -> tuple[int, int, int, tuple[DayMismatch, ...]]:
        """What the report says is wrong, for comparing two readings."""
        return self.balance_drift, self.granted_drift, self.holds_drift, self.mismatched_days

    def view(self) -> dict[str, Any]:
        return {
            "account_id": self.account_id,
            "balanced": self.balanced,
            "drifting": self.drifting,
            "balance_micro": self.balance,
            "expected_balance_micro": self.expected_balance,
            "balance_drift_micro": self.balance_drift,
            "granted_micro": self.granted,
            "grants_micro": self.grants,
            "granted_drift_micro": self.granted_drift,
            "charges_micro": self.charges,
            "holds_micro": self.holds,
            "recorded_holds_micro": self.recorded,
            "open_reservations_micro": self.reserved,
            "entries": {
                "grants": self.grant_entries,
                "usage_aggregates": self.usage_aggregates,
                "open_holds": self.open_holds,
            },
            "traces_checked": {"from": self.trace_days[0], "to": self.trace_days[1]},
            "aggregates_compared_through": self.compared_through,
            "usage_vs_traces": [
                {
                    "day": mismatch.day,
                    "aggregates_micro": mismatch.aggregates,
                    "traces_micro": mismatch.traces,
                    "charged_micro": mismatch.charged,
                    "drift_micro": mismatch.drift,
                }
                for mismatch in self.mismatched_days
            ],
        }


@dataclass(frozen=True)
class AuditSummary:
    reports: tuple[AuditReport, ...]
    skipped: int = 0  # accounts left for the next run (out of time)

    @property
    def drifting(self) -> list[AuditReport]:
        return [report for report in self.reports if not report.balanced]

    @property
    def abs_balance_drift(self) -> int:
        """Micro-credits by which balances differ from their entries, summed in absolute value."""
        return sum(abs(report.balance_drift) for report in self.reports)

    def view(self) -> dict[str, Any]:
        return {
            "balanced": not self.drifting,
            "audited": len(self.reports),
            "drifting": len(self.drifting),
            "abs_balance_drift_micro": self.abs_balance_drift,
            "skipped": self.skipped,
            "accounts": [report.view() for report in self.drifting],
        }


def audit_account(account_id: str, trace_days: tuple[str, str] | None = None, *, drained: bool = False) -> AuditReport:
    """Recompute one account from its entries; `trace_days` (first, last) are the days whose traces
    are checked against the aggregates (default: every day the traces are still all kept) once the
    aggregator is done with them; `drained`: the caller waited for the aggregator, so today's
    aggregates are complete too.

    Raises NotFound for an unknown account."""
    days = trace_days or retained_days(day_from_epoch(now()))
    report = _reading(account_id, days, drained)
    for _ in range(CONFIRMATIONS):
        if report.balanced:
            return report
        time.sleep(CONFIRM_AFTER_SECONDS)
        again = _reading(account_id, days, drained)
        if again.findings() == report.findings():
            return again
        report = again
    return report


def audit_all(*, drained: bool = False) -> AuditSummary:
    """Every account of the table (operators: it scans the table)."""
    return _audit(_reader().account_ids(), drained=drained)


def audit_recent(deadline: float | None = None) -> AuditSummary:
    """Accounts active today or yesterday (UTC), in random order until `deadline` (epoch seconds);
    traces are checked for one day (recent_trace_day)."""
    today = day_from_epoch(now())
    reader = _reader()
    active = sorted(reader.active_accounts(today) | reader.active_accounts(_shift(today, -1)))
    random.shuffle(active)  # accounts cut off by the deadline are not always the same ones
    checked = recent_trace_day(today)
    return _audit(active, trace_days=(checked, checked), deadline=deadline)


def recent_trace_day(today: str) -> str:
    """Yesterday, a whole day, while its traces are all kept (TraceRetentionDays > 1); else today."""
    yesterday = _shift(today, -1)
    return yesterday if retained_days(today)[0] <= yesterday else today


def record_opening_grant(account_id: str) -> dict[str, Any]:
    """For an account created before grants had entries: record its initial credits as an `opening`
    grant entry, when that alone explains its drift (no initial or opening entry; the balance and the
    granted total above their entries by the same amount; nothing else off). Meant to run once, after
    upgrading; an account that does not fit is left alone and its report returned."""
    accounts = stores().accounts
    report = audit_account(account_id)
    missing = report.granted_drift
    if report.balanced:
        return {"account_id": account_id, "recorded_micro": 0, "reason": "balanced"}
    sources = {grant.source for grant in _reader().grants(account_id)}
    explained = missing > 0 and report.drifting == ["balance", "granted"] and report.balance_drift == missing
    if not explained or sources & {INITIAL_GRANT, OPENING_GRANT}:
        return {"account_id": account_id, "recorded_micro": 0, "reason": "not a missing initial grant", **report.view()}
    account = _account(accounts, account_id)
    if account.granted != report.granted or not accounts.record_opening_grant(
        account, missing, grant_id=secrets.token_hex(6), recorded_at=now_iso()
    ):
        return {"account_id": account_id, "recorded_micro": 0, "reason": "the account changed meanwhile; run again"}
    return {"account_id": account_id, "recorded_micro": missing, "reason": "recorded"}


def record_opening_grants(account_id: str | None = None) -> dict[str, Any]:
    """record_opening_grant for one account, or for every account (scanning the table)."""
    outcomes = [record_opening_grant(target) for target in ([account_id] if account_id else _reader().account_ids())]
    return {
        "recorded": [outcome for outcome in outcomes if outcome["reason"] == "recorded"],
        "left": [outcome for outcome in outcomes if outcome["reason"] not in ("recorded", "balanced")],
        "balanced": sum(outcome["reason"] == "balanced" for outcome in outcomes),
    }


def retained_days(today: str) -> tuple[str, str]:
    """The days all of whose traces are still kept: a trace lives TraceRetentionDays after its settlement."""
    return _shift(today, 1 - get_settings().trace_retention_days), today


def _audit(
    account_ids: Iterable[str],
    trace_days: tuple[str, str] | None = None,
    deadline: float | None = None,
    drained: bool = False,
) -> AuditSummary:
    reports: list[AuditReport] = []
    skipped = 0
    for account_id in account_ids:
        if deadline is not None and now() >= deadline:
            skipped += 1
        else:
            reports.append(audit_account(account_id, trace_days, drained=drained))
    return AuditSummary(tuple(reports), skipped)


def compared_through(drained: bool) -> str:
    """The last day whose aggregates (and trace indexes) are complete."""
    if drained:
        return day_from_epoch(now())
    return _shift(day_from_epoch(now() - AGGREGATE_LAG_SECONDS), -1)


def _reading(account_id: str, trace_days: tuple[str, str], drained: bool) -> AuditReport:
    """One reading of the account and its entries: its books at one moment, between which and a
    second reading of them its grants did not change (or the last of STABLE_READ_ATTEMPTS)."""
    accounts = stores().accounts
    reader = _reader()
    first, last = trace_days
    through = compared_through(drained)
    for _ in range(STABLE_READ_ATTEMPTS):
        before = _account(accounts, account_id)
        grants = reader.grants(account_id)
        charges_by_day, aggregates = reader.daily_charges(account_id)
        holds = reader.open_holds(account_id)
        traced = reader.traced_charges(account_id, _shift(first, -SETTLE_MARGIN_DAYS), min(last, through))
        account = _account(accounts, account_id)
        if (account.granted, account.shards) == (before.granted, before.shards):
            break
    reserved = sum(hold.amount for hold in holds)
    if account.shards:
        charges, held, recorded = _shard_books(account)
        mismatches = _days(account, charges_by_day, traced, (first, min(last, through)), through)
    else:  # an account from before balance shards: its charges are its aggregates, its holds its reservations
        charges, held, recorded = sum(charges_by_day.values()), reserved, reserved
        mismatches = _days(account, charges_by_day, traced, (first, min(last, through)), through)
    return AuditReport(
        account_id=account_id,
        balance=account.balance,
        granted=account.granted,
        grants=sum(grant.amount for grant in grants),
        charges=charges,
        holds=held,
        grant_entries=len(grants),
        usage_aggregates=aggregates,
        open_holds=len(holds),
        trace_days=trace_days,
        mismatched_days=mismatches,
        recorded=recorded,
        reserved=reserved,
        compared_through=through,
    )


def _shard_books(account: Account) -> tuple[int, int, int]:
    """(charges, holds, recorded holds) of the account's shards."""
    shards = account.balance_shards
    return (
        sum(shard.charges for shard in shards),
        sum(shard.holds for shard in shards),
        sum(shard.recorded for shard in shards),
    )


def _days(
    account: Account,
    aggregated: dict[str, int],
    traced: dict[str, int],
    trace_days: tuple[str, str],
    through: str,
) -> tuple[DayMismatch, ...]:
    """The days (up to `through`) on which the shards' charges, the aggregates and, where they are all
    kept, the traces disagree; days the shards folded away, as one sum."""
    first, last = trace_days
    sharded = bool(account.shards)
    cut = _shift(day_from_epoch(now()), -FOLD_AFTER_DAYS)
    booked: dict[str, int] = {}
    folded = 0
    for shard in account.balance_shards:
        folded += shard.charged_before
        for day, amount in shard.charged.items():
            if day < cut:
                folded += amount
            else:
                booked[day] = booked.get(day, 0) + amount
    found = []
    if sharded:
        before = sum(amount for day, amount in aggregated.items() if day < cut)
        if before != folded:
            found.append(DayMismatch(f"{BEFORE}-{cut}", before, None, folded))
    for day in sorted({*aggregated, *traced, *booked}):
        if day > through or (sharded and day < cut):
            continue
        aggregates = aggregated.get(day, 0)
        traces = traced.get(day, 0) if first <= day <= last else None
        charged = booked.get(day, 0) if sharded else None
        if (traces is not None and traces != aggregates) or (charged is not None and charged != aggregates):
            found.append(DayMismatch(day, aggregates, traces, charged))
    return tuple(found)


def _account(accounts: AccountRepository, account_id: str) -> Account:
    account = accounts.get(account_id)
    if account is None:
        raise NotFound(f"No account {account_id}.")
    return account


def _reader() -> LedgerReader:
    return LedgerReader(get_settings().table_name)


def _shift(day: str, days: int) -> str:
    return (date.fromisoformat(day) + timedelta(days=days)).isoformat()
