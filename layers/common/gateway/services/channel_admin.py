"""Operators manage upstream channels, price groups, settings and which group an account is in.

A channel's key goes to Secrets Manager (under the stack's channel prefix, a secret of its own name
for every key given) when it is given here; the channel keeps only the secret's reference, which is
all any view shows. A channel given a new key gets
a new `key_version`, so every warm process reads the secret anew with its next catalog; other changes
leave the processes' cached secrets alone."""

from __future__ import annotations

import re
import secrets
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

from pydantic import BaseModel

from gateway.catalog.runtime import Channel, ControlSettings, PriceGroup
from gateway.config import get_settings
from gateway.errors import Conflict, GatewayError, InvalidRequest, NotFound, ServiceUnavailable
from gateway.observability import logger
from gateway.services import profiles
from gateway.services.catalog_admin import Draft, change, draft, merge_patch, tried
from gateway.services.catalog_checks import check_secret_readable, parsed
from gateway.storage import vault
from gateway.storage.profiles import AccountProfile
from gateway.storage.stores import stores
from gateway.storage.transactions import AlsoRefused

MAX_KEY_CHARS = 4096


def channel_view(spec: Mapping[str, Any]) -> dict[str, Any]:
    """A channel as operators see it: its settings and whether it has a secret, never the secret."""
    channel = Channel.model_validate(spec)
    return {**channel.model_dump(mode="json"), "has_secret": channel.secret_ref is not None}


def list_channels() -> list[dict[str, Any]]:
    return [channel_view(spec) for spec in draft().channels.values()]


def get_channel(channel_id: str) -> dict[str, Any]:
    spec = draft().channels.get(channel_id)
    if spec is None:
        raise NotFound(f"No channel `{channel_id[:64]}`.")
    return channel_view(spec)


def create_channel(
    spec: Mapping[str, Any], api_key: str | None = None, *, also: Sequence[dict[str, Any]] = ()
) -> dict[str, Any]:
    """A new channel; `api_key` (optional: keyless servers need none) is stored as its secret, once
    the channel is known to be accepted (a refused one writes no secret)."""
    channel = parsed(Channel, dict(spec), "")
    if api_key is not None and channel.secret_ref is not None:
        raise InvalidRequest("Give either `api_key` or `secret_ref`, not both.", param="api_key")

    def edit_with(secret_ref: str | None) -> Callable[[Draft], dict[str, Any]]:
        def edit(candidate: Draft) -> dict[str, Any]:
            if channel.id in candidate.channels:
                raise Conflict(f"The channel `{channel.id}` exists already; change it with PATCH.")
            made = channel.model_copy(update={"secret_ref": secret_ref}) if secret_ref else channel
            candidate.channels[channel.id] = _dump(made)
            return channel_view(candidate.channels[channel.id])

        return edit

    if channel.secret_ref is not None:
        check_secret_readable(channel.secret_ref)
    if api_key is None:
        return change(edit_with(None), also=also)[0]
    secret_ref = _store_key(channel.id, api_key, edit_with)
    with _dropped_if_refused(secret_ref):
        return change(edit_with(secret_ref), also=also)[0]


def update_channel(
    channel_id: str, patch: Mapping[str, Any], api_key: str | None = None, *, also: Sequence[dict[str, Any]] = ()
) -> dict[str, Any]:
    """JSON merge patch of the channel (`{"enabled": false}`, `{"weight": 3}`); `api_key` rotates its
    key, stored once the patch is known to be accepted: a new value of the secret this API made for it,
    else (none, an operator's, one scheduled for deletion) a new secret."""

    def edit_with(secret_ref: str | None) -> Callable[[Draft], dict[str, Any]]:
        def edit(candidate: Draft) -> dict[str, Any]:
            current = candidate.channels.get(channel_id)
            if current is None:
                raise NotFound(f"No channel `{channel_id[:64]}`.")
            merged = merge_patch(current, patch)
            if secret_ref is not None:
                merged["secret_ref"] = secret_ref
                merged["key_version"] = int(current.get("key_version", 0)) + 1
            channel = parsed(Channel, merged, "")
            if channel.id != channel_id:
                raise InvalidRequest("A channel's `id` cannot change; create a new channel instead.", param="id")
            candidate.channels[channel_id] = _dump(channel)
            return channel_view(candidate.channels[channel_id])

        return edit

    current = draft().channels.get(channel_id, {}).get("secret_ref")
    given = patch.get("secret_ref") if isinstance(patch, Mapping) else None
    if isinstance(given, str) and given != current:
        check_secret_readable(given)
    if api_key is None:
        return change(edit_with(None), also=also)[0]
    if _reusable(channel_id, current):
        secret_ref = _store_key(channel_id, api_key, edit_with, current)
        return change(edit_with(secret_ref), also=also)[0]
    secret_ref = _store_key(channel_id, api_key, edit_with)
    with _dropped_if_refused(secret_ref):
        return change(edit_with(secret_ref), also=also)[0]


def delete_channel(channel_id: str) -> None:
    def edit(candidate: Draft) -> dict[str, Any]:
        spec = candidate.channels.pop(channel_id, None)
        if spec is None:
            raise NotFound(f"No channel `{channel_id[:64]}`.")
        return spec

    removed, _ = change(edit)
    _delete_made_for(channel_id, removed.get("secret_ref"))


# ---------------------------------------------------------------- price groups and settings


def list_groups() -> list[dict[str, Any]]:
    return list(draft().groups.values())


def put_group(name: str, spec: Mapping[str, Any], *, also: Sequence[dict[str, Any]] = ()) -> dict[str, Any]:
    """Create or change a price group: `{"ratio": "0.8"}` prices its accounts' requests at 80%."""
    group = parsed(PriceGroup, {**spec, "name": name}, "")

    def edit(candidate: Draft) -> dict[str, Any]:
        candidate.groups[group.name] = _dump(group)
        return candidate.groups[group.name]

    return change(edit, also=also)[0]


def delete_group(name: str) -> None:
    """Remove a group; its accounts are priced as the default group's from then on."""

    def edit(candidate: Draft) -> None:
        if candidate.groups.pop(name, None) is None:
            raise NotFound(f"No price group `{name[:64]}`.")

    change(edit)


def get_control_settings() -> dict[str, Any]:
    return ControlSettings.model_validate(draft().settings.get("", {})).model_dump(mode="json")


def update_control_settings(patch: Mapping[str, Any]) -> dict[str, Any]:
    def edit(candidate: Draft) -> dict[str, Any]:
        settings = parsed(ControlSettings, merge_patch(candidate.settings.get("", {}), patch), "settings")
        candidate.settings[""] = _dump(settings)
        return settings.model_dump(mode="json")

    return change(edit)[0]


def set_account_group(account_id: str, group: str | None, *, also: Sequence[dict[str, Any]] = ()) -> dict[str, Any]:
    """Put an account in a price group (None: the default); its next request is priced so. `also`:
    items written in the same transaction (the operator log's entry)."""
    if group is not None and group not in draft().groups:
        raise InvalidRequest(f"No price group `{group[:64]}`; create it first.", param="group")
    profile = stores().profiles.set_group(account_id[:128], group, also=also)
    if profile is None:
        raise NotFound(f"No account {account_id[:128]}.")
    profiles.forget(account_id)
    return profile_view(account_id, profile)


def account_profile(account_id: str) -> dict[str, Any]:
    profile = stores().profiles.get(account_id[:128])
    if profile is None:
        raise NotFound(f"No account {account_id[:128]}.")
    return profile_view(account_id, profile)


def profile_view(account_id: str, profile: AccountProfile) -> dict[str, Any]:
    return {
        "account_id": account_id,
        "group": profile.group or "default",
        "own_key_providers": sorted(profile.byok),
        "profile_version": profile.version,
    }


# ---------------------------------------------------------------- secrets


def _new_secret_name(channel_id: str) -> str:
    """A name of its own for each secret made: a deleted channel's secret keeps its name for its 7 days
    of recovery (Secrets Manager refuses a new value under it), and a channel added again must not need it."""
    return f"{get_settings().channel_secret_prefix}{channel_id}/{secrets.token_hex(4)}"


def _made_for(channel_id: str, ref: str) -> bool:
    """Whether this API made the secret for this channel: `<prefix><id>/<8 hex>` (`<prefix><id>` before)."""
    own = re.escape(f"{get_settings().channel_secret_prefix}{channel_id}")
    return re.fullmatch(f"{own}(/[0-9a-f]{{8}})?", _named(ref)) is not None


def _reusable(channel_id: str, ref: Any) -> bool:
    """Whether a new key goes into the channel's secret: one this API made for it, not being deleted."""
    if not isinstance(ref, str) or not _made_for(channel_id, ref):
        return False
    try:
        return vault.secret_state(ref) == "live"
    except vault.VaultError:
        return False  # a new secret, then


def _delete_made_for(channel_id: str, ref: Any) -> None:
    """Deletes a secret this API made for the channel (one an operator named is theirs to keep)."""
    if not isinstance(ref, str) or not _made_for(channel_id, ref):
        return
    try:
        vault.delete_secret(ref)
    except vault.VaultError as error:
        logger().warning(
            "a deleted channel's secret is left in place", extra={"channel": channel_id, "why": str(error)}
        )


@contextmanager
def _dropped_if_refused(secret_ref: str) -> Iterator[None]:
    """A secret made for a change that was then refused (a concurrent change, an operator's retried
    submit) is deleted; one whose change may have been written (the store did not answer) is kept."""
    try:
        yield
    except (GatewayError, AlsoRefused):
        try:
            vault.delete_secret(secret_ref)
        except vault.VaultError as error:
            logger().warning("a refused change's new secret is left in place", extra={"why": str(error)})
        raise


def _store_key(
    channel_id: str,
    api_key: str,
    edit_with: Callable[[str | None], Callable[[Draft], Any]],
    secret: str | None = None,
) -> str:
    """Stores the key in `secret` (else a new secret of the channel), after the change it is for
    (`edit_with` a reference) was tried on the current catalog: a change refused (a taken id, a bad
    field) writes no secret. Returns the secret's ARN."""
    if not 1 <= len(api_key) <= MAX_KEY_CHARS or not api_key.isprintable() or api_key.strip() != api_key:
        raise InvalidRequest(f"`api_key` is 1 to {MAX_KEY_CHARS} printable characters.", param="api_key")
    parsed(Channel, {"id": channel_id, "provider": "x"}, "")  # a valid id before a secret is named after it
    name = secret or _new_secret_name(channel_id)
    tried(edit_with(name))
    try:
        return vault.put_secret(name, api_key, f"AI gateway channel {channel_id}")
    except vault.VaultError as error:
        logger().error("a channel's key could not be stored", extra={"channel": channel_id, "why": str(error)})
        raise ServiceUnavailable("The channel's key could not be stored in Secrets Manager; retry.") from None


def _named(ref: str) -> str:
    """A secret's name from its reference: the name itself, or an ARN (`...:secret:<name>-<6 random>`)."""
    if ":secret:" not in ref:
        return ref
    return ref.split(":secret:", 1)[1].rsplit("-", 1)[0]


def _dump(value: BaseModel) -> dict[str, Any]:
    return value.model_dump(mode="json", exclude_defaults=True)
