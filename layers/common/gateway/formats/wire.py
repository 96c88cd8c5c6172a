"""Base of every inbound request schema, and the bounded numbers every format's fields are made of.

A client's numbers are hostile: each one is checked here (strictly typed: `true`, `"5"` and `5.0`
are not token counts) before any credit is touched, so no field can make a hold negative or huge."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, Field, model_validator

from gateway.errors import InvalidRequest

# The most output tokens any request may name; each model's own cap (the catalog) is lower.
MAX_OUTPUT_TOKENS = 1_000_000
MAX_CHOICES = 128
MAX_SEED = 2**63 - 1

OutputTokens = Annotated[int, Field(strict=True, ge=1, le=MAX_OUTPUT_TOKENS)]
Choices = Annotated[int, Field(strict=True, ge=1, le=MAX_CHOICES)]
Seed = Annotated[int, Field(strict=True, ge=-MAX_SEED - 1, le=MAX_SEED)]
Seed32 = Annotated[int, Field(strict=True, ge=-(2**31), le=2**31 - 1)]  # Gemini's seed is an int32
TopLogprobs = Annotated[int, Field(strict=True, ge=0, le=20)]
TopK = Annotated[int, Field(strict=True, ge=0, le=1_000_000)]
Temperature = Annotated[float, Field(strict=True, ge=0, le=2, allow_inf_nan=False)]
UnitInterval = Annotated[float, Field(strict=True, ge=0, le=1, allow_inf_nan=False)]
Penalty = Annotated[float, Field(strict=True, ge=-2, le=2, allow_inf_nan=False)]
LogitBias = Annotated[float, Field(strict=True, ge=-100, le=100, allow_inf_nan=False)]
# OpenAI's `metadata` (also OpenRouter's): at most 16 pairs, keys up to 64 characters, values up to 512
Metadata = Annotated[
    dict[Annotated[str, Field(max_length=64)], Annotated[str, Field(max_length=512)]], Field(max_length=16)
]
# OpenRouter's `models`: the models to fall back on, in order
ModelNames = Annotated[list[Annotated[str, Field(min_length=1, max_length=256)]], Field(max_length=8)]
User = Annotated[str, Field(max_length=512)]  # who the end user is, as the client names them
MAX_EXPIRY = timedelta(days=36_500)  # a key's or code's end: further out, it would not render (year 10000)


def _expiry(value: datetime) -> datetime:
    moment = value if value.tzinfo else value.replace(tzinfo=UTC)  # a moment without a zone is UTC
    now = datetime.now(UTC)
    if moment <= now:
        raise ValueError("expires_at must be in the future")
    if moment - now > MAX_EXPIRY:
        raise ValueError("expires_at must be within 100 years")
    return moment


Expiry = Annotated[datetime, AfterValidator(_expiry)]
# OpenAI's processing tiers the catalog's prices cover: `priority` (and `scale`) are billed above list
# prices, which nothing in the catalog prices, so a request naming them is refused
ServiceTier = Literal["auto", "default", "flex"]


def encodable(data: Any) -> Any:
    """JSON may carry lone UTF-16 surrogates ("\\ud800"); such text cannot be sent on as UTF-8, nor
    stored and rendered again."""
    try:
        json.dumps(data, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError as error:
        raise ValueError("text must be valid Unicode (it holds an unpaired surrogate)") from error
    except (TypeError, ValueError):
        pass  # not JSON-shaped: the field validators say what is wrong
    return data


# A JSON object body checked only for what no later schema can refuse (the admin API's documents,
# validated whole by the catalog's own schemas)
JsonObject = Annotated[dict[str, Any], AfterValidator(encodable)]


class WireModel(BaseModel):
    @model_validator(mode="before")
    @classmethod
    def _encodable(cls, data: Any) -> Any:
        return encodable(data)

    def sent(self, *, by_alias: bool = False) -> dict[str, Any]:
        """The body as the client sent it (fields it did not send stay absent). JSON nested deeper than
        pydantic serializes (~255 levels, which the validation let through) is the client's error."""
        try:
            return self.model_dump(mode="json", exclude_unset=True, by_alias=by_alias)
        except ValueError as error:  # "Circular reference detected (depth exceeded)"
            raise InvalidRequest("The body is nested too deeply.") from error
