"""Usage totals and request traces, as a key sees them: an inference key its own traffic, a
management key its account's, nobody another account's. A model filter names a model as requests
do: by id or by any alias (`gpt-4o` counts `openai/gpt-4o`)."""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from gateway import clock
from gateway.auth.authenticate import Principal
from gateway.auth.keys import looks_like_hash
from gateway.config import get_settings
from gateway.errors import InvalidRequest, NotFound
from gateway.money import display, usd
from gateway.storage.stores import stores

MAX_SPAN_DAYS = 366
DEFAULT_SPAN_DAYS = 30
LATENCY_SAMPLE = 1_000  # the newest requests of a range whose latencies stats report
TRACE_FIELDS = (
    "trace_id", "model", "provider", "endpoint", "status", "http_status", "error_code", "prompt_tokens",
    "completion_tokens", "credits", "latency_ms", "upstream_latency_ms", "ttft_ms", "key_prefix", "stream",
    "usage_estimated", "routing_strategy", "created_at", "user", "metadata",
)  # fmt: skip


FIRST_YEAR = 2000  # the earliest year a range may name


@dataclass(frozen=True)
class DateRange:
    start: str  # YYYY-MM-DD, inclusive
    end: str

    @classmethod
    def parse(cls, start: str | None, end: str | None) -> DateRange:
        today = date.fromisoformat(clock.day_from_epoch(clock.now()))  # UTC, as the ledger's days
        last = _day(end, "date_to") if end else today
        first = _day(start, "date_from") if start else last - timedelta(days=DEFAULT_SPAN_DAYS - 1)
        if first > last:
            raise InvalidRequest("date_from is after date_to.", param="date_from")
        if (last - first).days >= MAX_SPAN_DAYS:
            raise InvalidRequest(f"A range spans at most {MAX_SPAN_DAYS} days.", param="date_from")
        return cls(first.isoformat(), last.isoformat())


def usage(principal: Principal, dates: DateRange, *, model: str | None, key: str | None) -> dict[str, Any]:
    rows = _daily_rows(principal, dates, model=model_id(model), key_hash=_scoped_key(principal, key))
    by_model: dict[str, dict[str, int]] = defaultdict(_zero)
    by_day: dict[str, dict[str, int]] = defaultdict(_zero)
    for row in rows:
        for bucket in (by_model[row["model"]], by_day[row["day"]]):
            for name in ("requests", "errors", "prompt_tokens", "completion_tokens", "credits"):
                bucket[name] += int(row.get(name, 0))
    totals = _zero()
    for bucket in by_model.values():
        for name, value in bucket.items():
            totals[name] += value
    return {
        "date_from": dates.start,
        "date_to": dates.end,
        **{f"total_{name}": value for name, value in _summary(totals).items()},
        "by_model": [{"model": name, **_summary(bucket)} for name, bucket in sorted(by_model.items())],
        "by_day": [{"date": day, **_summary(bucket)} for day, bucket in sorted(by_day.items())],
    }


def traces(
    principal: Principal,
    dates: DateRange,
    *,
    status: str | None,
    model: str | None,
    key: str | None,
    page_size: int,
    cursor: str | None,
) -> dict[str, Any]:
    filters = {name: value for name, value in (("status", status), ("model", model_id(model))) if value is not None}
    try:
        page = stores().traces.page(
            account_id=principal.account_id,
            key_hash=_scoped_key(principal, key),
            since_iso=dates.start,
            until_iso=dates.end,
            filters=filters,
            size=page_size,
            cursor=cursor,
        )
    except ValueError as error:
        raise InvalidRequest("This cursor is not valid for this listing.", param="cursor") from error
    return {
        "data": [trace_view(item) for item in page.items],
        "next_cursor": page.cursor,
        "has_more": bool(page.cursor),
    }


def trace(principal: Principal, trace_id: str) -> dict[str, Any]:
    item = stores().traces.get(trace_id) if trace_id.isascii() else None
    visible = (
        item is not None
        and item["account_id"] == principal.account_id
        and (principal.kind == "management" or item["key_hash"] == principal.key_hash)
    )
    if not visible or item is None:
        raise NotFound(f"No trace `{trace_id[:80]}`.")
    return {"data": {**trace_view(item), "attempts": list(item.get("attempts") or [])}}


def stats(principal: Principal, dates: DateRange, *, key: str | None) -> dict[str, Any]:
    """Counts, tokens and credits from the daily aggregates (cost grows with days x models x keys, not
    with traffic); latencies from the newest `LATENCY_SAMPLE` requests of the range (one bounded read)."""
    key_hash = _scoped_key(principal, key)
    totals = _zero()
    for row in _daily_rows(principal, dates, model=None, key_hash=key_hash):
        for name in totals:
            totals[name] += int(row.get(name, 0))
    newest = stores().traces.page(
        account_id=principal.account_id,
        key_hash=key_hash,
        since_iso=dates.start,
        until_iso=dates.end,
        filters={},
        size=LATENCY_SAMPLE,
        cursor=None,
        read_limit=LATENCY_SAMPLE,
    )
    latencies = sorted(int(item["latency_ms"]) for item in newest.items)
    count, credits = totals["requests"], totals["credits"]
    return {
        "date_from": dates.start,
        "date_to": dates.end,
        "total_requests": count,
        "success_count": count - totals["errors"],
        "error_count": totals["errors"],
        "total_tokens": totals["prompt_tokens"] + totals["completion_tokens"],
        "total_credits": display(credits),
        "total_cost_usd": _usd(credits),
        "avg_latency_ms": round(sum(latencies) / len(latencies)) if latencies else 0,  # whole ms, as poeti's
        "p50_latency_ms": _percentile(latencies, 50),
        "p95_latency_ms": _percentile(latencies, 95),
        "latency_sample_size": len(latencies),
        "avg_credits_per_request": display(credits // count) if count else 0,
        "avg_cost_per_request": round(_usd(credits) / count, 8) if count else 0,
    }


def trace_total(
    principal: Principal, dates: DateRange, *, status: str | None, model: str | None, key: str | None
) -> int | None:
    """How many traces a listing's filters match over its whole range, from the daily aggregates (one
    bounded read, not a count of the traces). The aggregates count expired requests as errors: an
    `error` total includes them, and an `expired` one is None."""
    if status == "expired":
        return None
    rows = _daily_rows(principal, dates, model=model_id(model), key_hash=_scoped_key(principal, key))
    requests = sum(int(row.get("requests", 0)) for row in rows)
    errors = sum(int(row.get("errors", 0)) for row in rows)
    return {"error": errors, "success": requests - errors}.get(status or "", requests)


def model_id(name: str | None) -> str | None:
    """The catalog id a filter's name resolves to (aliases included); other names as given."""
    if name is None:
        return None
    from gateway.catalog.registry import get_catalog  # loaded for a model filter only: not at a cold start

    entry = get_catalog().resolve(name)
    return entry.id if entry is not None else name


def trace_view(item: dict[str, Any]) -> dict[str, Any]:
    view = {name: item.get(name) for name in TRACE_FIELDS}
    view["credits"] = display(int(item["credits"]))
    view["cost_usd"] = _usd(int(item["credits"]))
    return view


def _daily_rows(
    principal: Principal, dates: DateRange, *, model: str | None, key_hash: str | None
) -> list[dict[str, Any]]:
    page = stores().usage.daily(principal.account_id, dates.start, dates.end)
    return [
        row
        for row in page.items
        if (model is None or row["model"] == model) and (key_hash is None or row["key_hash"] == key_hash)
    ]


def _scoped_key(principal: Principal, key: str | None) -> str | None:
    """The key filter this caller may use: an inference key is always limited to itself."""
    if principal.kind != "management":
        if key not in (None, principal.key_hash, principal.key_prefix):
            raise NotFound("An inference key sees only its own usage.")
        return principal.key_hash
    if key is None:
        return None
    record = stores().keys.get(key) if looks_like_hash(key) else None
    if record is None or record.account_id != principal.account_id:
        raise NotFound(f"No key `{key[:64]}` in this account.")
    return key


def _zero() -> dict[str, int]:
    return {"requests": 0, "errors": 0, "prompt_tokens": 0, "completion_tokens": 0, "credits": 0}


def _summary(bucket: dict[str, int]) -> dict[str, Any]:
    return {
        "requests": bucket["requests"],
        "errors": bucket["errors"],
        "prompt_tokens": bucket["prompt_tokens"],
        "completion_tokens": bucket["completion_tokens"],
        "tokens": bucket["prompt_tokens"] + bucket["completion_tokens"],
        "credits": display(bucket["credits"]),
        "credits_micro": bucket["credits"],
        "cost_usd": _usd(bucket["credits"]),
    }


def _usd(micro: int) -> float:
    return usd(micro, get_settings().credit_price_usd)


def _percentile(ordered: list[int], percent: int) -> int:
    """Nearest-rank percentile."""
    if not ordered:
        return 0
    return ordered[max(math.ceil(percent / 100 * len(ordered)) - 1, 0)]


def _day(value: str, param: str) -> date:
    try:
        day = date.fromisoformat(value) if len(value) == 10 else _bad_day(param)
    except ValueError:
        return _bad_day(param)
    return day if day.year >= FIRST_YEAR else _bad_day(param)  # nothing before; and no date arithmetic underflows


def _bad_day(param: str) -> date:
    raise InvalidRequest(f"`{param}` must be a date like 2026-11-22.", param=param)
