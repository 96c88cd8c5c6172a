"""A cool-down lasts its seconds from its (latest) start, for its name only; a full table is emptied
rather than grown (forgetting a cool-down only lets a bet through that the hold still checks)."""

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


def test_a_full_table_is_emptied_and_clear_forgets_all(clock):
    coolings = CoolDowns(60.0, limit=2)
    coolings.start("a")
    coolings.start("b")
    coolings.start("b")  # a name already there does not empty it
    assert coolings.active("a")
    coolings.start("c")
    assert not coolings.active("a")
    assert coolings.active("c")
    coolings.clear()
    assert not coolings.active("c")
