"""A lean DynamoDB client: the JSON 1.0 wire protocol, signed with SigV4, over keep-alive connections:
on the event loop when called through storage/on_loop.py (the request path; storage/loop_wire.py),
else http.client (storage/connections.py: worker threads, the sweeper, the aggregator).

The hot path's two transactions went through boto3 before, whose generic request pipeline (parameter
validation, event hooks, model-driven serialisation and parsing) cost more CPU than the rest of a
request, and whose import cost ~190 ms of every cold start. The operations take and return exactly
what boto3's low-level client does (DynamoDB JSON), so repositories read the same either way.
"""

from __future__ import annotations

import base64
import json
import os
import random
import uuid
import zlib
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlparse

from gateway.loop_sessions import session_for
from gateway.observability import aws_subsegment
from gateway.storage import on_loop
from gateway.storage.connections import TRANSPORT_ERRORS, Answer, Connections
from gateway.storage.endpoints import configured_endpoint, is_loopback
from gateway.storage.loop_wire import LoopWire
from gateway.storage.sigv4 import Credentials, signed_headers

_TARGET = "DynamoDB_20120810."
# Errors worth another attempt (boto3's standard retry mode retries the same ones).
_RETRYABLE = {
    "ThrottlingException",
    "ProvisionedThroughputExceededException",
    "RequestLimitExceeded",
    "LimitExceededException",
    "InternalServerError",
    "ServiceUnavailable",
    "TransactionInProgressException",
    "TransactionConflictException",  # a single write met a transaction on its item: it was not applied
}
MAX_ATTEMPTS = 4
KEEP_ALIVE_SECONDS = 60.0  # an idle connection older than this is not reused (a Lambda thawed later reconnects)


class DynamoError(Exception):
    """An error answer (`code` is the exception name DynamoDB sent) or no answer at all (`code` "")."""

    def __init__(self, code: str, message: str, response: dict[str, Any] | None = None) -> None:
        super().__init__(f"{code}: {message}" if code else message)
        self.code = code
        # The shape of botocore's ClientError.response: {"Error": {"Code", "Message"}, **the rest of the body}
        self.response: dict[str, Any] = {**(response or {}), "Error": {"Code": code, "Message": message}}


class DynamoClient:
    def __init__(
        self,
        endpoint: str,
        region: str,
        credentials: Callable[[], Credentials],  # called per request: temporary credentials may refresh
        *,
        connect_timeout: float = 2.0,
        read_timeout: float = 5.0,
        max_connections: int = 64,
    ) -> None:
        self.endpoint = endpoint.rstrip("/") + "/"
        self.host = _host_header(endpoint)
        self.region = region
        self._credentials = credentials
        self._http = Connections(
            endpoint, connect_timeout=connect_timeout, read_timeout=read_timeout, max_idle=max_connections
        )
        self._timeouts = (connect_timeout, read_timeout)
        self._max_connections = max_connections

    def call(self, operation: str, params: dict[str, Any]) -> dict[str, Any]:
        """One DynamoDB operation, retried (jittered backoff) on throttling, 5xx and lost connections;
        an X-Ray subsegment when the invocation is traced."""
        table = params.get("TableName")
        named = {"table_name": table} if table else {}
        with aws_subsegment("DynamoDB", operation, detached=on_loop.inside(), region=self.region, **named):
            return self._call(operation, params)

    def _call(self, operation: str, params: dict[str, Any]) -> dict[str, Any]:
        body = json.dumps(params, separators=(",", ":"), default=_json_default).encode()
        for attempt in range(MAX_ATTEMPTS):
            try:
                return self._send(operation, body)
            except DynamoError as error:
                if attempt + 1 == MAX_ATTEMPTS or not _retryable(error):
                    raise
            on_loop.pause(random.uniform(0, min(1.0, 0.025 * 2**attempt)))
        raise AssertionError("unreachable")

    def _send(self, operation: str, body: bytes) -> dict[str, Any]:
        headers = signed_headers(
            host=self.host,
            headers={"content-type": "application/x-amz-json-1.0", "x-amz-target": _TARGET + operation},
            body=body,
            credentials=self._credentials(),
            region=self.region,
            service="dynamodb",
            now=datetime.now(UTC),
        )
        try:
            if on_loop.inside():
                answer = on_loop.wait(self._posted(body, headers))
            else:
                answer = self._http.post("/", body, headers)
        except TRANSPORT_ERRORS as error:
            raise DynamoError("", f"DynamoDB unreachable: {type(error).__name__}") from error
        data = answer.data
        crc = answer.headers.get("x-amz-crc32")
        if crc is not None and int(crc) != zlib.crc32(data):
            raise DynamoError("", "DynamoDB answer failed its CRC32 check")
        try:
            payload = json.loads(data) if data else {}
        except ValueError:
            raise DynamoError("", f"DynamoDB answered HTTP {answer.status} without JSON") from None
        if answer.status == 200:
            return dict(payload)
        kind = str(payload.pop("__type", "")).rpartition("#")[2] or f"HTTP{answer.status}"
        message = str(payload.pop("message", payload.pop("Message", "")))
        raise DynamoError(kind, message, {**payload, "HTTPStatusCode": answer.status})

    async def _posted(self, body: bytes, headers: dict[str, str]) -> Answer:
        wire = await session_for("dynamodb", self._wire)
        try:
            return await wire.post(body, headers)
        except (OSError, ValueError) as error:  # timeouts are OSErrors, as http.client's are (TRANSPORT_ERRORS)
            raise DynamoError("", f"DynamoDB unreachable: {type(error).__name__}") from error

    def _wire(self) -> LoopWire:
        connect, read = self._timeouts
        return LoopWire(
            self.endpoint, self.host, connect_timeout=connect, read_timeout=read,
            max_connections=self._max_connections, keep_alive=KEEP_ALIVE_SECONDS,
        )  # fmt: skip

    # The operations the gateway uses, with boto3's low-level names and parameters.
    def get_item(self, **params: Any) -> dict[str, Any]:
        return self.call("GetItem", params)

    def put_item(self, **params: Any) -> dict[str, Any]:
        return self.call("PutItem", params)

    def update_item(self, **params: Any) -> dict[str, Any]:
        return self.call("UpdateItem", params)

    def delete_item(self, **params: Any) -> dict[str, Any]:
        return self.call("DeleteItem", params)

    def query(self, **params: Any) -> dict[str, Any]:
        return self.call("Query", params)

    def query_all(self, **params: Any) -> list[dict[str, Any]]:
        """Every item the query matches, page after page (a page stops at 1 MB)."""
        items: list[dict[str, Any]] = []
        while True:
            page = self.query(**params)
            items.extend(page.get("Items", []))
            if "LastEvaluatedKey" not in page:
                return items
            params = {**params, "ExclusiveStartKey": page["LastEvaluatedKey"]}

    def scan(self, **params: Any) -> dict[str, Any]:
        return self.call("Scan", params)

    def batch_write_item(self, **params: Any) -> dict[str, Any]:
        return self.call("BatchWriteItem", params)

    def transact_write_items(self, **params: Any) -> dict[str, Any]:
        """With a ClientRequestToken of its own: the retry of a transaction whose answer was lost (a
        timeout after it committed) succeeds without applying it again, for 10 minutes."""
        return self.call("TransactWriteItems", {"ClientRequestToken": uuid.uuid4().hex, **params})

    def transact_get_items(self, **params: Any) -> dict[str, Any]:
        return self.call("TransactGetItems", params)

    def batch_get_item(self, **params: Any) -> dict[str, Any]:
        return self.call("BatchGetItem", params)


def _host_header(endpoint: str) -> str:
    """The Host header http.client sends (and SigV4 signs): the port only when it is not the scheme's default."""
    url = urlparse(endpoint)
    default = {"https": 443, "http": 80}.get(url.scheme)
    host = url.hostname or ""
    host = f"[{host}]" if ":" in host else host
    return host if url.port in (None, default) else f"{host}:{url.port}"


def _retryable(error: DynamoError) -> bool:
    return not error.code or error.code in _RETRYABLE or error.response.get("HTTPStatusCode", 0) >= 500


def _json_default(value: Any) -> Any:
    if isinstance(value, bytes | bytearray):
        return base64.b64encode(value).decode()
    raise TypeError(f"{type(value).__name__} is not a DynamoDB wire value")


def from_environment() -> DynamoClient:
    """Endpoint, region and credentials as the AWS SDKs find them: environment first (always set in
    Lambda), else the shared config files via botocore (developer machines only); stand-ins for a
    DynamoDB Local on loopback."""
    endpoint = configured_endpoint("DYNAMODB")
    local = is_loopback(endpoint)
    region = os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION")
    access_key, secret_key = os.environ.get("AWS_ACCESS_KEY_ID"), os.environ.get("AWS_SECRET_ACCESS_KEY")
    credentials: Callable[[], Credentials]
    if access_key and secret_key:
        fixed = Credentials(access_key, secret_key, os.environ.get("AWS_SESSION_TOKEN") or None)
        credentials = lambda: fixed  # noqa: E731
    else:
        credentials, region = _from_shared_config(region, local)
    region = region or "us-east-1"
    return DynamoClient(endpoint or f"https://dynamodb.{region}.amazonaws.com", region, credentials)


def _from_shared_config(region: str | None, local: bool) -> tuple[Callable[[], Credentials], str | None]:
    import botocore.session

    session = botocore.session.get_session()
    found = session.get_credentials()
    if found is None:
        if not local:
            raise DynamoError("", "no AWS credentials found")
        stand_in = Credentials("local", "local")
        return (lambda: stand_in), region

    def current() -> Credentials:
        frozen = found.get_frozen_credentials()  # refreshes temporary credentials when due
        return Credentials(str(frozen.access_key), str(frozen.secret_key), frozen.token)

    return current, region or session.get_config_variable("region")
