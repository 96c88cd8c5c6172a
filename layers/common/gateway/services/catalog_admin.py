"""Operators change the runtime catalog: models and their prices, providers, and (services/
channel_admin.py) channels, price groups and settings, while traffic flows.

Every change is made on a draft of the whole catalog, validated as the functions will load it, and
written with the version bump in one transaction, conditioned on the version it was drafted from (a
concurrent change makes it draft again). The first change seeds the table from the shipped
models.yaml, in the same transaction. Callable without HTTP: the admin API, gateway-admin, a console.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

from pydantic import BaseModel

from gateway.catalog import live
from gateway.catalog.registry import Catalog, Defaults, ModelEntry, ProviderConfig, load_catalog
from gateway.catalog.runtime import Channel, ControlSettings, PriceGroup
from gateway.clock import now_iso
from gateway.config import get_settings
from gateway.errors import Conflict, InvalidRequest, NotFound
from gateway.services.catalog_checks import (
    PROVIDER_NAME,
    SECTIONS,
    check_change,
    check_channel,
    check_secret_readable,
    parsed,
)
from gateway.storage.control import Change, Kind, Spec, Stamp, VersionMoved
from gateway.storage.layout import CATALOG_PK
from gateway.storage.stores import stores

T = TypeVar("T")
WRITE_ATTEMPTS = 5
MAX_PATCH_DEPTH = 32  # a spec nests a few levels (pricing.tiers[0].input): far more is no spec


@dataclass
class Draft:
    """The whole catalog as specs (plain JSON values), to be edited and written as one change."""

    version: int
    home: str = CATALOG_PK  # the partition its items are in (storage/control.py)
    models: dict[str, dict[str, Any]] = field(default_factory=dict)  # in listing order
    providers: dict[str, dict[str, Any]] = field(default_factory=dict)
    channels: dict[str, dict[str, Any]] = field(default_factory=dict)
    groups: dict[str, dict[str, Any]] = field(default_factory=dict)
    settings: dict[str, dict[str, Any]] = field(default_factory=dict)  # "" -> the settings, once set
    defaults: dict[str, dict[str, Any]] = field(default_factory=dict)  # "" -> the catalog's defaults
    positions: dict[str, int] = field(default_factory=dict)  # models' places in listings, as stored

    def section(self, kind: Kind) -> dict[str, dict[str, Any]]:
        found: dict[str, dict[str, Any]] = getattr(self, SECTIONS[kind])
        return found

    def specs(self) -> dict[tuple[Kind, str], Spec]:
        """Every spec as stored; a new model goes after the others (no other model moves)."""
        found = {}
        last = max(self.positions.values(), default=-1)
        for kind in SECTIONS:
            for name, spec in self.section(kind).items():
                position = 0
                if kind == "MODEL":
                    if name not in self.positions:
                        last += 1
                        self.positions[name] = last
                    position = self.positions[name]
                found[(kind, name)] = Spec(kind, name, spec, position)
        return found


def draft() -> Draft:
    """The catalog as the table has it (the shipped one when it has none yet), consistently read."""
    items = stores().control.load()
    if items.version == 0:
        shipped = load_catalog(get_settings().catalog_path)
        return Draft(
            version=0,
            models={entry.id: _dump(entry) for entry in shipped.models},
            providers={name: _dump(config) for name, config in shipped.providers.items()},
            defaults={"": _dump(shipped.defaults)},
        )
    loaded = Draft(version=items.version, home=items.home)
    for kind in SECTIONS:
        loaded.section(kind).update((spec.name, spec.spec) for spec in items.of(kind))
    loaded.positions = {spec.name: spec.position for spec in items.of("MODEL")}
    return loaded


def change(edit: Callable[[Draft], T], *, also: Sequence[dict[str, Any]] = ()) -> tuple[T, int]:
    """Apply `edit` to a fresh draft, validate the result and write what it changed; (what `edit`
    answered, the new catalog version). A nothing-changing edit writes nothing but `also`: items
    written in the same transaction (the operator log's entry; AlsoRefused when it is refused)."""
    for _ in range(WRITE_ATTEMPTS):
        before, result, old, new = _drafted(edit)
        unseeded = before.version == 0
        puts = [spec for key, spec in new.items() if unseeded or old.get(key) != spec]
        deletes = [key for key in old if key not in new and not unseeded]
        if not puts and not deletes and not also:
            return result, before.version
        stamp, written = Stamp(before.version, before.home), Change(puts, deletes, list(also))
        try:
            version = stores().control.replace(stamp, written, now_iso(), whole=list(new.values()))
        except VersionMoved:
            continue
        return result, version
    raise Conflict("The catalog kept changing while this change was made; retry.")


def tried(edit: Callable[[Draft], Any]) -> None:
    """What `change(edit)` would refuse, refused without writing anything."""
    _drafted(edit)


def _drafted(edit: Callable[[Draft], T]) -> tuple[Draft, T, dict[tuple[Kind, str], Spec], dict[tuple[Kind, str], Spec]]:
    """`edit` applied to a fresh draft and checked: (the draft before, what `edit` answered, the specs
    before and after)."""
    before = draft()
    after = copy.deepcopy(before)
    result = edit(after)
    validate(after)
    old, new = before.specs(), after.specs()
    for key, spec in new.items():
        if old.get(key) != spec:
            check_change(spec, old.get(key))
    return before, result, old, new


def validate(candidate: Draft) -> None:
    """The catalog the functions would load from these specs, or a 400 saying what is wrong with it."""
    catalog = parsed(
        Catalog,
        {
            "providers": candidate.providers,
            "models": list(candidate.models.values()),
            "defaults": candidate.defaults.get("", {}),
        },
        "",
    )
    for name, spec in candidate.channels.items():
        channel = parsed(Channel, spec, f"channels.{name}")
        check_channel(channel, catalog.providers, catalog.models)
    for name, spec in candidate.groups.items():
        parsed(PriceGroup, spec, f"groups.{name}")
    for spec in candidate.settings.values():
        parsed(ControlSettings, spec, "settings")
    clash = set(candidate.channels) & set(candidate.providers)
    if clash:
        raise InvalidRequest(f"`{sorted(clash)[0]}` names both a provider and a channel.", param="id")


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386: objects merge member by member, null removes a member, anything else replaces. A
    patch nested deeper than any spec is refused before it is walked (a 400, not a RecursionError)."""
    if _depth(patch) > MAX_PATCH_DEPTH:
        raise InvalidRequest(f"The patch is nested more than {MAX_PATCH_DEPTH} levels deep.")
    return _merged(target, patch)


def _merged(target: Any, patch: Any) -> Any:
    if not isinstance(patch, Mapping):
        return copy.deepcopy(patch)
    merged = dict(target) if isinstance(target, Mapping) else {}
    for name, value in patch.items():
        if value is None:
            merged.pop(name, None)
        else:
            merged[name] = _merged(merged.get(name), value)
    return merged


def _depth(value: Any) -> int:
    """How deep objects and arrays nest in `value`, counted without recursion."""
    deepest, pending = 0, [(value, 1)]
    while pending:
        current, level = pending.pop()
        children = current.values() if isinstance(current, Mapping) else current if isinstance(current, list) else ()
        if children:
            deepest = max(deepest, level)
            if level > MAX_PATCH_DEPTH:
                break
            pending.extend((child, level + 1) for child in children)
    return deepest


# ---------------------------------------------------------------- the catalog as a whole


def status() -> dict[str, Any]:
    items = stores().control.load()
    current = live.build(items, get_settings().catalog_path)
    return {
        "version": items.version,
        "seeded": items.version > 0,
        "updated_at": items.updated_at,
        "models": len(current.catalog.models),
        "providers": len(current.catalog.providers),
        "channels": len(current.channels),
        "groups": len(current.groups),
    }


def seed() -> dict[str, Any]:
    """Write the shipped catalog into the table if it has none yet (make dev, a first deploy)."""
    if stores().control.version(consistent=True) == 0:
        change(lambda candidate: None)  # an unseeded draft writes every spec
    return status()


def export() -> dict[str, Any]:
    """Everything operators manage, as a document `import_document` takes back (no secret in it:
    channels name their secret by reference)."""
    current = draft()
    return {
        "version": current.version,
        "providers": current.providers,
        "models": list(current.models.values()),
        "channels": list(current.channels.values()),
        "groups": list(current.groups.values()),
        "settings": current.settings.get("", {}),
        "defaults": current.defaults.get("", {}),
    }


def import_document(document: Mapping[str, Any], *, replace: bool = False) -> dict[str, Any]:
    """Models, providers, channels, groups and settings from an export (or a models.yaml): added or
    replaced by name; with `replace`, whatever the document does not name is removed."""
    if not isinstance(document, Mapping):
        raise InvalidRequest("The catalog document must be an object (providers, models, ...).")

    sections: dict[Kind, dict[str, Any]] = {
        "PROVIDER": _by_name(document, "providers"),
        "MODEL": _listed(document, "models", "id"),
        "CHANNEL": _listed(document, "channels", "id"),
        "GROUP": _listed(document, "groups", "name"),
        "SETTINGS": _whole(document, "settings"),
        "DEFAULTS": _whole(document, "defaults"),
    }

    def edit(candidate: Draft) -> None:
        for kind, specs in sections.items():
            target = candidate.section(kind)
            before = dict(target)
            if replace:
                target.clear()
            for name, spec in specs.items():
                target[name] = _normalised(kind, spec)
                ref = target[name].get("secret_ref")
                if ref is not None and ref != before.get(name, {}).get("secret_ref"):
                    check_secret_readable(str(ref))  # a deleted channel's, from an old export, say

    _, version = change(edit)
    return {"version": version, **status()}


def _listed(document: Mapping[str, Any], section: str, key: str) -> dict[str, Any]:
    specs = document.get(section) or []
    if not isinstance(specs, list) or not all(isinstance(spec, Mapping) for spec in specs):
        raise InvalidRequest(f"`{section}` must be a list of objects.", param=section)
    named = {str(spec.get(key)): spec for spec in specs}
    if len(named) != len(specs):
        raise InvalidRequest(f"`{section}` names one `{key}` twice.", param=section)
    return named


def _by_name(document: Mapping[str, Any], section: str) -> dict[str, Any]:
    specs = document.get(section) or {}
    if not isinstance(specs, Mapping) or not all(isinstance(spec, Mapping) for spec in specs.values()):
        raise InvalidRequest(f"`{section}` must be an object of objects, by name.", param=section)
    return dict(specs)


def _whole(document: Mapping[str, Any], section: str) -> dict[str, Any]:
    spec = document.get(section)
    if spec and not isinstance(spec, Mapping):
        raise InvalidRequest(f"`{section}` must be an object.", param=section)
    return {"": spec} if spec else {}


# ---------------------------------------------------------------- models


def list_models() -> list[dict[str, Any]]:
    return list(draft().models.values())


def get_model(model_id: str) -> dict[str, Any]:
    found = draft().models.get(model_id)
    if found is None:
        raise NotFound(f"No model `{model_id[:200]}` in the catalog.")
    return found


def create_model(spec: Mapping[str, Any], *, also: Sequence[dict[str, Any]] = ()) -> dict[str, Any]:
    entry = parsed(ModelEntry, model_input(spec), "")  # its names are checked as the change is (check_change)

    def edit(candidate: Draft) -> dict[str, Any]:
        if entry.id in candidate.models:
            raise Conflict(f"The model `{entry.id}` exists already; change it with PATCH.")
        candidate.models[entry.id] = _dump(entry)
        return candidate.models[entry.id]

    return change(edit, also=also)[0]


def update_model(model_id: str, patch: Mapping[str, Any], *, also: Sequence[dict[str, Any]] = ()) -> dict[str, Any]:
    """JSON merge patch of the model's spec (`{"pricing": {"input": "0.2"}}`, `{"enabled": false}`)."""

    def edit(candidate: Draft) -> dict[str, Any]:
        current = candidate.models.get(model_id)
        if current is None:
            raise NotFound(f"No model `{model_id[:200]}` in the catalog.")
        entry = parsed(ModelEntry, merge_patch(current, model_input(patch)), "")  # new aliases: check_change
        if entry.id != model_id:
            raise InvalidRequest("A model's `id` cannot change; create a new model instead.", param="id")
        candidate.models[model_id] = _dump(entry)
        return candidate.models[model_id]

    return change(edit, also=also)[0]


def delete_model(model_id: str) -> None:
    def edit(candidate: Draft) -> None:
        if candidate.models.pop(model_id, None) is None:
            raise NotFound(f"No model `{model_id[:200]}` in the catalog.")
        for channel_id, spec in candidate.channels.items():
            if model_id in spec.get("models", ()):
                spec["models"] = [name for name in spec["models"] if name != model_id]
                if not spec["models"]:  # an empty list would widen it to every model of its provider
                    raise InvalidRequest(
                        f"Channel `{channel_id}` serves only `{model_id}`; change or delete it first.", param="id"
                    )
            if model_id in spec.get("model_map", {}):
                spec["model_map"] = {name: to for name, to in spec["model_map"].items() if name != model_id}

    change(edit)


# ---------------------------------------------------------------- providers


def list_providers() -> dict[str, dict[str, Any]]:
    return draft().providers


def put_provider(name: str, spec: Mapping[str, Any]) -> dict[str, Any]:
    """Add a provider (an upstream kind and its defaults; channels give it keys) or replace one."""
    if not PROVIDER_NAME.match(name):
        raise InvalidRequest("A provider's name is 1 to 64 of a-z, 0-9, `.`, `_`, `-`.", param="name")
    config = parsed(ProviderConfig, dict(spec), "")

    def edit(candidate: Draft) -> dict[str, Any]:
        candidate.providers[name] = _dump(config)
        return candidate.providers[name]

    return change(edit)[0]


def delete_provider(name: str) -> None:
    def edit(candidate: Draft) -> None:
        if candidate.providers.pop(name, None) is None:
            raise NotFound(f"No provider `{name[:64]}`.")
        used = [model for model, spec in candidate.models.items() if _serves(spec, name)]
        used += [channel for channel, spec in candidate.channels.items() if spec.get("provider") == name]
        if used:
            raise InvalidRequest(f"`{name}` still serves `{used[0]}`; remove it from there first.", param="name")

    change(edit)


# ---------------------------------------------------------------- helpers


def _serves(spec: Mapping[str, Any], provider: str) -> bool:
    return any(candidate.get("provider") == provider for candidate in spec.get("providers") or ())


def model_input(spec: Mapping[str, Any]) -> dict[str, Any]:
    """Admin input for a model: `credit_cost` is the flat price per request (`pricing.request`)."""
    if not isinstance(spec, Mapping):
        raise InvalidRequest("A model is a JSON object.")
    data = dict(spec)
    pricing = data.get("pricing")
    if isinstance(pricing, Mapping) and "credit_cost" in pricing:
        pricing = dict(pricing)
        pricing["request"] = pricing.pop("credit_cost")
        data["pricing"] = pricing
    return data


SCHEMAS: dict[Kind, type[BaseModel]] = {
    "MODEL": ModelEntry,
    "PROVIDER": ProviderConfig,
    "CHANNEL": Channel,
    "GROUP": PriceGroup,
    "SETTINGS": ControlSettings,
    "DEFAULTS": Defaults,
}


def _normalised(kind: Kind, spec: Any) -> dict[str, Any]:
    return _dump(parsed(SCHEMAS[kind], model_input(spec) if kind == "MODEL" else spec, SECTIONS[kind]))


def _dump(value: BaseModel) -> dict[str, Any]:
    return value.model_dump(mode="json", exclude_defaults=True)
