"""A local Bedrock Runtime endpoint speaking the real wire format over HTTP, for boto3 to call.

`POST /model/{modelId}/converse` answers JSON; `POST /model/{modelId}/converse-stream` answers
`application/vnd.amazon.eventstream`: binary frames (prelude, headers, JSON payload, CRC32s) that
botocore's own EventStream parser reads. Errors carry `x-amzn-ErrorType` as Bedrock's do. Each test
scripts the next answers (`answer_json`, `answer_error`, `answer_stream`); requests are recorded.
"""

from __future__ import annotations

import asyncio
import binascii
import json
import struct
import threading
import uuid
from collections import deque
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

STREAM_EXCEPTIONS = {
    "throttlingException",
    "serviceUnavailableException",
    "internalServerException",
    "modelStreamErrorException",
    "validationException",
}


def frame(headers: dict[str, str], payload: bytes) -> bytes:
    """One event-stream message: total and headers length, prelude CRC, string headers, payload, CRC."""
    encoded = b"".join(
        struct.pack(">B", len(name.encode()))
        + name.encode()
        + b"\x07"
        + struct.pack(">H", len(value.encode()))
        + value.encode()
        for name, value in headers.items()
    )
    prelude = struct.pack(">II", 16 + len(encoded) + len(payload), len(encoded))
    message = prelude + struct.pack(">I", binascii.crc32(prelude)) + encoded + payload
    return message + struct.pack(">I", binascii.crc32(message))


def event_frame(event: dict[str, Any]) -> bytes:
    """A ConverseStream event ({"contentBlockDelta": {...}}) as Bedrock frames it, padding field included."""
    ((kind, body),) = event.items()
    if kind in STREAM_EXCEPTIONS:
        headers = {":message-type": "exception", ":exception-type": kind, ":content-type": "application/json"}
        return frame(headers, json.dumps(body).encode())
    headers = {":event-type": kind, ":content-type": "application/json", ":message-type": "event"}
    return frame(headers, json.dumps({**body, "p": "abcdefghijklmnopqrstuvwxyzABCDEF"}).encode())


@dataclass
class Seen:
    path: str
    headers: dict[str, str]
    body: dict[str, Any]


@dataclass
class Answer:
    status: int = 200
    body: dict[str, Any] | None = None
    error_type: str | None = None
    events: list[dict[str, Any]] = field(default_factory=list)
    hold_after: int | None = None  # stream: wait for `gate` after this many events
    delay: float = 0.0
    request_id: str = field(default_factory=lambda: str(uuid.uuid4()))


class FakeBedrock:
    def __init__(self) -> None:
        self.seen: list[Seen] = []
        self.answers: deque[Answer] = deque()
        self.gate = threading.Event()
        self.stream_closed = threading.Event()
        self.lock = threading.Lock()
        self.app = Starlette(
            routes=[
                Route("/model/{model_id:path}/converse", self.converse, methods=["POST"]),
                Route("/model/{model_id:path}/converse-stream", self.converse_stream, methods=["POST"]),
            ]
        )

    def reset(self) -> None:
        with self.lock:
            self.seen.clear()
            self.answers.clear()
        self.gate.clear()
        self.stream_closed.clear()

    def answer_json(self, body: dict[str, Any], request_id: str, *, delay: float = 0.0) -> None:
        self.answers.append(Answer(body=body, request_id=request_id, delay=delay))

    def answer_error(self, status: int, error_type: str, message: str, *, times: int = 1) -> None:
        for _ in range(times):
            self.answers.append(Answer(status=status, error_type=error_type, body={"message": message}))

    def answer_stream(self, events: list[dict[str, Any]], request_id: str, *, hold_after: int | None = None) -> None:
        self.answers.append(Answer(events=events, request_id=request_id, hold_after=hold_after))

    async def _next(self, request: Request) -> Answer:
        body = await request.json()
        with self.lock:
            self.seen.append(Seen(request.url.path, dict(request.headers), body))
            return self.answers.popleft()

    def _error(self, answer: Answer) -> Response:
        headers = {
            "x-amzn-RequestId": answer.request_id,
            # as Bedrock sends it; botocore keeps what comes before the colon
            "x-amzn-ErrorType": f"{answer.error_type}:http://internal.amazon.com/coral/com.amazon.bedrock/",
        }
        return JSONResponse(answer.body, status_code=answer.status, headers=headers)

    async def converse(self, request: Request) -> Response:
        answer = await self._next(request)
        if answer.delay:
            await asyncio.sleep(answer.delay)
        if answer.error_type:
            return self._error(answer)
        return JSONResponse(answer.body, headers={"x-amzn-RequestId": answer.request_id})

    async def converse_stream(self, request: Request) -> Response:
        answer = await self._next(request)
        if answer.error_type:
            return self._error(answer)

        async def frames() -> AsyncIterator[bytes]:
            try:
                for number, event in enumerate(answer.events):
                    if answer.hold_after is not None and number == answer.hold_after:
                        while not self.gate.is_set():
                            await asyncio.sleep(0.02)
                    yield event_frame(event)
            finally:
                self.stream_closed.set()

        return StreamingResponse(
            frames(),
            media_type="application/vnd.amazon.eventstream",
            headers={"x-amzn-RequestId": answer.request_id},
        )
