"""Model name -> catalog entry -> the provider candidates to try, in order, for every endpoint.

Only providers whose client has the endpoint's capability are candidates. The catalog's order is
refined by the `vendor` header (pins one provider), the body's OpenRouter-style `provider`
preferences (order / only / ignore / allow_fallbacks), the key's provider allow-list, and each
provider's health (one that keeps failing is tried last during its cool-down). Each provider is then
expanded into its upstream channels (services/channels.py), or the account's own keys.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, TypeVar

from gateway.catalog.registry import ModelEntry, ProviderConfig, get_catalog
from gateway.errors import InvalidRequest, ModelNotAllowed, ModelNotFound, NotFound, ProviderNotConfigured
from gateway.providers import health, registry
from gateway.providers.capabilities import Capability, NativeChat
from gateway.providers.credentials import Endpoint
from gateway.services import channels, terms
from gateway.storage.api_keys import ApiKeyRecord
from gateway.storage.profiles import AccountProfile

C = TypeVar("C")


@dataclass(frozen=True)
class Candidate:
    provider: str  # the catalog's provider instance name
    config: ProviderConfig
    model: str  # the upstream's name for the model
    endpoint: Endpoint
    channel: str = ""  # the upstream channel: the provider's name for its built-in one, byok:<provider>
    rpm: int | None = None  # the channel's per-minute caps
    tpm: int | None = None
    own_key: bool = False  # the account's own provider key (bring your own key)

    @property
    def kind(self) -> str:
        return self.config.kind

    def client(self, capability: Capability[C]) -> C:
        return registry.client(self.kind, self.endpoint, capability)

    def native(self, inbound_format: str) -> NativeChat | None:
        """Its client when its upstream speaks `inbound_format` itself, else None (translated to chat)."""
        return registry.native_client(self.kind, self.endpoint, inbound_format, self.config.native_formats)


@dataclass(frozen=True)
class Route:
    entry: ModelEntry  # as this request pays for it (at the account's terms, during admission)
    candidates: tuple[Candidate, ...]  # at least one
    strategy: str = "auto"  # what ordered them: auto (the catalog), vendor, provider_preferences

    @property
    def first(self) -> Candidate:
        return self.candidates[0]


@dataclass(frozen=True)
class Preferences:
    """OpenRouter's `provider` object, and the `vendor` header. `sort`, `max_price` and
    `require_parameters` are applied by chat (services/preferences.py)."""

    order: tuple[str, ...] = ()
    only: tuple[str, ...] | None = None
    ignore: tuple[str, ...] = ()
    allow_fallbacks: bool = True
    source: str = "auto"  # auto, vendor (the header) or provider_preferences (the body's object)
    sort: str | None = None  # price | throughput | latency
    max_price: dict[str, Any] | None = None  # USD: prompt / completion per 1M tokens, request per request
    require_parameters: bool = False

    @classmethod
    def parse(cls, body_field: Any, vendor: str | None) -> Preferences:
        if body_field is None and vendor is None:
            return cls()
        fields = body_field if body_field is not None else {}
        if not isinstance(fields, dict) or set(fields) - PREFERENCE_FIELDS:
            raise InvalidRequest(
                "`provider` takes `order`, `only`, `ignore` (lists of provider names), `allow_fallbacks`, "
                "`sort`, `max_price` and `require_parameters`.",
                param="provider",
            )
        from gateway.services.preferences import checked_extras

        extras = checked_extras(fields)
        names = {name: _names(fields.get(name), name) for name in ("order", "only", "ignore")}
        allow = fields.get("allow_fallbacks", True)
        if not isinstance(allow, bool):
            raise InvalidRequest("`provider.allow_fallbacks` must be true or false.", param="provider.allow_fallbacks")
        if vendor is not None:  # the header pins one provider
            return cls((vendor,), (vendor,), names["ignore"] or (), False, "vendor", **extras)
        return cls(names["order"] or (), names["only"], names["ignore"] or (), allow, "provider_preferences", **extras)


PREFERENCE_FIELDS = {"order", "only", "ignore", "allow_fallbacks", "sort", "max_price", "require_parameters"}


def resolve_model(name: str) -> ModelEntry:
    entry = get_catalog().resolve(name)
    if entry is None:
        raise ModelNotFound(f"The model `{name}` does not exist or is not available.", param="model")
    return entry


def model_allowed(entry: ModelEntry, key: ApiKeyRecord) -> bool:
    """The key's model allow-list names the model (by id or alias) and leaves it a provider."""
    if key.allowed_models is not None and not {entry.id, *entry.aliases} & set(key.allowed_models):
        return False
    return key.allowed_providers is None or any(c.provider in key.allowed_providers for c in entry.providers)


def route_for(
    name: str,
    key: ApiKeyRecord,
    capability: Capability[Any],
    preferences: Preferences | None = None,
    *,
    profile: AccountProfile | None = None,
) -> Route:
    """The route of a model for this key. Made during admission (services/terms.py), it goes to the
    account's own keys where it has them, and its entry is priced at the account's terms."""
    entry = resolve_model(name)
    if not model_allowed(entry, key):
        raise ModelNotAllowed(f"This API key may not use `{entry.id}`.", param="model")
    agreed = terms.current()
    if profile is None and agreed is not None:
        profile = agreed.profile
    strategy = preferences.source if preferences is not None else "auto"
    route = Route(entry, candidates_for(entry, key, capability, preferences, profile=profile), strategy)
    return agreed.price(route) if agreed is not None else route


def candidates_for(
    entry: ModelEntry,
    key: ApiKeyRecord,
    capability: Capability[Any],
    preferences: Preferences | None = None,
    *,
    profile: AccountProfile | None = None,
    own_keys: bool | None = None,
) -> tuple[Candidate, ...]:
    """The channels to try for `entry`, in order: of the providers with the capability, as the
    preferences and the key allow, configured in this deployment; healthy ones first. With the
    account's `profile`, its own keys where it has them (`own_keys`: see channels.candidates).
    Raises the API error when there is none."""
    prefs = preferences or Preferences()
    catalog = get_catalog()
    known = {c.provider for c in entry.providers}
    for requested in (*prefs.order, *(prefs.only or ())):
        if requested not in known:
            raise InvalidRequest(
                f"`{entry.id}` is not served by `{requested}`; it is served by: {', '.join(sorted(known))}.",
                param="provider",
            )
    capable = [c for c in entry.providers if registry.serves(catalog.providers[c.provider].kind, capability)]
    if not capable:
        raise InvalidRequest(f"No provider of `{entry.id}` serves {capability.name}.", param="model")
    ranked = sorted(
        (c for c in capable if prefs.only is None or c.provider in prefs.only),
        key=lambda c: prefs.order.index(c.provider) if c.provider in prefs.order else len(prefs.order),
    )
    allowed = [
        c
        for c in ranked
        if c.provider not in prefs.ignore and (key.allowed_providers is None or c.provider in key.allowed_providers)
    ]
    if not allowed:
        raise ModelNotAllowed(f"No provider this API key and request allow serves `{entry.id}`.", param="provider")
    candidates = channels.candidates(entry, allowed, account_id=key.account_id, profile=profile, own_keys=own_keys)
    if not candidates:
        raise ProviderNotConfigured(f"No provider is configured to serve `{entry.id}`.")
    if not prefs.allow_fallbacks:  # one provider; its channels still stand in for each other
        candidates = [c for c in candidates if c.provider == candidates[0].provider]
    # channels in their cool-down go last, in their order
    candidates.sort(key=lambda c: health.cooling(c.channel or c.provider))
    return tuple(candidates)


def _names(value: Any, field: str) -> tuple[str, ...] | None:
    if value is None:
        return None
    if not isinstance(value, list) or not all(isinstance(v, str) and 0 < len(v) <= 64 for v in value):
        raise InvalidRequest(f"`provider.{field}` must be a list of provider names.", param=f"provider.{field}")
    return tuple(value)


GEMINI_METHODS = {"generateContent": False, "streamGenerateContent": True}


def parse_gemini_target(target: str, alt: str | None = "sse") -> tuple[str, bool]:
    """`gemini-2.5-flash:streamGenerateContent` -> ("gemini-2.5-flash", True). `alt` is the request's
    query parameter: a stream is served as SSE (`alt=sse`, as the google-genai SDKs ask) only; Google
    answers one without it as a JSON array, which the gateway does not serve."""
    model, _, method = target.rpartition(":")
    if not model or method not in GEMINI_METHODS:
        raise NotFound(
            f"`{target[:128]}` is not a model method this gateway serves (generateContent, streamGenerateContent)."
        )
    if GEMINI_METHODS[method] and alt != "sse":
        raise InvalidRequest(
            "This gateway streams `streamGenerateContent` as server-sent events only: add `alt=sse` to the URL.",
            param="alt",
        )
    return model, GEMINI_METHODS[method]
