"""An account's profile (price group, own provider keys) as a warm process knows it: read once, then
kept until a reservation's transaction finds it changed and hands back the account as it stands
(services/admission.py). So steady traffic never reads it, and a change applies to the next request."""

from __future__ import annotations

from typing import Any

from gateway.storage.profiles import AccountProfile
from gateway.storage.stores import stores

_LIMIT = 10_000
_profiles: dict[str, AccountProfile] = {}


def current(account_id: str) -> AccountProfile:
    """The account's profile: remembered, else read (one GetItem of a few attributes)."""
    known = _profiles.get(account_id)
    if known is not None:
        return known
    return _remember(account_id, stores().profiles.get(account_id) or AccountProfile())


def known(account_id: str) -> AccountProfile | None:
    """The remembered profile, if any (no read)."""
    return _profiles.get(account_id)


def learn(account_id: str, account_item: dict[str, Any]) -> AccountProfile:
    """The profile of the account item a refused reservation returned."""
    return _remember(account_id, AccountProfile.from_item(account_item))


def note(account_id: str, profile: AccountProfile) -> AccountProfile:
    """A profile read elsewhere (with the key and its account's gate): kept unless older than the one
    known."""
    known = _profiles.get(account_id)
    if known is not None and known.version > profile.version:
        return profile
    return _remember(account_id, profile)


def forget(account_id: str) -> None:
    _profiles.pop(account_id, None)


def reset() -> None:
    _profiles.clear()


def _remember(account_id: str, profile: AccountProfile) -> AccountProfile:
    if len(_profiles) >= _LIMIT:
        _profiles.clear()
    _profiles[account_id] = profile
    return profile
