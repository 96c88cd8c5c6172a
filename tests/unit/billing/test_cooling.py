"""A cool-down lasts its seconds from its (latest) start, for its name only; a full table makes room
by dropping the cool-down that started first (ended ones first), never the newer ones: a client that
makes many keys refused cannot wipe the cool-down of the one it bets with."""

from __future__ import annotations

import pytest

from gateway.billing import cooling
from gateway.billing.cooling import CoolDowns


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> dict[str, float]:
    now = {"now": 500.0}
    monkeypatch.setattr(cooling.time, "monotonic", lambda: now["now"])
    return now


def test_a_cool_down_lasts_its_seconds_for_its_name_only(clock):
    coolings = CoolDowns(60.0)
    coolings.start("a")
    clock["now"] += 59.9
    assert coolings.active("a")
    assert not coolings.active("b")
    coolings.start("a")  # started again: counted from now
    clock["now"] += 59.9
    assert coolings.active("a")
    clock["now"] += 0.1
    assert not coolings.active("a")


def test_a_full_table_drops_the_oldest_and_clear_forgets_all(clock):
    coolings = CoolDowns(60.0, limit=3)
    coolings.start("a")
    clock["now"] += 1
    coolings.start("b")
    coolings.start("c")
    coolings.start("a")  # started again: now the newest
    coolings.start("d")  # full: "b", the oldest, makes room
    assert not coolings.active("b")
    assert coolings.active("a")
    assert coolings.active("c")
    assert coolings.active("d")
    coolings.clear()
    assert not coolings.active("d")
