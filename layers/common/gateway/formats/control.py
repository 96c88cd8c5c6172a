"""Request bodies of the control plane: the admin API's codes, channels, groups, and the customer's
top-up (new-api's `POST /api/user/topup`) and own provider keys. Unknown fields are errors; models,
providers, channels, groups and settings are validated whole by the catalog's own schemas
(services/catalog_admin.py), so the two cannot disagree."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Annotated, Any

from pydantic import ConfigDict, Field, StringConstraints, field_validator

from gateway.errors import InvalidRequest
from gateway.formats.wire import Expiry, WireModel
from gateway.money import MAX_CREDITS, credits_to_micro

Secret = Annotated[str, StringConstraints(min_length=1, max_length=4096, pattern=r"^[\x21-\x7e]+$")]
Credits = Annotated[Decimal, Field(gt=0, le=MAX_CREDITS, allow_inf_nan=False)]


class CodeMint(WireModel):
    model_config = ConfigDict(extra="forbid")

    credits: Credits
    count: int = Field(1, strict=True, ge=1, le=1_000)
    expires_at: Expiry | None = None
    expires_in_days: int | None = Field(None, strict=True, ge=1, le=3_650)
    batch: str = Field("", max_length=64)

    @field_validator("credits")
    @classmethod
    def _six_places(cls, value: Decimal) -> Decimal:
        credits_to_micro(value)
        return value

    def amount_micro(self) -> int:
        return credits_to_micro(self.credits)

    def expiry(self) -> int | None:
        """Epoch seconds, from `expires_at` or `expires_in_days` (not both)."""
        if self.expires_at is not None and self.expires_in_days is not None:
            raise InvalidRequest("Give `expires_at` or `expires_in_days`, not both.", param="expires_at")
        if self.expires_in_days is not None:
            return int((datetime.now(UTC) + timedelta(days=self.expires_in_days)).timestamp())
        if self.expires_at is not None:
            return int(self.expires_at.timestamp())
        return None


class CodeUpdate(WireModel):
    model_config = ConfigDict(extra="forbid")

    disabled: bool = Field(strict=True)


class GroupAssignment(WireModel):
    model_config = ConfigDict(extra="forbid")

    group: str | None = Field(max_length=64)  # null: the default group


class TopUp(WireModel):
    """new-api's body: the redemption code in `key`."""

    model_config = ConfigDict(extra="forbid")

    key: str = Field(min_length=1, max_length=128)


class ProviderKeyInput(WireModel):
    model_config = ConfigDict(extra="forbid")

    key: Secret


def channel_input(body: Mapping[str, Any]) -> tuple[dict[str, Any], str | None]:
    """A channel's settings and, apart, the key to store as its secret (`api_key`), if given."""
    spec = dict(body)
    api_key = spec.pop("api_key", None)
    if api_key is not None and not (
        isinstance(api_key, str) and 0 < len(api_key) <= 4096 and api_key.isprintable() and " " not in api_key
    ):
        raise InvalidRequest("`api_key` is 1 to 4,096 printable characters without spaces.", param="api_key")
    return spec, api_key
