"""The DynamoDB clients (created on first use) and item (de)serialisation.

`client()` is the lean wire client every repository uses; `boto3_client()` is boto3's, for tools
(creating tables, waiters) and Powertools' idempotency layer (only requests with an Idempotency-Key).
"""

from __future__ import annotations

import base64
from decimal import Decimal
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from gateway.storage.dynamo_client import DynamoClient, DynamoError, from_environment
from gateway.storage.endpoints import configured_endpoint, is_loopback

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.client import DynamoDBClient

__all__ = ["DynamoError", "TableRepository", "boto3_client", "client", "from_item", "to_attributes"]


@lru_cache(maxsize=1)
def client() -> DynamoClient:
    return from_environment()


@lru_cache(maxsize=1)
def boto3_client() -> DynamoDBClient:
    """boto3's client (standard retries); for DynamoDB Local on loopback, stand-in credentials."""
    import boto3
    from botocore.config import Config

    config = Config(retries={"mode": "standard", "max_attempts": 4}, connect_timeout=2, read_timeout=5)
    session = boto3.session.Session()
    return session.client("dynamodb", config=config, **local_stand_in(session, "DYNAMODB"))


class TableRepository:
    """Base of the repositories of the gateway's table. `db` is the process's client, unless one was
    given (a test's recording client, say)."""

    def __init__(self, table: str, client: DynamoClient | None = None) -> None:
        self.table = table
        self._client = client

    @property
    def db(self) -> DynamoClient:
        return self._client if self._client is not None else client()


def local_stand_in(session: Any, service: str) -> dict[str, Any]:
    """For a stand-in on loopback (DynamoDB Local, moto): credentials and region if none are set."""
    kwargs: dict[str, Any] = {}
    if is_loopback(configured_endpoint(service)):
        if session.get_credentials() is None:
            kwargs.update(aws_access_key_id="local", aws_secret_access_key="local")  # noqa: S106
        if not session.region_name:
            kwargs["region_name"] = "us-east-1"
    return kwargs


def to_attributes(values: dict[str, Any]) -> dict[str, Any]:
    """Plain Python values to DynamoDB attribute values; None values are left out."""
    return {name: to_attribute(value) for name, value in values.items() if value is not None}


def to_attribute(value: Any) -> dict[str, Any]:
    """As boto3's TypeSerializer: str, bool, int/Decimal (not float), bytes, None, dicts, lists, sets."""
    if isinstance(value, str):
        return {"S": value}
    if isinstance(value, bool):
        return {"BOOL": value}
    if isinstance(value, int | Decimal):
        return {"N": str(value)}
    if value is None:
        return {"NULL": True}
    if isinstance(value, dict):
        return {"M": {str(name): to_attribute(inner) for name, inner in value.items()}}
    if isinstance(value, list | tuple):
        return {"L": [to_attribute(inner) for inner in value]}
    if isinstance(value, bytes | bytearray):
        return {"B": bytes(value)}
    if isinstance(value, set | frozenset) and value:
        if all(isinstance(inner, str) for inner in value):
            return {"SS": sorted(value)}
        if all(isinstance(inner, int | Decimal) and not isinstance(inner, bool) for inner in value):
            return {"NS": [str(inner) for inner in value]}
    raise TypeError(f"cannot store a {type(value).__name__} in DynamoDB")


def from_item(item: dict[str, Any]) -> dict[str, Any]:
    """A DynamoDB item to plain values; whole numbers come back as int, at any depth."""
    return {name: from_attribute(value) for name, value in item.items()}


def from_attribute(value: dict[str, Any]) -> Any:
    ((kind, inner),) = value.items()
    if kind == "S":
        return inner
    if kind == "N":
        return _number(inner)
    if kind == "BOOL":
        return bool(inner)
    if kind == "NULL":
        return None
    if kind == "M":
        return {name: from_attribute(nested) for name, nested in inner.items()}
    if kind == "L":
        return [from_attribute(nested) for nested in inner]
    if kind == "B":
        return _binary(inner)
    if kind == "SS":
        return set(inner)
    if kind == "NS":
        return {_number(number) for number in inner}
    if kind == "BS":
        return {_binary(blob) for blob in inner}
    raise ValueError(f"unknown DynamoDB attribute type {kind}")


def _number(text: str) -> int | Decimal:
    number = Decimal(text)
    return int(number) if number == number.to_integral_value() else number


def _binary(value: str | bytes) -> bytes:
    return value if isinstance(value, bytes) else base64.b64decode(value)


def cancellation_codes(error: DynamoError) -> list[str]:
    """The per-item reason codes of a cancelled transaction, in item order."""
    return [reason.get("Code", "None") for reason in error.response.get("CancellationReasons", [])]


def cancellation_items(error: DynamoError) -> list[dict[str, Any] | None]:
    """The items whose condition failed, as they stood (for ReturnValuesOnConditionCheckFailure), in item order."""
    reasons = error.response.get("CancellationReasons", [])
    return [from_item(reason["Item"]) if reason.get("Item") else None for reason in reasons]
