"""Operators' catalog changes against a scripted control repository: what each change writes (the
first one seeds the shipped catalog with it), retries on a concurrent change, refusals that write
nothing, and JSON merge patches."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import pytest

from gateway.errors import Conflict, InvalidRequest
from gateway.services import catalog_admin
from gateway.services.catalog_admin import merge_patch
from gateway.storage import stores
from gateway.storage.control import Change, ControlItems, Spec, Stamp, VersionMoved

pytestmark = pytest.mark.usefixtures("fixture_catalog")


@dataclass
class ScriptedControl:
    """Holds the partition in memory; `collisions` VersionMoved answers come before writes succeed."""

    items: ControlItems = field(default_factory=lambda: ControlItems(0))
    writes: list[tuple[int, Change]] = field(default_factory=list)
    collisions: int = 0

    def version(self, *, consistent: bool = False) -> int:
        return self.items.version

    def load(self) -> ControlItems:
        return self.items

    def replace(self, expected: Stamp, change: Change, at_iso: str, *, whole: Sequence[Spec]) -> int:
        if self.collisions:
            self.collisions -= 1
            raise VersionMoved("another change")
        assert expected == self.items.stamp
        self.writes.append((expected.version, change))
        gone = set(change.deletes)
        kept = {(s.kind, s.name): s for s in self.items.specs if (s.kind, s.name) not in gone}
        kept.update({(s.kind, s.name): s for s in change.puts})
        assert sorted(kept.values(), key=repr) == sorted(whole, key=repr)  # what the change makes
        self.items = ControlItems(expected.version + 1, tuple(kept.values()))
        return expected.version + 1


@pytest.fixture
def control() -> Iterator[ScriptedControl]:
    scripted = ScriptedControl()
    stores.use(stores.Stores.on("unit-tests").replacing(control=scripted))
    yield scripted
    stores.use(None)


def model(model_id: str, **fields: Any) -> dict[str, Any]:
    return {
        "id": model_id, "display_name": model_id, "owned_by": "ops", "context_length": 1000,
        "max_output_tokens": 10, "pricing": {"input": "1", "output": "2"},
        "providers": [{"provider": "fake", "model": "echo"}], **fields,
    }  # fmt: skip


def test_the_first_change_writes_the_shipped_catalog_with_it(control):
    catalog_admin.create_model(model("ops/one"))
    ((expected, change),) = control.writes
    names = {(spec.kind, spec.name) for spec in change.puts}
    assert expected == 0
    assert {("MODEL", "test/echo"), ("PROVIDER", "fake"), ("MODEL", "ops/one")} <= names
    assert control.items.version == 1


def test_later_changes_write_only_what_changed_and_no_model_moves(control):
    catalog_admin.seed()
    positions = {spec.name: spec.position for spec in control.items.of("MODEL")}
    catalog_admin.update_model("test/echo", {"pricing": {"input": "0.7"}})
    catalog_admin.delete_model("test/no-usage")
    catalog_admin.create_model(model("ops/two"))
    (_, priced), (_, deleted), (_, created) = control.writes[1:]
    assert [(spec.name, spec.spec["pricing"]["input"]) for spec in priced.puts] == [("test/echo", "0.7")]
    assert (deleted.puts, deleted.deletes) == ([], [("MODEL", "test/no-usage")])
    (new,) = created.puts
    assert new.position == max(positions.values()) + 1
    assert all(spec.position == positions[spec.name] for spec in control.items.of("MODEL") if spec.name in positions)


def test_a_change_colliding_with_another_is_drafted_again_and_one_that_keeps_colliding_is_a_409(control):
    catalog_admin.seed()
    control.collisions = 2
    catalog_admin.update_model("test/echo", {"enabled": False})
    assert control.items.version == 2
    control.collisions = catalog_admin.WRITE_ATTEMPTS
    with pytest.raises(Conflict):
        catalog_admin.update_model("test/echo", {"enabled": True})


@pytest.mark.parametrize(
    "change",
    [
        lambda: catalog_admin.create_model(model("ops/x", aliases=["echo"])),
        lambda: catalog_admin.create_model(model("ops/x", providers=[{"provider": "nope", "model": "m"}])),
        lambda: catalog_admin.update_model("test/echo", {"pricing": {"output": "-2"}}),
        lambda: catalog_admin.delete_provider("fake"),  # its models still name it
        lambda: catalog_admin.put_provider("Not A Name", {"kind": "openai"}),
    ],
)
def test_a_change_that_would_break_the_catalog_writes_nothing(control, change):
    with pytest.raises(InvalidRequest):
        change()
    assert control.writes == []


def test_merge_patches_merge_objects_remove_nulls_and_replace_the_rest():
    spec = {"pricing": {"input": "1", "output": "2", "tiers": [{"above_prompt_tokens": 9}]}, "aliases": ["a"]}
    patched = merge_patch(spec, {"pricing": {"input": "3", "tiers": None}, "aliases": ["b"], "enabled": False})
    assert patched == {"pricing": {"input": "3", "output": "2"}, "aliases": ["b"], "enabled": False}
    assert spec["pricing"]["input"] == "1"  # the draft's spec is not changed in place


def test_a_merge_patch_nested_as_deep_as_allowed_merges_and_one_level_more_is_refused():
    def nested(levels: int) -> Any:
        patch: Any = "x"
        for level in range(levels):
            patch = {"a": patch} if level % 2 else [patch]
        return patch

    deepest = nested(catalog_admin.MAX_PATCH_DEPTH)
    assert merge_patch({}, deepest) == deepest
    with pytest.raises(InvalidRequest):
        merge_patch({}, nested(catalog_admin.MAX_PATCH_DEPTH + 1))
    with pytest.raises(InvalidRequest):
        merge_patch({}, nested(100_000))  # refused before it is walked: no RecursionError


def test_a_stored_spec_round_trips_through_the_catalog_model(control):
    """What `draft()` reads back is what was written (decimals as the strings they were given)."""
    catalog_admin.create_model(
        model("ops/exact", pricing={"input": "0.000123", "output": "12.5", "credit_cost": "0.01"})
    )
    stored = next(spec for spec in control.items.specs if spec.name == "ops/exact")
    assert stored.spec["pricing"] == {"input": "0.000123", "output": "12.5", "request": "0.01"}


def test_the_catalogs_defaults_are_seeded_kept_and_guarded(control):
    """The shipped catalog's `defaults` (the default image model) go into the table with the rest, the
    functions load them back, and a change that would leave the default pointing nowhere is refused."""
    from gateway.catalog import live
    from gateway.config import get_settings

    catalog_admin.seed()
    (defaults,) = control.items.of("DEFAULTS")
    assert defaults.spec == {"image": "test/image"}
    assert live.build(control.items, get_settings().catalog_path).catalog.defaults.image == "test/image"
    with pytest.raises(InvalidRequest):
        catalog_admin.update_model("test/image", {"enabled": False})
    assert catalog_admin.export()["defaults"] == {"image": "test/image"}
