"""The lean DynamoDB client: errors shaped as the repositories read them (against DynamoDB Local), and
retries, CRC checks and lost connections against a scripted server on a real socket. Each test runs
on both transports: http.client in the calling thread, and aiohttp on the event loop through
storage/on_loop.py (the request path)."""

from __future__ import annotations

import asyncio
import json
import threading
import zlib
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from devtools.dynamodb_local import free_port
from gateway.storage import dynamo, on_loop
from gateway.storage.connections import Connections
from gateway.storage.dynamo_client import DynamoClient, DynamoError
from gateway.storage.sigv4 import Credentials
from tests.conftest import TEST_TABLE

Via = Callable[..., Any]


@pytest.fixture(params=["thread", "loop"])
def via(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Via:
    """Calls an operation as the sweeper does (blocking) or as a request does (awaited on the loop,
    where http.client must not be reached)."""
    if request.param == "thread":
        return lambda operation, **params: operation(**params)

    def unused(*args: Any) -> None:
        raise AssertionError("http.client used on the loop")

    monkeypatch.setattr(Connections, "post", unused)

    async def on_the_loop(operation: Callable[..., Any], params: dict[str, Any]) -> Any:
        return await on_loop.run(operation, **params)

    def run(operation: Callable[..., Any], **params: Any) -> Any:
        # a loop of its own, left as asyncio.run leaves one but without unsetting the thread's current
        # loop (Mangum's handlers, tested later in this process, ask for it)
        loop = asyncio.new_event_loop()
        try:
            return loop.run_until_complete(on_the_loop(operation, params))
        finally:
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.close()

    return run


@pytest.fixture
def local(gateway_env: dict[str, str]) -> DynamoClient:
    dynamo.client.cache_clear()
    return dynamo.client()


def test_items_round_trip_and_conditions_fail_with_dynamodbs_own_codes(local: DynamoClient, via: Via) -> None:
    key = {"pk": {"S": "TEST#lean"}, "sk": {"S": "ITEM"}}
    via(local.put_item, TableName=TEST_TABLE, Item={**key, **dynamo.to_attributes({"n": 7, "blob": b"\x00\x01"})})
    item = via(local.get_item, TableName=TEST_TABLE, Key=key, ConsistentRead=True)["Item"]
    assert dynamo.from_item(item)["n"] == 7
    assert dynamo.from_item(item)["blob"] == b"\x00\x01"

    with pytest.raises(DynamoError) as failed:
        via(local.put_item, TableName=TEST_TABLE, Item=key, ConditionExpression="attribute_not_exists(pk)")
    assert failed.value.code == "ConditionalCheckFailedException"
    assert failed.value.response["Error"]["Code"] == "ConditionalCheckFailedException"  # as botocore shapes it

    with pytest.raises(DynamoError) as cancelled:
        via(
            local.transact_write_items,
            TransactItems=[
                {
                    "ConditionCheck": {
                        "TableName": TEST_TABLE,
                        "Key": key,
                        "ConditionExpression": "n > :ten",
                        "ExpressionAttributeValues": {":ten": {"N": "10"}},
                        "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
                    }
                },
                {"Put": {"TableName": TEST_TABLE, "Item": {"pk": {"S": "TEST#lean"}, "sk": {"S": "OTHER"}}}},
            ],
        )
    assert cancelled.value.code == "TransactionCanceledException"
    assert dynamo.cancellation_codes(cancelled.value) == ["ConditionalCheckFailed", "None"]
    assert dynamo.cancellation_items(cancelled.value)[0]["n"] == 7  # type: ignore[index]
    other = {"pk": {"S": "TEST#lean"}, "sk": {"S": "OTHER"}}
    assert "Item" not in via(local.get_item, TableName=TEST_TABLE, Key=other)


def test_a_malformed_request_is_not_retried(local: DynamoClient, via: Via) -> None:
    with pytest.raises(DynamoError) as invalid:
        via(local.get_item, TableName=TEST_TABLE, Key={"nope": {"S": "x"}})
    assert invalid.value.code == "ValidationException"


class Scripted:
    """A server answering each POST with the next scripted (status, body, crc ok) and recording requests."""

    def __init__(self, answers: list[tuple[int, dict[str, Any], bool]]) -> None:
        self.answers = answers
        self.requests: list[tuple[dict[str, str], bytes]] = []
        scripted = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["content-length"]))
                scripted.requests.append(({k.lower(): v for k, v in self.headers.items()}, body))
                status, payload, crc_ok = scripted.answers.pop(0)
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("content-type", "application/x-amz-json-1.0")
                self.send_header("content-length", str(len(data)))
                self.send_header("x-amz-crc32", str(zlib.crc32(data) if crc_ok else 1))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def client(self) -> DynamoClient:
        creds = Credentials("AKIDTEST", "secret", "token")
        return DynamoClient(f"http://127.0.0.1:{self.server.server_port}", "eu-west-1", lambda: creds)


@pytest.fixture
def scripted() -> Iterator[Any]:
    servers: list[Scripted] = []

    def make(answers: list[tuple[int, dict[str, Any], bool]]) -> Scripted:
        servers.append(Scripted(answers))
        return servers[-1]

    yield make
    for server in servers:
        server.server.shutdown()


def test_sends_a_signed_json_request_for_the_operation(scripted: Any, via: Via) -> None:
    server = scripted([(200, {"Item": {"pk": {"S": "x"}}}, True)])
    answer = via(server.client().get_item, TableName="t", Key={"pk": {"S": "x"}})
    assert answer == {"Item": {"pk": {"S": "x"}}}
    headers, body = server.requests[0]
    assert json.loads(body) == {"TableName": "t", "Key": {"pk": {"S": "x"}}}
    assert headers["x-amz-target"] == "DynamoDB_20120810.GetItem"
    assert headers["content-type"] == "application/x-amz-json-1.0"
    assert headers["x-amz-security-token"] == "token"
    assert headers["authorization"].startswith("AWS4-HMAC-SHA256 Credential=AKIDTEST/")
    assert "/eu-west-1/dynamodb/aws4_request" in headers["authorization"]


def test_throttling_server_errors_and_corrupt_answers_are_retried(scripted: Any, via: Via) -> None:
    throttled = {"__type": "com.amazonaws.dynamodb.v20120810#ThrottlingException", "message": "slow down"}
    server = scripted([(400, throttled, True), (500, {}, True), (200, {"Count": 1}, False), (200, {"Count": 2}, True)])
    assert via(server.client().query, TableName="t") == {"Count": 2}
    assert len(server.requests) == 4


def test_retries_stop_after_four_attempts_with_the_last_error(scripted: Any, via: Via) -> None:
    throttled = {"__type": "com.amazonaws.dynamodb.v20120810#ProvisionedThroughputExceededException", "message": "x"}
    server = scripted([(400, throttled, True)] * 4)
    with pytest.raises(DynamoError) as failed:
        via(server.client().update_item, TableName="t")
    assert failed.value.code == "ProvisionedThroughputExceededException"
    assert len(server.requests) == 4


def test_a_conditional_failure_is_raised_at_once_with_the_old_item(scripted: Any, via: Via) -> None:
    failure = {
        "__type": "com.amazonaws.dynamodb.v20120810#ConditionalCheckFailedException",
        "message": "The conditional request failed",
        "Item": {"balance": {"N": "3"}},
    }
    server = scripted([(400, failure, True)])
    with pytest.raises(DynamoError) as failed:
        via(server.client().put_item, TableName="t")
    assert failed.value.response["Item"] == {"balance": {"N": "3"}}
    assert failed.value.response["Error"] == {"Code": "ConditionalCheckFailedException", "Message": failure["message"]}
    assert len(server.requests) == 1


def test_nothing_listening_is_a_dynamo_error_without_a_code(via: Via) -> None:
    creds = Credentials("a", "b")
    client = DynamoClient(f"http://127.0.0.1:{free_port()}", "us-east-1", lambda: creds, connect_timeout=0.5)
    with pytest.raises(DynamoError) as failed:
        via(client.get_item, TableName="t")
    assert failed.value.code == ""
    assert "unreachable" in str(failed.value)


@pytest.mark.parametrize(
    ("endpoint", "host"),
    [
        ("https://dynamodb.eu-west-1.amazonaws.com", "dynamodb.eu-west-1.amazonaws.com"),
        ("https://dynamodb.eu-west-1.amazonaws.com:443/", "dynamodb.eu-west-1.amazonaws.com"),
        ("http://127.0.0.1:8001", "127.0.0.1:8001"),
        ("http://localhost:80", "localhost"),
    ],
)
def test_the_signed_host_is_the_host_header_http_client_sends(endpoint: str, host: str) -> None:
    creds = Credentials("a", "b")
    assert DynamoClient(endpoint, "eu-west-1", lambda: creds).host == host


def test_the_signed_host_matches_what_arrives(scripted: Any, via: Via) -> None:
    server = scripted([(200, {}, True)])
    client = server.client()
    via(client.get_item, TableName="t")
    headers, _ = server.requests[0]
    assert headers["host"] == client.host
    assert "host" in headers["authorization"].split("SignedHeaders=")[1]
