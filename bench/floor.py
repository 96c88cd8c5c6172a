"""The bench's floor: what the gateway's stack and its three round trips cost with none of its logic.

FastAPI under uvicorn (as functions/chat/run.sh serves the gateway, uvloop and httptools included)
and, per chat request, the gateway's three network calls over aiohttp: a signed conditional
UpdateItem (the hold), the upstream call (a stream relayed as its bytes arrive), and a signed
two-item TransactWriteItems (the settlement: the balance and a ledger entry), in a table of its own.
No auth, pricing, routing, validation, metrics or trace: the rest of the gateway's CPU per request is
its own work. Portkey makes one of these round trips per request.

Run: FLOOR_DYNAMODB=... FLOOR_UPSTREAM=... python -m uvicorn bench.floor:app
"""

from __future__ import annotations

import json
import os
import sys
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
from fastapi import FastAPI, Request
from starlette.responses import Response, StreamingResponse

from bench.procs import Child
from gateway.storage.loop_wire import LoopWire
from gateway.storage.sigv4 import Credentials, signed_headers

TABLE = "bench-floor"
BALANCE = {"pk": {"S": "FLOOR"}, "sk": {"S": "BALANCE"}}
app = FastAPI()
_session: aiohttp.ClientSession | None = None
_dynamodb_wire: LoopWire | None = None


def _settings() -> tuple[str, str]:
    return os.environ["FLOOR_DYNAMODB"].rstrip("/"), os.environ["FLOOR_UPSTREAM"].rstrip("/")


def _wire() -> aiohttp.ClientSession:
    global _session
    if _session is None:
        _session = aiohttp.ClientSession()
    return _session


def _table_wire(endpoint: str, host: str) -> LoopWire:
    global _dynamodb_wire
    if _dynamodb_wire is None:
        _dynamodb_wire = LoopWire(
            endpoint, host, connect_timeout=2.0, read_timeout=5.0, max_connections=64, keep_alive=60.0
        )
    return _dynamodb_wire


async def _dynamodb(operation: str, params: dict[str, Any]) -> dict[str, Any]:
    endpoint, _ = _settings()
    host = endpoint.split("//", 1)[1]
    body = json.dumps(params, separators=(",", ":")).encode()
    headers = signed_headers(
        host=host,
        headers={"content-type": "application/x-amz-json-1.0", "x-amz-target": f"DynamoDB_20120810.{operation}"},
        body=body,
        credentials=Credentials("local", "local"),
        region="us-east-1",
        service="dynamodb",
        now=datetime.now(UTC),
    )
    answer = await _table_wire(endpoint, host).post(body, headers)
    payload: dict[str, Any] = json.loads(answer.data)
    if answer.status != 200:
        raise RuntimeError(f"{operation}: {payload}")
    return payload


async def _hold(trace: str) -> None:
    await _dynamodb(
        "UpdateItem",
        {
            "TableName": TABLE,
            "Key": BALANCE,
            "UpdateExpression": "SET balance = balance - :amount, seen = :trace",
            "ConditionExpression": "balance >= :amount",
            "ExpressionAttributeValues": {":amount": {"N": "500"}, ":trace": {"S": trace}},
            "ReturnValues": "ALL_NEW",
        },
    )


async def _settle(trace: str, model: str) -> None:
    entry = {"model": {"S": model}, "prompt_tokens": {"N": "12"}, "completion_tokens": {"N": "20"}}
    await _dynamodb(
        "TransactWriteItems",
        {
            "TransactItems": [
                {
                    "Update": {
                        "TableName": TABLE,
                        "Key": BALANCE,
                        "UpdateExpression": "SET balance = balance + :refund",
                        "ExpressionAttributeValues": {":refund": {"N": "400"}},
                    }
                },
                {
                    "Put": {
                        "TableName": TABLE,
                        "Item": {"pk": {"S": f"TRACE#{trace}"}, "sk": {"S": "ENTRY"}, "credits": {"N": "100"}, **entry},
                        "ConditionExpression": "attribute_not_exists(pk)",
                    }
                },
            ]
        },
    )


@app.post("/v1/chat/completions")
async def chat(request: Request) -> Response:
    body = await request.json()
    trace = uuid.uuid4().hex
    await _hold(trace)
    _, upstream = _settings()
    sent = json.dumps(body).encode()
    answer = await _wire().post(
        f"{upstream}/v1/chat/completions", data=sent, headers={"content-type": "application/json"}
    )
    if not body.get("stream"):
        content = await answer.read()
        await _settle(trace, str(body.get("model")))
        return Response(content, media_type="application/json")

    async def relayed() -> AsyncIterator[bytes]:
        try:
            async for piece in answer.content.iter_any():
                yield piece
        finally:
            answer.release()
            await _settle(trace, str(body.get("model")))

    return StreamingResponse(relayed(), media_type="text/event-stream")


def start(port: int, dynamodb: str, upstream: str, env: dict[str, str], logs: Path) -> Child:
    """Its table (a balance far above what the bench spends) in the bench's DynamoDB Local, then the
    app on `port`."""
    from gateway.storage import dynamo

    client = dynamo.boto3_client()
    keys = (("pk", "HASH"), ("sk", "RANGE"))
    client.create_table(
        TableName=TABLE,
        KeySchema=[{"AttributeName": name, "KeyType": kind} for name, kind in keys],
        AttributeDefinitions=[{"AttributeName": name, "AttributeType": "S"} for name, _ in keys],
        BillingMode="PAY_PER_REQUEST",
    )
    client.put_item(TableName=TABLE, Item={**BALANCE, "balance": {"N": str(10**15)}})
    root = Path(__file__).resolve().parent.parent
    child = Child(
        "floor",
        [sys.executable, "-m", "uvicorn", "bench.floor:app", "--host", "127.0.0.1", "--port", str(port),
         "--no-access-log", "--timeout-keep-alive", "60"],
        {**env, "FLOOR_DYNAMODB": dynamodb, "FLOOR_UPSTREAM": upstream},
        logs / "floor.log",
        root,
    )  # fmt: skip
    child.wait_for_port(port, timeout=60)
    return child
