"""The DynamoDB client (created on first use) and item (de)serialisation."""

from __future__ import annotations

import os
from functools import lru_cache
from typing import TYPE_CHECKING, Any
from urllib.parse import urlparse

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.client import DynamoDBClient

_LOOPBACK = {"127.0.0.1", "localhost", "::1"}


@lru_cache(maxsize=1)
def client() -> DynamoDBClient:
    """boto3's standard configuration; for DynamoDB Local on loopback, stand-in credentials."""
    import boto3
    from botocore.config import Config

    config = Config(
        retries={"mode": "standard", "max_attempts": 4},
        connect_timeout=2,
        read_timeout=5,
        max_pool_connections=64,
    )
    session = boto3.session.Session()
    return session.client("dynamodb", config=config, **local_stand_in(session, "DYNAMODB"))


def local_stand_in(session: Any, service: str) -> dict[str, Any]:
    """For a stand-in on loopback (DynamoDB Local, moto): credentials and region if none are set."""
    endpoint = os.environ.get(f"AWS_ENDPOINT_URL_{service}") or os.environ.get("AWS_ENDPOINT_URL")
    kwargs: dict[str, Any] = {}
    if endpoint and urlparse(endpoint).hostname in _LOOPBACK:
        if session.get_credentials() is None:
            kwargs.update(aws_access_key_id="local", aws_secret_access_key="local")  # noqa: S106
        if not session.region_name:
            kwargs["region_name"] = "us-east-1"
    return kwargs


@lru_cache(maxsize=1)
def _serializer() -> Any:
    from boto3.dynamodb.types import TypeSerializer

    return TypeSerializer()


@lru_cache(maxsize=1)
def _deserializer() -> Any:
    from boto3.dynamodb.types import TypeDeserializer

    return TypeDeserializer()


def to_attributes(values: dict[str, Any]) -> dict[str, Any]:
    """Plain Python values to DynamoDB attribute values; None values are left out."""
    serialize = _serializer().serialize
    return {name: serialize(value) for name, value in values.items() if value is not None}


def from_item(item: dict[str, Any]) -> dict[str, Any]:
    """A DynamoDB item to plain values; whole numbers come back as int, at any depth."""
    deserialize = _deserializer().deserialize
    return {name: _plain(deserialize(value)) for name, value in item.items()}


def _plain(value: Any) -> Any:
    from decimal import Decimal

    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else value
    if isinstance(value, dict):
        return {name: _plain(inner) for name, inner in value.items()}
    if isinstance(value, list):
        return [_plain(inner) for inner in value]
    return value


def cancellation_codes(error: Exception) -> list[str]:
    """The per-item reason codes of a cancelled transaction, in item order."""
    reasons = getattr(error, "response", {}).get("CancellationReasons", [])
    return [reason.get("Code", "None") for reason in reasons]


def cancellation_items(error: Exception) -> list[dict[str, Any] | None]:
    reasons = getattr(error, "response", {}).get("CancellationReasons", [])
    return [from_item(reason["Item"]) if reason.get("Item") else None for reason in reasons]


def error_code(error: Exception) -> str:
    return str(getattr(error, "response", {}).get("Error", {}).get("Code", ""))
