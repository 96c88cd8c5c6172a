"""The live catalog's cache: what a request reads of the table, and when. A scripted control
repository counts every read; the clock is moved by hand."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest

from gateway.catalog import live
from gateway.catalog.registry import load_catalog
from gateway.errors import ServiceUnavailable
from gateway.storage import stores
from gateway.storage.control import ControlItems, Spec
from tests.conftest import TEST_CATALOG


def items(version: int, echo_input: str = "0.5") -> ControlItems:
    """The test catalog as the table would hold it at `version`, test/echo's input price set."""
    catalog = load_catalog(TEST_CATALOG)
    specs = [Spec("PROVIDER", name, config.model_dump(mode="json")) for name, config in catalog.providers.items()]
    for position, entry in enumerate(catalog.models):
        spec = entry.model_dump(mode="json")
        if entry.id == "test/echo":
            spec["pricing"]["input"] = echo_input
        specs.append(Spec("MODEL", entry.id, spec, position))
    return ControlItems(version, tuple(specs))


@dataclass
class ScriptedControl:
    """The table's catalog: `current` is what it holds; reads are counted; `gate` holds version reads."""

    current: ControlItems
    version_reads: int = 0
    loads: int = 0
    gate: threading.Event = field(default_factory=threading.Event)
    fail: bool = False

    def version(self, *, consistent: bool = False) -> int:
        self.version_reads += 1
        self.gate.wait(5)
        if self.fail:
            raise ConnectionError("DynamoDB unreachable")
        return self.current.version

    def load(self) -> ControlItems:
        self.loads += 1
        if self.fail:
            raise ConnectionError("DynamoDB unreachable")
        return self.current


@dataclass
class Clock:
    now: float = 1_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def table(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[ScriptedControl, Clock]]:
    from gateway import caches

    monkeypatch.setenv("GATEWAY_CATALOG", str(TEST_CATALOG))
    monkeypatch.setenv("RUNTIME_CATALOG", "true")
    monkeypatch.setenv("CATALOG_CHECK_SECONDS", "5")
    monkeypatch.setenv("CATALOG_MAX_STALE_SECONDS", "15")
    caches.reset()
    control, clock = ScriptedControl(items(3)), Clock()
    control.gate.set()
    stores.use(stores.Stores.on("unit-tests").replacing(control=control))
    monkeypatch.setattr(live, "_clock", clock)
    yield control, clock
    stores.use(None)
    monkeypatch.undo()
    caches.reset()


def echo_price(snapshot: live.Snapshot) -> str:
    entry = snapshot.catalog.resolve("test/echo")
    assert entry is not None
    return str(entry.pricing.input)


def settle_background() -> None:
    for thread in threading.enumerate():
        if thread.name == "catalog-refresh":
            thread.join(5)


def test_a_cold_process_loads_the_catalog_once(table):
    control, _ = table
    first = live.snapshot()
    assert (first.version, control.version_reads, control.loads) == (3, 0, 1)
    assert live.snapshot() is first
    assert (control.version_reads, control.loads) == (0, 1)


def test_requests_within_the_check_interval_read_nothing(table):
    control, clock = table
    live.snapshot()
    for _ in range(100):
        clock.now += 0.04  # 4 seconds of traffic
        live.snapshot()
    assert (control.version_reads, control.loads) == (0, 1)


def test_a_change_is_read_off_the_request_path_and_served_to_the_next_requests(table):
    """Given a process that checked 6 s ago (past CATALOG_CHECK_SECONDS) and a slow table
    When a request asks for the catalog
    Then it gets the snapshot it had at once, while one background check reads the stamp and the
    changed catalog, which the next requests get."""
    control, clock = table
    assert echo_price(live.snapshot()) == "0.5"
    control.current = items(4, echo_input="0.9")
    control.gate.clear()  # the table answers only when the test lets it
    clock.now += 6
    started = time.monotonic()
    served = [live.snapshot() for _ in range(20)]  # concurrent requests meanwhile start no second check
    assert time.monotonic() - started < 1
    assert {snapshot.version for snapshot in served} == {3}
    control.gate.set()
    settle_background()
    assert (control.version_reads, control.loads) == (1, 2)
    assert echo_price(live.snapshot()) == "0.9"


def test_an_unchanged_stamp_reloads_nothing(table):
    control, clock = table
    live.snapshot()
    clock.now += 6
    live.snapshot()
    settle_background()
    assert (control.version_reads, control.loads) == (1, 1)


def test_a_process_idle_past_the_stale_limit_checks_before_answering(table):
    control, clock = table
    live.snapshot()
    control.current = items(5, echo_input="2")
    clock.now += 16
    assert live.must_wait()
    assert echo_price(live.snapshot()) == "2"  # no request is served a catalog checked 15 s ago or more


def test_a_failed_check_keeps_the_last_catalog_and_a_cold_one_is_a_503_to_retry(table):
    control, clock = table
    first = live.snapshot()
    control.fail = True
    clock.now += 20
    assert live.snapshot() is first
    live.reset()
    with pytest.raises(ServiceUnavailable) as unavailable:
        live.snapshot()
    assert (unavailable.value.status, unavailable.value.headers) == (503, {"Retry-After": "1"})
    assert isinstance(unavailable.value.__cause__, ConnectionError)


def test_a_cold_process_given_a_catalog_it_cannot_load_is_a_503_not_a_crash(table):
    """A stored catalog these functions cannot load (a spec a newer release wrote, say): no request of a
    cold process is a 500; each is a 503 to retry, and the catalog is read again for the next."""
    control, _ = table
    live.reset()
    control.current = items(7, echo_input="-1")  # a negative price: no catalog loads it
    for _ in range(2):
        with pytest.raises(ServiceUnavailable):
            live.snapshot()
    control.current = items(8)
    assert live.snapshot().version == 8


def test_a_pinned_snapshot_stays_the_same_through_a_request(table):
    control, clock = table
    with live.pinned() as pinned:
        control.current = items(6, echo_input="7")
        clock.now += 16
        assert live.snapshot() is pinned
        from gateway.catalog.registry import get_catalog

        assert get_catalog() is pinned.catalog
    assert live.snapshot().version == 6


def test_without_the_runtime_catalog_the_shipped_file_is_the_catalog(table, monkeypatch):
    control, _ = table
    monkeypatch.setenv("RUNTIME_CATALOG", "false")
    from gateway.config import get_settings

    get_settings.cache_clear()
    assert live.snapshot().version == 0
    assert (control.version_reads, control.loads) == (0, 0)


def test_a_write_that_must_not_act_on_a_stale_catalog_checks_the_stamp_at_once(table):
    control, clock = table
    live.snapshot()
    control.current = items(7, echo_input="3")
    clock.now += 1  # well within the check interval: requests are served the old catalog
    assert live.snapshot().version == 3
    assert live.checked().version == 7
    assert (control.version_reads, control.loads) == (1, 2)
