"""Bring your own key: an account registers its own key for a provider; its requests for that
provider's models then go to that key and pay only the gateway's fee (the catalog's `byok_fee_percent`
of the price, times its price group's ratio).

A key is encrypted with KMS under an encryption context naming the account and the provider (a copy
of its ciphertext decrypts for no other account), shown once as its last four characters, never
returned, logged or traced. Requests decrypt it once per warm process and profile version."""

from __future__ import annotations

import threading
import time
from typing import TYPE_CHECKING, Any

from gateway.auth.authenticate import Principal
from gateway.clock import now_iso
from gateway.config import get_settings
from gateway.errors import InvalidRequest, NotFound, ServiceUnavailable
from gateway.observability import logger
from gateway.providers.credentials import Endpoint, endpoint_for
from gateway.services import profiles
from gateway.storage import vault
from gateway.storage.profiles import ProviderKey
from gateway.storage.stores import stores

if TYPE_CHECKING:
    from gateway.catalog.registry import ProviderConfig

OWN_KEY_KINDS = frozenset({"openai", "anthropic", "gemini"})
_plain: dict[tuple[str, str, int], tuple[float, str]] = {}
_lock = threading.Lock()

HINTED_LENGTH = 16  # a key's last 4 characters are shown only when they are a small part of it


def set_key(principal: Principal, provider: str, key: str) -> dict[str, Any]:
    """Register (or replace) the account's key for `provider`; answers its view, never the key."""
    config = _usable_provider(provider)
    if _base_url(config) is None:
        raise InvalidRequest(f"`{provider}` has no base URL to use an own key with.", param="provider")
    key_id = _kms_key()
    record = ProviderKey(
        account_id=principal.account_id,
        provider=provider,
        ciphertext=_encrypt(key_id, key, principal.account_id, provider),
        hint=key[-4:] if len(key) >= HINTED_LENGTH else "",
        created_at=now_iso(),
    )
    if not stores().profiles.put_key(record):
        raise NotFound("No such account.")
    profiles.forget(principal.account_id)
    return record.view()


def list_keys(principal: Principal) -> list[dict[str, Any]]:
    return [record.view() for record in stores().profiles.keys(principal.account_id)]


def delete_key(principal: Principal, provider: str) -> None:
    if not stores().profiles.delete_key(principal.account_id, provider[:64]):
        raise NotFound(f"This account has no own key for `{provider[:64]}`.")
    profiles.forget(principal.account_id)


def endpoint(account_id: str, provider: str, profile_version: int, config: ProviderConfig) -> Endpoint:
    """The account's own key for `provider`, at the provider's base URL (the account's key goes only
    where the operator's would). Raises ServiceUnavailable when it cannot be read: the request is not
    quietly moved to the platform's keys at the platform's price."""
    base_url = _base_url(config)
    if base_url is None:
        raise ServiceUnavailable(f"`{provider}` cannot be called with an own key here.")
    cache_key = (account_id, provider, profile_version)
    with _lock:
        hit = _plain.get(cache_key)
    if hit is None or hit[0] <= time.monotonic():
        record = stores().profiles.key(account_id, provider)
        if record is None:
            raise ServiceUnavailable("This account's own provider key was removed meanwhile; retry.")
        try:
            plaintext = vault.decrypt(record.ciphertext, _context(account_id, provider))
        except vault.VaultError as error:
            logger().error(
                "an own provider key could not be decrypted", extra={"provider": provider, "why": str(error)}
            )
            raise ServiceUnavailable("This account's own provider key cannot be read right now; retry.") from None
        hit = (time.monotonic() + get_settings().byok_key_cache_seconds, plaintext)
        with _lock:
            if len(_plain) >= 10_000:
                _plain.clear()
            _plain[cache_key] = hit
    return Endpoint(base_url=base_url, api_key=hit[1])


def reset() -> None:
    with _lock:
        _plain.clear()


def _usable_provider(provider: str) -> ProviderConfig:
    from gateway.catalog import live  # the catalog only when a key is set: not in the keys function's cold start

    config = live.checked().catalog.providers.get(provider)
    if config is None:
        raise InvalidRequest(f"No provider `{provider[:64]}`.", param="provider")
    if config.kind not in OWN_KEY_KINDS:
        raise InvalidRequest(f"`{provider}` does not take an API key (it is {config.kind}).", param="provider")
    return config


def _base_url(config: ProviderConfig) -> str | None:
    configured = endpoint_for(config)
    url = (configured.base_url if configured else None) or config.default_base_url
    return url.rstrip("/") if url else None


def _kms_key() -> str:
    key_id = get_settings().byok_kms_key_id
    if not key_id:
        raise ServiceUnavailable("Own provider keys are not enabled on this deployment (no KMS key).")
    return key_id


def _encrypt(key_id: str, key: str, account_id: str, provider: str) -> bytes:
    try:
        return vault.encrypt(key_id, key, _context(account_id, provider))
    except vault.VaultError as error:
        logger().error("an own provider key could not be encrypted", extra={"why": str(error)})
        raise ServiceUnavailable("The key could not be stored right now; retry.") from None


def _context(account_id: str, provider: str) -> dict[str, str]:
    return {"account_id": account_id, "provider": provider}
