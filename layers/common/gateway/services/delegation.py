"""Keys managed with "the user's own key", on the routes whose platforms show it (PotatoRouter's
/api/token, poeti's /api/v1/api-keys).

A management key manages every key of its account there, as on /api/v1/keys. An inference key sees
itself and the keys it created, revokes those, and creates inference keys within itself: never
above its own credit limit, rate limit, allow-lists or expiry (an unset field inherits its value,
a wider one is a 400), and never a management key. A key it created works within it for good
(gateway.auth.delegation: its requests take from the creator's limit and rate too) and cannot create
keys itself, so nothing a key creates outspends it, however many keys it makes."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from gateway import clock
from gateway.auth.authenticate import Principal
from gateway.auth.delegation import model_ids
from gateway.auth.keys import looks_like_hash
from gateway.config import get_settings
from gateway.errors import ApiDisabled, Conflict, Forbidden, InvalidRequest, NotFound
from gateway.formats.keys import KeyCreate
from gateway.money import display, micro_to_credits
from gateway.services import key_aliases, keys
from gateway.storage.api_keys import ApiKeyRecord, ApiKeyRepository

MAX_CREATED = 100  # live keys one inference key may have created


def visible_keys(principal: Principal) -> list[ApiKeyRecord]:
    records = keys.list_keys(principal)
    if principal.kind == "management":
        return records
    return [r for r in records if principal.key_hash in (r.key_hash, r.parent)]


def create(
    principal: Principal,
    spec: KeyCreate,
    *,
    credential: str,
    idempotency_key: str | None,
    fields: dict[str, str] | None = None,
) -> keys.IssuedKey:
    """`fields` names the route's own fields (`remain_quota` for `limit`, ...) in its errors."""
    if principal.kind == "management":
        return keys.create_key_once(principal, spec, credential=credential, idempotency_key=idempotency_key)
    bounded = within(principal, spec, fields or {})
    return keys.create_key_once(
        principal,
        bounded,
        credential=credential,
        idempotency_key=idempotency_key,
        parent=principal.key_hash,
        asked=spec,  # only the allow-lists the client sent are checked against the catalog
    )


def revoke(principal: Principal, key_hash: str) -> None:
    if principal.kind != "management" and key_hash != principal.key_hash:
        record = ApiKeyRepository(get_settings().table_name).get(key_hash) if looks_like_hash(key_hash) else None
        if record is None or record.parent != principal.key_hash:
            raise NotFound(f"No key `{key_hash[:64]}` in this account.")
    keys.revoke_key(principal, key_hash)


def within(principal: Principal, spec: KeyCreate, fields: dict[str, str]) -> KeyCreate:
    """The key `spec` asks for, as an inference key may create it: within the creator in every field."""
    creator = principal.key
    if principal.parent is not None or creator.parent is not None:
        raise Forbidden("A key created by another key cannot create keys.")
    if spec.kind != "inference":
        raise Forbidden("An inference key can create inference keys only.")
    if len(visible_keys(principal)) > MAX_CREATED:
        raise Conflict(f"This key has created {MAX_CREATED} keys; revoke some before creating more.")
    asked = spec.changes()
    bounded: dict[str, Any] = {"name": spec.name}
    if creator.limit is not None and asked.get("limit") is None:  # never unlimited under a limited key
        bounded.update(limit=micro_to_credits(creator.limit), limit_reset=creator.limit_reset)
    elif "limit" in asked:
        _at_most(asked["limit"], creator.limit, fields.get("limit", "limit"), "credit limit", display)
        bounded.update(limit=micro_to_credits(asked["limit"]) if asked["limit"] is not None else None)
        if "limit_reset" in asked:
            bounded["limit_reset"] = asked["limit_reset"]
    if creator.rate_limit is not None and asked.get("rate_limit") is None:
        bounded["rate_limit"] = creator.rate_limit
    elif "rate_limit" in asked:
        _at_most(asked["rate_limit"], creator.rate_limit, fields.get("rate_limit", "rate_limit"), "rate limit", int)
        bounded["rate_limit"] = asked["rate_limit"]
    bounded["allowed_providers"] = _subset(asked, creator.allowed_providers, "allowed_providers", set)
    bounded["allowed_models"] = _subset(asked, creator.allowed_models, "allowed_models", model_ids)
    expires = asked.get("expires_at")
    if creator.expires_at is not None and (expires is None or expires > creator.expires_at):
        if expires is not None:
            raise InvalidRequest(
                "A key cannot outlive the key that creates it.", param=fields.get("expires_at", "expires_at")
            )
        expires = creator.expires_at
    bounded["expires_at"] = datetime.fromtimestamp(expires, UTC) if expires is not None else None
    try:
        return key_aliases.key_create({name: value for name, value in bounded.items() if value is not None}, fields)
    except InvalidRequest:  # an expiry that passed since: the creator's own is its request's answer
        if creator.expires_at is not None and creator.expires_at <= clock.now():
            raise ApiDisabled("This API key has expired.") from None
        raise


def _at_most(value: Any, bound: int | None, param: str, what: str, shown: Any) -> None:
    if bound is not None and value is not None and value > bound:
        raise InvalidRequest(f"The new key's {what} cannot exceed this key's ({shown(bound)}).", param=param)


def _subset(asked: dict[str, Any], bounds: tuple[str, ...] | None, field: str, ids: Any) -> list[str] | None:
    names = asked.get(field)
    if bounds is None:
        return list(names) if names is not None else None
    if names is None:
        return list(bounds)
    if not ids(tuple(names)) <= ids(bounds):
        raise InvalidRequest(f"The new key's {field} must be within this key's: {', '.join(bounds)}.", param=field)
    return list(names)
