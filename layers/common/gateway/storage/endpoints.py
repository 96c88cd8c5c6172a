"""Endpoint overrides as the AWS SDKs read them, and whether one is a stand-in on this machine."""

from __future__ import annotations

import os
from urllib.parse import urlparse

_LOOPBACK = frozenset({"127.0.0.1", "localhost", "::1"})


def configured_endpoint(service: str) -> str | None:
    """`AWS_ENDPOINT_URL_<SERVICE>` (DYNAMODB, S3, SQS), else `AWS_ENDPOINT_URL`, else None."""
    return os.environ.get(f"AWS_ENDPOINT_URL_{service}") or os.environ.get("AWS_ENDPOINT_URL")


def is_loopback(endpoint: str | None) -> bool:
    """A stand-in on this machine (DynamoDB Local, moto), which needs no real credentials."""
    return bool(endpoint) and urlparse(endpoint or "").hostname in _LOOPBACK
