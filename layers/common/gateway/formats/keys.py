"""Request bodies of the keys API (and its PotatoRouter / poeti aliases). Unknown fields are errors."""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import ConfigDict, Field, StringConstraints, field_validator, model_validator

from gateway.formats.wire import Expiry, WireModel
from gateway.money import MAX_CREDITS, credits_to_micro

Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]
Identifier = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=128)]
Credits = Annotated[Decimal, Field(ge=0, le=MAX_CREDITS, allow_inf_nan=False)]
Reset = Literal["daily", "weekly", "monthly"]


class _KeyFields(WireModel):
    model_config = ConfigDict(extra="forbid")

    limit: Credits | None = None
    limit_reset: Reset | None = None
    rate_limit: int | None = Field(None, ge=1, le=1_000_000)
    allowed_providers: list[Identifier] | None = Field(None, max_length=64)
    allowed_models: list[Identifier] | None = Field(None, max_length=1_000)
    expires_at: Expiry | None = None

    @field_validator("limit")
    @classmethod
    def _six_places(cls, value: Decimal | None) -> Decimal | None:
        if value is not None:
            credits_to_micro(value)  # raises on more than 6 decimal places
        return value

    def changes(self) -> dict[str, Any]:
        """The fields the client sent (null included: it clears the setting), in storage units."""
        stored: dict[str, Any] = {}
        for name in self.model_fields_set:
            value = getattr(self, name)
            if name == "limit" and value is not None:
                value = credits_to_micro(value)
            elif name == "expires_at" and value is not None:
                value = int(value.timestamp())
            elif name in ("allowed_providers", "allowed_models") and value is not None:
                value = tuple(sorted(set(value)))
            stored[name] = value
        return stored


class KeyCreate(_KeyFields):
    name: Name
    kind: Literal["inference", "management"] = "inference"


class KeyUpdate(_KeyFields):
    name: Name | None = None
    disabled: bool | None = None

    @model_validator(mode="after")
    def _required_values(self) -> KeyUpdate:
        for name in ("name", "disabled"):
            if name in self.model_fields_set and getattr(self, name) is None:
                raise ValueError(f"`{name}` cannot be null")
        return self


class TokenCreate(WireModel):
    """PotatoRouter / one-api `POST /api/token`."""

    model_config = ConfigDict(extra="ignore")

    name: Name
    remain_quota: Credits | None = None
    unlimited_quota: bool | None = None  # not sent: unlimited unless a `remain_quota` is (one-api: false)
    expired_time: int = Field(-1, ge=-1, le=253_402_300_799)  # unix seconds (-1: never), at most year 9999


class ApiKeyCreate(WireModel):
    """poeti `POST /api/v1/api-keys`."""

    model_config = ConfigDict(extra="forbid")

    name: Name
    monthly_budget: Credits | None = None
    rate_limit: int | None = Field(None, ge=1, le=1_000_000)
