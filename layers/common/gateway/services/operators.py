"""Operators in the console: find accounts, top them up, disable and enable them, read the platform's
totals by day. Every action (these, and the control plane's of services/console_admin.py: codes,
models, channels, price groups) is an entry of the operator log (who, what, when, on what), written in
the same transaction as the change itself; an action retried with its Idempotency-Key is done once."""

from __future__ import annotations

import hashlib
import json
import secrets
from collections import defaultdict
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from typing import Any, Generic, TypeVar

from gateway.auth.authenticate import Principal
from gateway.auth.cognito import Identity
from gateway.clock import now_iso
from gateway.config import get_settings
from gateway.errors import Conflict, InvalidRequest, NotFound
from gateway.money import credits_to_micro, display
from gateway.services import accounts, channel_admin, usage
from gateway.services.console import acting_for
from gateway.services.usage import DateRange
from gateway.storage.accounts import Account
from gateway.storage.ledger import LedgerReader
from gateway.storage.operators import (
    DISABLE_ACTION,
    ENABLE_ACTION,
    TOP_UP_ACTION,
    ActionReplayed,
    OperatorRepository,
)
from gateway.storage.stores import stores
from gateway.storage.transactions import AlsoRefused

T = TypeVar("T")
PAGE_SIZE = 25
TOTALS_MAX_DAYS = 93  # a quarter; finished days are cached, so only the first look at a range reads them all
FINAL_AFTER_DAYS = 2  # a day's totals no longer change (late settlements, the sweeper) two days after it
READERS = 8
COUNTED = ("requests", "errors", "prompt_tokens", "completion_tokens", "credits")
DETAIL_CHARS = 500

# Every action an operator takes in the console, as the operator log names it (besides TOP_UP_ACTION,
# DISABLE_ACTION and ENABLE_ACTION on accounts)
MINT_CODES = "mint_codes"
DISABLE_CODE = "disable_code"
ENABLE_CODE = "enable_code"
CREATE_MODEL = "create_model"
UPDATE_MODEL = "update_model"
CREATE_CHANNEL = "create_channel"
UPDATE_CHANNEL = "update_channel"
PUT_GROUP = "put_group"
SET_ACCOUNT_GROUP = "set_account_group"
ACTIONS = frozenset(
    {
        TOP_UP_ACTION, DISABLE_ACTION, ENABLE_ACTION, MINT_CODES, DISABLE_CODE, ENABLE_CODE, CREATE_MODEL,
        UPDATE_MODEL, CREATE_CHANNEL, UPDATE_CHANNEL, PUT_GROUP, SET_ACCOUNT_GROUP,
    }
)  # fmt: skip


@dataclass(frozen=True)
class Recorded(Generic[T]):
    """An operator action as done: what the change answered (None when it was done before: a retried
    submit), and its operator log entry."""

    result: T | None
    action: dict[str, Any]
    replayed: bool = False


def _repository() -> OperatorRepository:
    return stores().operators


def search_accounts(query: str, cursor: str | None) -> dict[str, Any]:
    """An account by its id, or the accounts whose name (a console user's: its e-mail) starts with
    `query`, case-insensitive, by name; every account for an empty query."""
    query = query.strip()
    exact = _account_or_none(query) if query and not cursor else None
    if exact is not None:
        return {"data": [accounts.account_view(exact)], "next_cursor": None}
    try:
        page = _repository().search(query, size=PAGE_SIZE, cursor=cursor)
    except ValueError as error:
        raise InvalidRequest("This cursor is not valid for this listing.", param="cursor") from error
    views = [accounts.account_view(found) for found in map(_account_or_none, page.account_ids) if found]
    return {"data": views, "next_cursor": page.cursor}


def index_accounts() -> dict[str, Any]:
    """Once, after upgrading: list every account created before the directory in it (scans the table)."""
    repository, listed, total = _repository(), 0, 0
    for account_id in LedgerReader(get_settings().table_name).account_ids():
        total += 1
        found = _account_or_none(account_id)
        listed += bool(found and repository.list_in_directory(found))
    return {"accounts": total, "listed": listed}


def account_detail(account_id: str) -> dict[str, Any]:
    """An account, what it spent this month, its price group, and the operator actions on it."""
    account = accounts.get_account(account_id)
    today = date.fromisoformat(DateRange.parse(None, None).end)
    month = usage.usage(
        _operator_principal(account_id),
        DateRange.parse(today.replace(day=1).isoformat(), today.isoformat()),
        model=None,
        key=None,
    )
    return {
        "account": accounts.account_view(account),
        "month": {name: month[name] for name in ("date_from", "date_to", "total_requests", "total_credits")},
        "profile": channel_admin.account_profile(account_id),
        "log": operator_log(account_id, None)["data"],
    }


def top_up(
    operator: Identity, account_id: str, credits: Decimal, note: str, idempotency_key: str | None, trace_id: str
) -> dict[str, Any]:
    return credit(operator, account_id, credits_to_micro(credits), note, idempotency_key, trace_id)


def credit(
    operator: Identity, account_id: str, amount: int, note: str, idempotency_key: str | None, trace_id: str
) -> dict[str, Any]:
    """A top-up of `amount` micro-credits and its log entry, in one transaction: the entry's id comes
    from the Idempotency-Key, so a retry, whatever failed after the commit, credits nothing twice."""
    if amount <= 0:
        raise InvalidRequest("A top-up adds a positive number of credits.", param="credits")
    entry = _entry(operator, TOP_UP_ACTION, account_id, idempotency_key, trace_id, amount=amount, note=note)
    try:
        account = accounts.top_up(account_id, amount, also=[_repository().log_entry(entry)])
    except AlsoRefused:
        return _replayed(entry)
    return {"account": accounts.account_view(account), "action": _action_view(entry), "replayed": False}


def set_disabled(
    operator: Identity, account_id: str, disabled: bool, note: str, idempotency_key: str | None, trace_id: str
) -> dict[str, Any]:
    action = DISABLE_ACTION if disabled else ENABLE_ACTION
    entry = _entry(operator, action, account_id, idempotency_key, trace_id, note=note)
    repository = _repository()
    try:
        repository.set_disabled(accounts.get_account(account_id), disabled, repository.log_entry(entry))
    except ActionReplayed:
        return _replayed(entry)
    account = accounts.get_account(account_id)
    return {"account": accounts.account_view(account), "action": _action_view(entry), "replayed": False}


def recorded(
    operator: Identity,
    action: str,
    write: Callable[[list[dict[str, Any]]], T],
    *,
    idempotency_key: str | None,
    trace_id: str,
    subject: str | None = None,
    account_id: str | None = None,
    amount: int | None = None,
    note: str = "",
    detail: str | None = None,
    request: Any = None,
) -> Recorded[T]:
    """Do an action with its operator log entry: `write` makes the change with the entry's Put among
    the items of its transaction. Done before under the same Idempotency-Key: nothing is written again
    (a different action under that key, or the same one asked with other values, `request`, is a 409)."""
    entry = _entry(operator, action, account_id, idempotency_key, trace_id, amount=amount, note=note)
    entry |= {"subject": subject, "detail": detail[:DETAIL_CHARS] if detail else None}
    if request is not None:
        entry["request_hash"] = request_hash(request)
    repository = _repository()
    done = repository.get_action(entry["action_id"]) if idempotency_key is not None else None
    if done is None:
        try:
            return Recorded(write([repository.log_entry(entry)]), _action_view(entry))
        except (AlsoRefused, ActionReplayed):
            done = repository.get_action(entry["action_id"])
    return Recorded(None, _action_view(_same_action(done, entry)), replayed=True)


def operator_log(account_id: str | None, cursor: str | None) -> dict[str, Any]:
    try:
        page = _repository().log(account_id=account_id, size=PAGE_SIZE, cursor=cursor)
    except ValueError as error:
        raise InvalidRequest("This cursor is not valid for this listing.", param="cursor") from error
    return {"data": [_action_view(entry) for entry in page.entries], "next_cursor": page.cursor}


def platform_totals(dates: DateRange) -> dict[str, Any]:
    """Requests, errors, tokens, credits and active accounts per day over every account: finished days
    from their cache, the others from the daily aggregates of the accounts active on them."""
    first, last = date.fromisoformat(dates.start), date.fromisoformat(dates.end)
    if (last - first).days >= TOTALS_MAX_DAYS:
        raise InvalidRequest(f"Platform totals span at most {TOTALS_MAX_DAYS} days.", param="date_from")
    days = [(first + timedelta(days=offset)).isoformat() for offset in range((last - first).days + 1)]
    repository = _repository()
    by_day = repository.platform_days(dates.start, dates.end)
    missing = [day for day in days if day not in by_day]
    if missing:
        computed = _compute_days(missing)
        final = (date.fromisoformat(DateRange.parse(None, None).end) - timedelta(days=FINAL_AFTER_DAYS)).isoformat()
        for day, totals in computed.items():
            if day <= final:
                repository.save_platform_day(day, totals)
        by_day.update(computed)
    rows = [_day_view(day, by_day[day]) for day in days]
    totals = {name: sum(by_day[day].get(name, 0) for day in days) for name in COUNTED}
    return {
        "date_from": dates.start,
        "date_to": dates.end,
        "total_requests": totals["requests"],
        "total_errors": totals["errors"],
        "total_tokens": totals["prompt_tokens"] + totals["completion_tokens"],
        "total_credits": display(totals["credits"]),
        "by_day": rows,
    }


def _compute_days(days: list[str]) -> dict[str, dict[str, int]]:
    reader, aggregates = LedgerReader(get_settings().table_name), stores().usage
    with ThreadPoolExecutor(READERS) as pool:
        active = dict(zip(days, pool.map(reader.active_accounts, days), strict=True))
        everyone = sorted(set().union(*active.values()))
        pages = pool.map(lambda account: aggregates.daily(account, min(days), max(days)), everyone)
        rows = [row for page in pages for row in page.items]
    totals: dict[str, dict[str, int]] = {day: defaultdict(int) for day in days}
    for row in rows:
        if row["day"] in totals:
            for name in COUNTED:
                totals[row["day"]][name] += int(row.get(name, 0))
    return {day: {**dict(totals[day]), "accounts": len(active[day])} for day in days}


def _day_view(day: str, totals: dict[str, int]) -> dict[str, Any]:
    return {
        "date": day,
        "requests": totals.get("requests", 0),
        "errors": totals.get("errors", 0),
        "tokens": totals.get("prompt_tokens", 0) + totals.get("completion_tokens", 0),
        "credits": display(totals.get("credits", 0)),
        "accounts": totals.get("accounts", 0),
    }


def _entry(
    operator: Identity,
    action: str,
    account_id: str | None,
    idempotency_key: str | None,
    trace_id: str,
    *,
    amount: int | None = None,
    note: str = "",
) -> dict[str, Any]:
    """The operator log's entry of an action. Its id comes from the operator's Idempotency-Key when one
    is sent: a retried submit finds its entry and does nothing twice."""
    action_id = (
        hashlib.sha256(f"{operator.sub}:{idempotency_key}".encode()).hexdigest()[:32]
        if idempotency_key is not None
        else secrets.token_hex(16)
    )
    return {
        "action_id": action_id,
        "at": now_iso(),
        "action": action,
        "account_id": account_id,
        "operator_sub": operator.sub,
        "operator_email": operator.email,
        "amount": amount,
        "note": note or None,
        "trace_id": trace_id,
    }


def _replayed(entry: dict[str, Any]) -> dict[str, Any]:
    done = _same_action(_repository().get_action(entry["action_id"]), entry)
    account = accounts.get_account(entry["account_id"])
    return {"account": accounts.account_view(account), "action": _action_view(done), "replayed": True}


def _same_action(done: dict[str, Any] | None, entry: dict[str, Any]) -> dict[str, Any]:
    """The logged action an Idempotency-Key led to, when it is this same action (asked with the same
    values, when they are known: a subject may be made at the time, as a code batch's default name);
    else a 409."""
    compared = (
        "action",
        "account_id",
        "operator_sub",
        "amount",
        "request_hash" if "request_hash" in entry else "subject",
    )
    same = done is not None and all(done.get(name) == entry.get(name) for name in compared)
    if not same or done is None:
        raise Conflict("This Idempotency-Key was already used for another action.")
    return done


def request_hash(request: Any) -> str:
    """What an action was asked, as a hash (it may hold a channel's key): a retry under the same
    Idempotency-Key must ask the same."""
    return hashlib.sha256(json.dumps(request, sort_keys=True, default=str).encode()).hexdigest()[:32]


def _action_view(entry: dict[str, Any]) -> dict[str, Any]:
    amount = entry.get("amount")
    return {
        "action_id": entry["action_id"],
        "at": entry["at"],
        "action": entry["action"],
        "account_id": entry.get("account_id"),
        "subject": entry.get("subject"),
        "detail": entry.get("detail"),
        "operator": entry.get("operator_email"),
        "credits": display(int(amount)) if amount is not None else None,
        "note": entry.get("note"),
        "trace_id": entry.get("trace_id"),
    }


def _operator_principal(account_id: str) -> Principal:
    return acting_for(account_id, Identity(sub="operator", email="", groups=()))


def _account_or_none(account_id: str) -> Account | None:
    try:
        return accounts.get_account(account_id)
    except NotFound:
        return None
