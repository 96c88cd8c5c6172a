"""The catalog a warm process serves, kept current without a read on the request path.

The table's `CATALOG#VERSION` item is the stamp every catalog change bumps. A process keeps its last
snapshot and the time it last compared stamps:

- checked less than CATALOG_CHECK_SECONDS ago: served as is, no I/O;
- older: served as is, and one background thread compares the stamp (a GetItem of a few bytes) and,
  only when it moved, reloads the partition (one Query) and swaps the snapshot in for later requests;
- older than CATALOG_MAX_STALE_SECONDS (a process idle that long), or none yet (a cold start): the
  request waits for that check.

So busy processes see a change within CATALOG_CHECK_SECONDS plus one read, and no request of theirs
pays for it; a request may pin the snapshot it started with (`pinned()`), so its hold and its charge are
priced on one version. With RUNTIME_CATALOG unset, the shipped models.yaml is the catalog, as before.
"""

from __future__ import annotations

import contextvars
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from gateway.catalog.registry import Catalog, load_catalog
from gateway.catalog.runtime import Channel, ControlSettings, PriceGroup, Snapshot
from gateway.config import get_settings
from gateway.errors import ServiceUnavailable
from gateway.observability import logger
from gateway.storage.control import ControlItems
from gateway.storage.stores import stores

_clock = time.monotonic  # tests move time with this
_pin: contextvars.ContextVar[Snapshot | None] = contextvars.ContextVar("catalog_snapshot", default=None)


@dataclass
class _State:
    snapshot: Snapshot | None = None
    checked_at: float = 0.0
    refreshing: bool = False


_state = _State()
_lock = threading.Lock()  # one reader of the table at a time (a cold start's burst reads once)
_starting = threading.Lock()  # guards `refreshing`: one background check at a time


def snapshot() -> Snapshot:
    """The catalog to serve now (see the module's docstring for when this reads the table)."""
    pinned = _pin.get()
    if pinned is not None:
        return pinned
    settings = get_settings()
    if not settings.runtime_catalog:
        return shipped(settings.catalog_path)
    current, age = _state.snapshot, _clock() - _state.checked_at
    if current is None or age >= settings.catalog_max_stale_seconds:
        return _check()
    if age >= settings.catalog_check_seconds:
        _check_in_background()
    return current


def checked() -> Snapshot:
    """The catalog as of now, for writes that must not act on a stale one (an own key registered for a
    provider added a second ago): the stamp is compared at once (one GetItem), whatever its age."""
    if not get_settings().runtime_catalog:
        return snapshot()
    return _check(force=True)


def must_wait() -> bool:
    """Whether `snapshot()` would read the table before answering (cold, or idle too long): async
    callers do that in a worker thread."""
    settings = get_settings()
    if _pin.get() is not None or not settings.runtime_catalog:
        return False
    return _state.snapshot is None or _clock() - _state.checked_at >= settings.catalog_max_stale_seconds


@contextmanager
def pinned(given: Snapshot | None = None) -> Iterator[Snapshot]:
    """Every `snapshot()` (and `get_catalog()`) inside answers this same snapshot (`given`, or the
    current one)."""
    current = given or snapshot()
    token = _pin.set(current)
    try:
        yield current
    finally:
        _pin.reset(token)


@lru_cache(maxsize=4)
def shipped(path: Path) -> Snapshot:
    return Snapshot(version=0, catalog=load_catalog(path))


def build(items: ControlItems, seed: Path) -> Snapshot:
    """A snapshot of the table's items (version 0, nothing written yet: the shipped catalog)."""
    if items.version == 0:
        return Snapshot(version=0, catalog=load_catalog(seed))
    catalog = Catalog.model_validate(
        {
            "providers": {spec.name: spec.spec for spec in items.of("PROVIDER")},
            "models": [spec.spec for spec in items.of("MODEL")],
            "defaults": next((spec.spec for spec in items.of("DEFAULTS")), {}),
        }
    )
    settings = next((ControlSettings.model_validate(s.spec) for s in items.of("SETTINGS")), ControlSettings())
    return Snapshot(
        version=items.version,
        catalog=catalog,
        channels=tuple(Channel.model_validate(spec.spec) for spec in items.of("CHANNEL")),
        groups={spec.name: PriceGroup.model_validate(spec.spec) for spec in items.of("GROUP")},
        settings=settings,
    )


def reset() -> None:
    with _lock:
        _state.snapshot, _state.checked_at, _state.refreshing = None, 0.0, False
    shipped.cache_clear()


def _check(*, force: bool = False) -> Snapshot:
    """Compare the stamp, reload on a change; under the lock, so a burst reads once. A failure keeps
    the last snapshot (and is retried at the next check); with none yet (a cold process), the request
    is a 503 to retry (the store unreachable, or a catalog these functions cannot load)."""
    with _lock:
        settings = get_settings()
        current = _state.snapshot
        if not force and current is not None and _clock() - _state.checked_at < settings.catalog_check_seconds:
            return current  # another thread just did it
        try:
            fresh = _read(current)
        except Exception as error:
            if current is None:
                logger().exception("the catalog could not be loaded", extra={"error_type": type(error).__name__})
                raise ServiceUnavailable(
                    "The gateway's model catalog could not be loaded; retry shortly.", headers={"Retry-After": "1"}
                ) from error
            logger().exception("the catalog could not be refreshed; serving the last one")
            fresh = current
        _state.snapshot, _state.checked_at = fresh, _clock()
        return fresh


def _read(current: Snapshot | None) -> Snapshot:
    repository = stores().control
    if current is not None and repository.version() == current.version:
        return current
    fresh = build(repository.load(), get_settings().catalog_path)
    if current is None or fresh.version != current.version:
        logger().info("catalog loaded", extra={"catalog_version": fresh.version})
    return fresh


def _check_in_background() -> None:
    with _starting:  # never `_lock`: a check in progress holds it, and a request must not wait for one
        if _state.refreshing:
            return
        _state.refreshing = True

    def run() -> None:
        try:
            _check()
        finally:
            _state.refreshing = False

    threading.Thread(target=run, name="catalog-refresh", daemon=True).start()
