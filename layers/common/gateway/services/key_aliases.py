"""The keys API in other platforms' shapes: PotatoRouter/one-api `/api/token`, poeti `/api/v1/api-keys`."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from pydantic import ValidationError

from gateway.config import get_settings
from gateway.errors import InvalidRequest
from gateway.formats.keys import ApiKeyCreate, KeyCreate, TokenCreate
from gateway.money import credits_for_usd, display, usd
from gateway.storage.api_keys import ApiKeyRecord

# the aliases' names of the native fields, for errors to name the field the client sent
TOKEN_FIELDS = {"limit": "remain_quota", "expires_at": "expired_time"}
API_KEY_FIELDS = {"limit": "monthly_budget"}


def from_token(body: TokenCreate) -> KeyCreate:
    fields: dict[str, Any] = {"name": body.name}
    if body.unlimited_quota is not True and body.remain_quota is not None:
        fields["limit"] = body.remain_quota
    if body.expired_time != -1:
        fields["expires_at"] = datetime.fromtimestamp(body.expired_time, UTC)
    return key_create(fields, TOKEN_FIELDS)


def from_api_key(body: ApiKeyCreate) -> KeyCreate:
    fields: dict[str, Any] = {"name": body.name, "rate_limit": body.rate_limit}
    if body.monthly_budget is not None:  # US dollars, as poeti's costs are: the credits they buy
        budget = credits_for_usd(body.monthly_budget, get_settings().credit_price_usd)
        fields.update(limit=budget, limit_reset="monthly")
    return key_create(fields, API_KEY_FIELDS)


def key_create(fields: dict[str, Any], names: dict[str, str]) -> KeyCreate:
    """The native request; what it refuses (an expiry in the past, say) is a 400 naming the alias's field
    (`names`: native field -> the alias's)."""
    try:
        return KeyCreate.model_validate(fields)
    except ValidationError as error:
        first = error.errors()[0]
        field = str(first["loc"][0]) if first.get("loc") else "body"
        reason = str(first.get("msg", "invalid value")).removeprefix("Value error, ")
        raise InvalidRequest(f"Invalid `{names.get(field, field)}`: {reason}.", param=names.get(field, field)) from None


def token_view(view: dict[str, Any], record: ApiKeyRecord) -> dict[str, Any]:
    """one-api's token: status 1 enabled / 2 disabled, unix times, -1 for never, quotas in credits."""
    return {
        "id": record.key_hash,
        "name": record.name,
        "key": record.key_prefix,
        "status": 2 if record.disabled else 1,
        "created_time": _unix(record.created_at),
        "expired_time": record.expires_at if record.expires_at is not None else -1,
        "remain_quota": view["limit_remaining"] if view["limit_remaining"] is not None else -1,
        "unlimited_quota": record.limit is None,
        "used_quota": display(record.total_credits),
    }


def api_key_view(record: ApiKeyRecord) -> dict[str, Any]:
    """poeti's key: is_active, total_requests, total_cost and monthly_budget (in US dollars, as its
    usage and traces' costs are), rate_limit."""
    price, monthly = get_settings().credit_price_usd, record.limit_reset == "monthly"
    return {
        "id": record.key_hash,
        "name": record.name,
        "key_prefix": record.key_prefix,
        "is_active": not record.disabled,
        "monthly_budget": usd(record.limit, price) if monthly and record.limit is not None else None,
        "rate_limit": record.rate_limit,
        "total_requests": record.total_requests,
        "total_cost": usd(record.total_credits, price),
        "created_at": record.created_at,
    }


def _unix(iso: str) -> int:
    return int(datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp())
