"""The runtime catalog: the shipped models.yaml, or what operators made of it in the table (models,
providers, upstream channels, price groups, settings), as one immutable `Snapshot` with its version."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator

from gateway.catalog.registry import UPSTREAM_NAME_LENGTH, Catalog, ModelEntry, Pricing
from gateway.money import exactly

Slug = Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9._-]{0,62}$")]
ModelName = Annotated[str, StringConstraints(max_length=200)]
UpstreamName = Annotated[str, StringConstraints(max_length=UPSTREAM_NAME_LENGTH)]
DEFAULT_GROUP = "default"
_URL = re.compile(r"^https?://[^\s/?#]+(?:/[^\s?#]*)?$")


class Channel(BaseModel):
    """One upstream of a provider: where it is, the secret that authenticates to it (a reference to a
    Secrets Manager secret, never the key), what it serves, how it shares traffic and its caps."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: Slug
    provider: str = Field(min_length=1, max_length=64)
    base_url: str | None = Field(None, max_length=2048)  # None: the provider's
    secret_ref: str | None = Field(None, max_length=2048)
    key_version: int = Field(0, ge=0)  # bumped when its key is replaced: processes read the secret again
    models: tuple[ModelName, ...] = Field((), max_length=1000)  # catalog ids it serves (none: all of its provider's)
    # catalog id -> upstream name
    model_map: dict[ModelName, UpstreamName] = Field(default_factory=dict, max_length=1000)
    priority: int = Field(0, ge=-1000, le=1000)  # higher first
    weight: int = Field(1, ge=0, le=10_000)  # share of its priority's traffic (0: only when the others fail)
    rpm: int | None = Field(None, ge=1, le=10_000_000)  # requests per minute
    tpm: int | None = Field(None, ge=1, le=10_000_000_000)  # tokens per minute
    enabled: bool = True
    note: str = Field("", max_length=500)

    @field_validator("base_url")
    @classmethod
    def _http_url(cls, value: str | None) -> str | None:
        if value is not None and not _URL.match(value):
            raise ValueError("base_url must be an http(s) URL")
        return value.rstrip("/") if value else value

    def serves(self, model_id: str) -> bool:
        return self.enabled and (not self.models or model_id in self.models)

    def upstream_model(self, model_id: str, catalog_name: str) -> str:
        return self.model_map.get(model_id, catalog_name)


class PriceGroup(BaseModel):
    """A price ratio applied to every catalog price for the accounts in the group."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: Slug
    ratio: Decimal = Field(ge=0, le=100, max_digits=12, decimal_places=6, allow_inf_nan=False)
    note: str = Field("", max_length=500)


class ControlSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    # What a request served with the account's own provider key pays, as a percentage of the price
    byok_fee_percent: Decimal = Field(Decimal(5), ge=0, le=100, max_digits=9, decimal_places=6, allow_inf_nan=False)


@dataclass(frozen=True)
class Snapshot:
    version: int  # 0: the shipped catalog (nothing in the table)
    catalog: Catalog
    channels: tuple[Channel, ...] = ()
    groups: Mapping[str, PriceGroup] = field(default_factory=dict)
    settings: ControlSettings = field(default_factory=ControlSettings)

    def channels_of(self, provider: str, model_id: str) -> list[Channel]:
        """The provider's enabled channels that serve the model."""
        return [channel for channel in self.channels if channel.provider == provider and channel.serves(model_id)]

    def group_ratio(self, group: str | None) -> Decimal:
        """An account's price ratio: its group's, else the default group's, else 1."""
        found = self.groups.get(group or DEFAULT_GROUP) or self.groups.get(DEFAULT_GROUP)
        return found.ratio if found is not None else Decimal(1)

    def byok_ratio(self) -> Decimal:
        return self.settings.byok_fee_percent / 100


@dataclass(frozen=True)
class PriceBasis:
    """What one request's prices are made of: the catalog version, and the ratio applied to its
    prices (the account's price group, times the own-key fee when routed to the account's own key)."""

    catalog_version: int
    ratio: Decimal
    own_key: bool = False
    profile_version: int = 0  # the account profile (group, own keys) the ratio came from


@exactly
def scaled(pricing: Pricing, ratio: Decimal) -> Pricing:
    """Every price of `pricing` times `ratio` (token, tier, cache, request, image, character and
    audio prices alike), exactly: Decimal arithmetic, rounded only when a cost is."""
    if ratio == 1:
        return pricing
    return Pricing.model_validate(_times(pricing.model_dump(), ratio), context={"scaled": True})


def priced(entry: ModelEntry, ratio: Decimal) -> ModelEntry:
    """The model as one account pays for it."""
    return entry if ratio == 1 else entry.model_copy(update={"pricing": scaled(entry.pricing, ratio)})


def _times(value: Any, ratio: Decimal) -> Any:
    if isinstance(value, Decimal):
        return value * ratio
    if isinstance(value, dict):
        return {name: _times(inner, ratio) for name, inner in value.items()}
    if isinstance(value, list | tuple):
        return [_times(inner, ratio) for inner in value]
    return value  # thresholds (above_prompt_tokens) are counts, not prices
