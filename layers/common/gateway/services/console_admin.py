"""Operators run the control plane from the console: top-up codes, models and their prices, upstream
channels (and their health), price groups and an account's group. The same services as the admin API
and gateway-admin make each change (topup_codes, catalog_admin, channel_admin); here each is also an
operator action (services/operators.py): its log entry is written in the change's own transaction, and
a submit retried with its Idempotency-Key is done once. No view holds a channel's key or a code's text
(but the minting's answer, once)."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from gateway.auth.cognito import Identity
from gateway.catalog.registry import ModelEntry
from gateway.catalog.runtime import Channel
from gateway.clock import iso_from_epoch, now_iso
from gateway.formats.control import CodeMint
from gateway.services import catalog_admin, channel_admin, channel_health, operators, topup_codes
from gateway.services.byok import OWN_KEY_KINDS
from gateway.storage.stores import stores

T = TypeVar("T")
SUBJECT_CHARS = 200
SECRET_FIELDS = frozenset({"api_key"})  # written to Secrets Manager; named in the log, never shown
# A channel's fields whose values the log shows (numbers and switches); the others by name only
CHANNEL_VALUES = frozenset({"enabled", "priority", "weight", "rpm", "tpm"})


@dataclass(frozen=True)
class Action:
    """Who acts, and how the action is found again: the operator, the submit's Idempotency-Key and the
    request's trace id."""

    operator: Identity
    idempotency_key: str | None
    trace_id: str

    def record(self, action: str, write: Callable[[list[dict[str, Any]]], T], **entry: Any) -> operators.Recorded[T]:
        return operators.recorded(
            self.operator, action, write, idempotency_key=self.idempotency_key, trace_id=self.trace_id, **entry
        )


def _answer(done: operators.Recorded[Any], data: Any, **extra: Any) -> dict[str, Any]:
    return {"data": data, **extra, "action": done.action, "replayed": done.replayed}


# ---------------------------------------------------------------- top-up codes


def mint_codes(act: Action, body: CodeMint) -> dict[str, Any]:
    """Codes worth `credits` each: their texts are in this answer only (a replayed submit has none)."""
    amount, expires_at = body.amount_micro(), body.expiry()
    batch = body.batch or f"batch-{now_iso()[:19]}"
    detail = _values({"count": body.count, **({"expires_at": iso_from_epoch(expires_at)} if expires_at else {})})
    done = act.record(
        operators.MINT_CODES,
        lambda also: topup_codes.mint(amount, body.count, expires_at=expires_at, batch=batch, also=also),
        subject=batch,
        amount=amount,
        detail=detail,
        request=body.model_dump(mode="json"),
    )
    minted = done.result or {"codes": [], "data": []}
    return {"codes": minted["codes"], **_answer(done, minted["data"])}


def set_code_disabled(act: Action, code_id: str, disabled: bool) -> dict[str, Any]:
    done = act.record(
        operators.DISABLE_CODE if disabled else operators.ENABLE_CODE,
        lambda also: topup_codes.set_disabled(code_id, disabled, also=also),
        subject=code_id[:SUBJECT_CHARS],
    )
    return _answer(done, done.result if done.result is not None else topup_codes.get_code(code_id))


# ---------------------------------------------------------------- models and prices


def models() -> dict[str, Any]:
    """Every model's spec (disabled ones too), in listing order, with the catalog version they are of."""
    current = catalog_admin.draft()
    return {
        "version": current.version,
        "data": list(current.models.values()),
        "providers": {name: spec.get("kind") for name, spec in current.providers.items()},
    }


def model(model_id: str) -> dict[str, Any]:
    current = catalog_admin.draft()
    return {
        "version": current.version,
        "data": catalog_admin.get_model(model_id),
        "providers": {name: spec.get("kind") for name, spec in current.providers.items()},
    }


def create_model(act: Action, spec: Mapping[str, Any]) -> dict[str, Any]:
    done = act.record(
        operators.CREATE_MODEL,
        lambda also: catalog_admin.create_model(spec, also=also),
        subject=_subject(spec.get("id")),
        detail=_values(pricing, "pricing.") if isinstance(pricing := spec.get("pricing"), Mapping) else None,
        request=spec,
    )
    data = done.result if done.result is not None else catalog_admin.get_model(str(spec.get("id")))
    return _answer(done, data, version=_version())


def update_model(act: Action, model_id: str, patch: Mapping[str, Any]) -> dict[str, Any]:
    """A JSON merge patch of the model (prices, limits, aliases, `enabled`, ...): live on every
    function with the catalog version it makes."""
    before = catalog_admin.get_model(model_id)
    done = act.record(
        operators.UPDATE_MODEL,
        lambda also: catalog_admin.update_model(model_id, patch, also=also),
        subject=model_id[:SUBJECT_CHARS],
        detail=_values(_changes(ModelEntry, before, catalog_admin.model_input(patch))),
        request=[model_id, patch],
    )
    data = done.result if done.result is not None else catalog_admin.get_model(model_id)
    return _answer(done, data, version=_version())


# ---------------------------------------------------------------- channels


def channels() -> dict[str, Any]:
    """Channels by provider: every provider that takes channels (its kind, default base URL and the
    models it serves) and every channel's settings, never a key."""
    current = catalog_admin.draft()
    providers = []
    for name, spec in current.providers.items():
        if spec.get("kind") in OWN_KEY_KINDS:
            served = [
                model_id
                for model_id, entry in current.models.items()
                if any(candidate.get("provider") == name for candidate in entry.get("providers") or ())
            ]
            providers.append(
                {"name": name, "kind": spec["kind"], "default_base_url": spec.get("default_base_url"), "models": served}
            )
    return {
        "version": current.version,
        "providers": providers,
        "data": [channel_admin.channel_view(spec) for spec in current.channels.values()],
    }


def create_channel(act: Action, spec: Mapping[str, Any], api_key: str | None) -> dict[str, Any]:
    """A new channel; its key (write-only) goes to Secrets Manager, the log names only that one was set."""
    done = act.record(
        operators.CREATE_CHANNEL,
        lambda also: channel_admin.create_channel(spec, api_key, also=also),
        subject=_subject(spec.get("id")),
        detail=_names(spec, api_key),
        request=[spec, api_key],
    )
    data = done.result if done.result is not None else channel_admin.get_channel(str(spec.get("id")))
    return _answer(done, data, version=_version())


def update_channel(act: Action, channel_id: str, patch: Mapping[str, Any], api_key: str | None) -> dict[str, Any]:
    before = channel_admin.get_channel(channel_id)
    before.pop("has_secret", None)
    done = act.record(
        operators.UPDATE_CHANNEL,
        lambda also: channel_admin.update_channel(channel_id, patch, api_key, also=also),
        subject=channel_id[:SUBJECT_CHARS],
        detail=_names(_changes(Channel, before, patch), api_key),
        request=[channel_id, patch, api_key],
    )
    data = done.result if done.result is not None else channel_admin.get_channel(channel_id)
    return _answer(done, data, version=_version())


def health() -> dict[str, Any]:
    return channel_health.channel_health()


# ---------------------------------------------------------------- price groups


def groups() -> dict[str, Any]:
    return {"data": channel_admin.list_groups()}


def put_group(act: Action, name: str, spec: Mapping[str, Any]) -> dict[str, Any]:
    done = act.record(
        operators.PUT_GROUP,
        lambda also: channel_admin.put_group(name, spec, also=also),
        subject=name[:SUBJECT_CHARS],
        detail=_values(spec),
        request=[name, spec],
    )
    data = done.result if done.result is not None else _group(name)
    return _answer(done, data, version=_version())


def set_account_group(act: Action, account_id: str, group: str | None) -> dict[str, Any]:
    """Put an account in a price group (None: the default); its next request is priced so."""
    done = act.record(
        operators.SET_ACCOUNT_GROUP,
        lambda also: channel_admin.set_account_group(account_id, group, also=also),
        subject=group or "default",
        account_id=account_id[:128],
    )
    data = done.result if done.result is not None else channel_admin.account_profile(account_id)
    return _answer(done, data)


# ---------------------------------------------------------------- helpers


def _version() -> int:
    """The catalog's version now: the change just written is in it (or in an earlier one)."""
    return stores().control.version(consistent=True)


def _group(name: str) -> dict[str, Any]:
    return next((group for group in channel_admin.list_groups() if group.get("name") == name), {"name": name})


def _subject(value: Any) -> str | None:
    """What a new model or channel is called, as the body names it (the catalog's schema checks it)."""
    return value[:SUBJECT_CHARS] if isinstance(value, str) else None


def _changes(schema: type[BaseModel], before: Mapping[str, Any], patch: Mapping[str, Any]) -> dict[str, Any]:
    """What a merge patch changes of a model's or a channel's spec, defaults made explicit on both sides
    (re-sending a value, or removing one that was the default, changes nothing): what the log says. A
    patch the schema refuses is refused by the change too, and logged nowhere."""
    try:
        old = schema.model_validate(before).model_dump(mode="json")
        new = schema.model_validate(catalog_admin.merge_patch(before, patch)).model_dump(mode="json")
    except ValidationError:
        return {}
    return _difference(old, new)


def _difference(old: Mapping[str, Any], new: Mapping[str, Any]) -> dict[str, Any]:
    found: dict[str, Any] = {}
    for name in {*old, *new}:
        before, after = old.get(name), new.get(name)
        if isinstance(before, Mapping) and isinstance(after, Mapping):
            inner = _difference(before, after)
            if inner:
                found[name] = inner
        elif before != after:
            found[name] = after
    return dict(sorted(found.items()))


def _values(patch: Mapping[str, Any], prefix: str = "") -> str:
    """`pricing.input="0.2", enabled=false`: what a model's or a group's change sets (no secret there)."""
    return ", ".join(_flat(patch, prefix))


def _flat(patch: Mapping[str, Any], prefix: str) -> Iterator[str]:
    for name, value in patch.items():
        if isinstance(value, Mapping) and value:
            yield from _flat(value, f"{prefix}{name}.")
        else:
            yield f"{prefix}{name}={json.dumps(value, default=str)[:80]}"


def _names(spec: Mapping[str, Any], api_key: str | None) -> str:
    """The fields a channel's change sets: by name (a base URL may carry credentials), with their values
    for its numbers and switches (`enabled=false`); a new key as `api_key (replaced)`, its value never."""
    names = [
        _values({name: value}) if name in CHANNEL_VALUES and _scalar(value) else name
        for name, value in spec.items()
        if name not in SECRET_FIELDS
    ]
    if api_key is not None:
        names.append("api_key (replaced)")
    return ", ".join(names)


def _scalar(value: Any) -> bool:
    return value is None or isinstance(value, bool | int | float)
