"""Wall-clock helpers in one place, so tests and storage agree on formats."""

from __future__ import annotations

import time
from datetime import UTC, datetime


def now() -> float:
    """Seconds since the epoch. Everything that dates money or limits reads the clock here."""
    return time.time()


def now_epoch() -> int:
    return int(now())


def iso_from_epoch(epoch: float) -> str:
    """Millisecond precision, UTC, sortable: 2026-11-22T02:28:37.123Z."""
    return datetime.fromtimestamp(epoch, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def now_iso() -> str:
    return iso_from_epoch(now())


def day_from_epoch(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%d")
