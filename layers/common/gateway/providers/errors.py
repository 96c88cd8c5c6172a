"""What can go wrong talking to an upstream, independent of its wire format, and what each failure
means for the client: worth another candidate, and which API error it is."""

from __future__ import annotations

import json
import re
from typing import Any

from gateway.errors import GatewayError, ProviderError, ProviderTimeout, RateLimited, UpstreamRejected

# What an upstream's error text may quote of the operator's credentials (a proxy quoting its own
# upstream's URL with `?key=`, a header it was sent): taken out before the text goes anywhere
_URL_USERINFO = re.compile(r"(https?://)[^/\s\"'<>@]*@", re.IGNORECASE)
_URL_QUERY = re.compile(r"(https?://[^\s\"'<>?#]*)\?[^\s\"'<>#]*", re.IGNORECASE)
_NAMED_SECRETS = re.compile(
    r"\b(api[_-]?key|key|token|access[_-]?token|secret|password|signature|authorization|x-goog-api-key|x-api-key)"
    r"(\s*[=:]\s*[\"']?)(?:bearer\s+)?[^\s\"'&,;]+",
    re.IGNORECASE,
)
_KEY_SHAPES = re.compile(
    r"\b(?:bearer\s+[^\s\"',;]+|sk-[A-Za-z0-9_-]{8,}|AIza[0-9A-Za-z_-]{20,}|AKIA[0-9A-Z]{16}|gsk_[A-Za-z0-9]{16,}"
    r"|xai-[A-Za-z0-9]{16,}|ya29\.[0-9A-Za-z_.-]{16,})",
    re.IGNORECASE,
)
MAX_UPSTREAM_TEXT = 1_000


def redacted(text: str) -> str:
    """An upstream's error text as a client, a log or a trace may see it: no URL's query or userinfo,
    no value of a key-like name, nothing shaped like a provider's key; at most MAX_UPSTREAM_TEXT."""
    text = _URL_QUERY.sub(r"\1", _URL_USERINFO.sub(r"\1", text[: MAX_UPSTREAM_TEXT * 4]))
    text = _NAMED_SECRETS.sub(lambda found: f"{found.group(1)}{found.group(2)}[redacted]", text)
    text = _KEY_SHAPES.sub("[redacted]", text)
    return text[:MAX_UPSTREAM_TEXT]


class UpstreamFailure(Exception):
    """The upstream could not give an answer (connection, timeout, 5xx, bad payload)."""

    def __init__(
        self, message: str, *, status: int | None = None, retry_after: str | None = None, usage: Any = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.retry_after = retry_after
        self.usage = usage  # what the upstream reported with its failure (chat's `usage` shape), to charge on


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
    except (ValueError, RecursionError):
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
        return UpstreamRejected(error.status, redacted(error.message), code=error.code, param=error.param)
    if isinstance(error, UpstreamTimeout):
        return ProviderTimeout("The provider did not answer in time.")
    if isinstance(error, UpstreamFailure):
        if error.status == 429:
            headers = {"Retry-After": error.retry_after} if error.retry_after else None
            return RateLimited(
                "The provider is rate limiting requests; retry shortly.", headers=headers, code="provider_rate_limited"
            )
        return ProviderError(f"The provider failed to answer: {redacted(str(error))}")
    return ProviderError("The request was interrupted.", code="interrupted")
