"""What can go wrong talking to an upstream, independent of its wire format, and what each failure
means for the client: worth another candidate, and which API error it is."""

from __future__ import annotations

import json
from typing import Any

from gateway.errors import GatewayError, ProviderError, ProviderTimeout, RateLimited, UpstreamRejected


class UpstreamFailure(Exception):
    """The upstream could not give an answer (connection, timeout, 5xx, bad payload)."""

    def __init__(self, message: str, *, status: int | None = None, retry_after: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.retry_after = retry_after


class UpstreamTimeout(UpstreamFailure):
    pass


class UpstreamRefusal(Exception):
    """The upstream answered 4xx about the request itself (not our credentials)."""

    def __init__(self, status: int, message: str, *, code: str | None = None, param: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.code = code
        self.param = param


def error_member(body: bytes) -> Any:
    """The `error` member of a JSON error body (a dict or a string), or None when there is none."""
    try:
        payload = json.loads(body)
    except ValueError:
        return None
    return payload.get("error") if isinstance(payload, dict) else None


def may_fall_back(error: BaseException) -> bool:
    """Connection errors, timeouts, 429 and 5xx: the upstream's trouble, worth another candidate."""
    return isinstance(error, UpstreamFailure)


def api_error(error: BaseException) -> GatewayError:
    """The API error a failure is answered with (a GatewayError already is one)."""
    if isinstance(error, GatewayError):
        return error
    if isinstance(error, UpstreamRefusal):
        return UpstreamRejected(error.status, error.message, code=error.code, param=error.param)
    if isinstance(error, UpstreamTimeout):
        return ProviderTimeout("The provider did not answer in time.")
    if isinstance(error, UpstreamFailure):
        if error.status == 429:
            headers = {"Retry-After": error.retry_after} if error.retry_after else None
            return RateLimited(
                "The provider is rate limiting requests; retry shortly.", headers=headers, code="provider_rate_limited"
            )
        return ProviderError(f"The provider failed to answer: {error}")
    return ProviderError("The request was interrupted.", code="interrupted")
