"""A refused reservation as the API error the client gets: which limit, in the key's own terms, and
when to retry."""

from __future__ import annotations

from gateway import periods
from gateway.auth.authenticate import Principal
from gateway.errors import ApiDisabled, Forbidden, GatewayError, InsufficientCredits, InvalidApiKey, RateLimited
from gateway.money import display
from gateway.storage.errors import ReservationRefused


def refusal_error(refusal: ReservationRefused, principal: Principal, amount: int, moment: float) -> GatewayError:
    key = principal.key
    parent = principal.parent
    match refusal.reason:
        case "parent_limit" if parent is not None:
            return InsufficientCredits(
                f"The credit limit of the key that created this API key ({display(parent.limit or 0)} credits) "
                f"cannot cover this request (up to {display(amount)} credits)."
            )
        case "parent_rate_limited" if parent is not None:
            return _rate_limited("The key that created this API key", parent.rate_limit, moment)
        case "parent_disabled":
            return ApiDisabled("The key that created this API key is disabled.")
        case "parent_expired":
            return ApiDisabled("The key that created this API key has expired.")
        case "insufficient_credits":
            return InsufficientCredits(
                f"Insufficient credits: this request may cost up to {display(amount)} credits. "
                "Top up, or lower max_tokens."
            )
        case "key_limit":
            period = {"daily": " for today", "weekly": " for this week", "monthly": " for this month"}.get(
                key.limit_reset or "", ""
            )
            return InsufficientCredits(
                f"This API key's credit limit{period} ({display(key.limit or 0)} credits) cannot cover this request "
                f"(up to {display(amount)} credits). Raise the key's limit, or lower max_tokens."
            )
        case "rate_limited":
            return _rate_limited("This API key", key.rate_limit, moment)
        case "key_disabled":
            return ApiDisabled("This API key is disabled.")
        case "account_disabled":
            return ApiDisabled("This account is disabled; contact the operator.")
        case "key_expired":
            return ApiDisabled("This API key has expired.")
        case "key_wrong_kind":
            return Forbidden("Management keys cannot call models.")
        case _:
            return InvalidApiKey("Invalid API key.")


def _rate_limited(whose: str, rate: int | None, moment: float) -> RateLimited:
    wait = periods.seconds_to_next_window(moment)
    return RateLimited(
        f"{whose} allows {rate} requests per minute; retry in {wait}s.",
        headers={"Retry-After": str(wait), **rate_limit_headers(rate or 0, 0, wait)},
    )


def rate_limit_headers(limit: int, remaining: int, reset_seconds: int) -> dict[str, str]:
    return {
        "x-ratelimit-limit-requests": str(limit),
        "x-ratelimit-remaining-requests": str(max(remaining, 0)),
        "x-ratelimit-reset-requests": f"{reset_seconds}s",
    }
