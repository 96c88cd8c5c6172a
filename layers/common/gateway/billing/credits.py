"""Reserve and settle a request's credits; map storage refusals to API errors."""

from __future__ import annotations

import time
from dataclasses import dataclass

from gateway.auth.authenticate import Principal, forget
from gateway.clock import day_from_epoch, iso_from_epoch, now_epoch
from gateway.config import get_settings
from gateway.errors import ApiDisabled, Forbidden, GatewayError, InsufficientCredits, InvalidApiKey, ServiceUnavailable
from gateway.observability import logger
from gateway.storage.credits import CreditRepository, LedgerEntry, Reservation
from gateway.storage.errors import ReservationRefused, StorageUnavailable

EXPIRED = "reservation_expired"


@dataclass(frozen=True)
class Outcome:
    """How a request ended, as the settlement needs it."""

    endpoint: str
    provider: str | None
    http_status: int
    error_code: str | None
    prompt_tokens: int
    completion_tokens: int
    cost: int  # micro-credits the usage is worth (0 for failures)
    latency_ms: int
    upstream_latency_ms: int | None = None
    ttft_ms: int | None = None
    stream: bool = False
    usage_estimated: bool = False

    @property
    def succeeded(self) -> bool:
        return self.error_code is None


def _repository() -> CreditRepository:
    return CreditRepository(get_settings().table_name)


def reserve(principal: Principal, model: str, amount: int, trace_id: str) -> Reservation:
    moment = time.time()
    now = int(moment)
    reservation = Reservation(
        trace_id=trace_id,
        account_id=principal.account_id,
        key_hash=principal.key_hash,
        key_prefix=principal.key_prefix,
        model=model,
        amount=amount,
        created_at=iso_from_epoch(moment),
        expires_at=now + get_settings().reservation_ttl_seconds,
    )
    try:
        _repository().reserve(reservation, now)
    except ReservationRefused as refusal:
        raise _refusal_error(refusal, principal, amount) from refusal
    except StorageUnavailable as error:
        raise ServiceUnavailable("The credit store is busy; retry shortly.", headers={"Retry-After": "1"}) from error
    return reservation


def settle(reservation: Reservation, outcome: Outcome) -> LedgerEntry | None:
    """Charge what the usage is worth, at most what was held; refund the rest.

    Returns None when the reservation had already been settled (by the sweeper, say).
    """
    now = now_epoch()
    charged = min(outcome.cost, reservation.amount)
    if outcome.cost > reservation.amount:
        logger().warning(
            "usage exceeded reservation; charge capped",
            extra={"reserved": reservation.amount, "cost": outcome.cost, "model": reservation.model},
        )
    entry = LedgerEntry(
        trace_id=reservation.trace_id,
        account_id=reservation.account_id,
        key_hash=reservation.key_hash,
        key_prefix=reservation.key_prefix,
        model=reservation.model,
        provider=outcome.provider,
        endpoint=outcome.endpoint,
        status=_status(outcome),
        http_status=outcome.http_status,
        error_code=outcome.error_code,
        prompt_tokens=outcome.prompt_tokens,
        completion_tokens=outcome.completion_tokens,
        credits=charged,
        reserved=reservation.amount,
        latency_ms=outcome.latency_ms,
        upstream_latency_ms=outcome.upstream_latency_ms,
        ttft_ms=outcome.ttft_ms,
        stream=outcome.stream,
        usage_estimated=outcome.usage_estimated,
        created_at=reservation.created_at,
        day=day_from_epoch(now),
    )
    retention = now + get_settings().trace_retention_days * 86_400
    if not _repository().settle(reservation, entry, retention):
        logger().error("reservation was already settled", extra={"trace_id": reservation.trace_id})
        return None
    return entry


def _status(outcome: Outcome) -> str:
    if outcome.succeeded:
        return "success"
    return "expired" if outcome.error_code == EXPIRED else "error"


def _refusal_error(refusal: ReservationRefused, principal: Principal, amount: int) -> GatewayError:
    forget(principal.key_hash)
    match refusal.reason:
        case "insufficient_credits":
            return InsufficientCredits(
                "Insufficient credits: this request may cost up to "
                f"{amount / 1_000_000:.6f} credits. Top up, or lower max_tokens."
            )
        case "key_disabled":
            return ApiDisabled("This API key is disabled.")
        case "key_expired":
            return ApiDisabled("This API key has expired.")
        case "key_wrong_kind":
            return Forbidden("Management keys cannot call models.")
        case _:
            return InvalidApiKey("Invalid API key.")
