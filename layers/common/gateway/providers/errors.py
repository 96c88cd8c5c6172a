"""What can go wrong talking to an upstream, independent of its wire format."""

from __future__ import annotations

import json
from typing import Any


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
