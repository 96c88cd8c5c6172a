"""Key-limit periods (resetting at 00:00 UTC; weeks start on Monday) and rate-limit windows."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

RATE_WINDOW_SECONDS = 60
LIFETIME = "ALL"


def period_of(limit_reset: str | None, epoch: float) -> str:
    """The id of the limit period containing `epoch`: D2026-11-22, W2026-11-16 (its Monday), M2026-11."""
    moment = datetime.fromtimestamp(epoch, UTC)
    if limit_reset == "daily":
        return f"D{moment:%Y-%m-%d}"
    if limit_reset == "weekly":
        return f"W{moment.date() - timedelta(days=moment.weekday()):%Y-%m-%d}"
    if limit_reset == "monthly":
        return f"M{moment:%Y-%m}"
    return LIFETIME


def period_end(limit_reset: str | None, epoch: float) -> int | None:
    """Epoch seconds at which the period containing `epoch` ends (None: never)."""
    day = datetime.fromtimestamp(epoch, UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    if limit_reset == "daily":
        end = day + timedelta(days=1)
    elif limit_reset == "weekly":
        end = day + timedelta(days=7 - day.weekday())
    elif limit_reset == "monthly":
        end = (day.replace(day=1) + timedelta(days=32)).replace(day=1)
    else:
        return None
    return int(end.timestamp())


def rate_window(epoch: float) -> int:
    return int(epoch) // RATE_WINDOW_SECONDS


def seconds_to_next_window(epoch: float) -> int:
    return RATE_WINDOW_SECONDS - int(epoch) % RATE_WINDOW_SECONDS
