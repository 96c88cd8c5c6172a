"""A fault-injecting HTTP proxy on loopback in front of DynamoDB Local.

The gateway's DynamoDB client honours AWS_ENDPOINT_URL_DYNAMODB, so pointing it here puts every call
through this proxy. Disarmed, it forwards each call untouched. Armed with a Fault, it fails the nth
call whose X-Amz-Target names the fault's operation (any operation if None) and the `times - 1`
matching calls after it (the client's own retries; with `onward`, every call after the first), in one
of the ways DynamoDB fails:

  500              an InternalServerError body, the call never reaches the table
  throttle         400 ThrottlingException, the call never reaches the table
  drop             the connection closes without an answer, the call never reaches the table
  drop_after_commit the call is applied to the table, then the connection closes without its answer
  pause            the call waits, unforwarded, until `resume()` (what a request does meanwhile)

`answered` counts the calls answered since arming (`catalog_reads` those of the runtime catalog).
Apart from faults, `contend(rate)` answers that share of writes (UpdateItem, TransactWriteItems) as
DynamoDB does a write that meets another transaction on an item, unapplied:
TransactionConflictException, or a transaction cancelled with TransactionConflict (DynamoDB Local
serializes its writes and never does); `contended` counts them.
"""

from __future__ import annotations

import http.client
import json
import random
import socket
import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Literal
from urllib.parse import urlparse

FaultKind = Literal["500", "throttle", "drop", "drop_after_commit", "pause"]
_ERRORS = {
    "500": (500, "InternalServerError", "Internal server error (injected)."),
    "throttle": (400, "ThrottlingException", "Rate of requests exceeds the allowed throughput (injected)."),
}


_HOP_HEADERS = ("content-length", "connection", "transfer-encoding", "server", "date")


@dataclass(frozen=True)
class Fault:
    target: str | None  # the operation, e.g. "TransactWriteItems"; None: any call
    nth: int  # the nth matching call after arming is the first to fail (1-based)
    times: int  # how many matching calls in a row fail from there
    kind: FaultKind
    onward: bool = False  # once the first has failed, every call matches (DynamoDB down from there on)


@dataclass(frozen=True)
class Call:
    operation: str
    injected: FaultKind | None


class FaultProxy:
    def __init__(self, upstream: str) -> None:
        target = urlparse(upstream)
        self.upstream = (target.hostname or "127.0.0.1", target.port or 80)
        self.lock = threading.Lock()
        self.fault: Fault | None = None
        self.matched = 0
        self.answered = 0
        self.catalog_reads = 0
        self.paused = threading.Event()  # a paused call has arrived
        self.resumed = threading.Event()
        self.contention = 0.0
        self.contended = 0
        self.random = random.Random(18)
        self.calls: list[Call] = []
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True  # answers go out at once, not after a delayed ACK

            def do_POST(self) -> None:
                proxy._handle(self)

            def log_message(self, format: str, *args: object) -> None:  # quiet
                return

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def start(self) -> FaultProxy:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def arm(self, fault: Fault | None) -> None:
        with self.lock:
            self.fault, self.matched, self.calls, self.answered = fault, 0, [], 0
            self.catalog_reads = 0
            self.paused.clear()
            self.resumed.clear()

    def resume(self) -> None:
        self.resumed.set()

    def contend(self, rate: float) -> None:
        with self.lock:
            self.contention = rate

    def _conflict(self, operation: str, body: bytes) -> tuple[int, bytes] | None:
        with self.lock:
            if operation not in ("UpdateItem", "TransactWriteItems") or self.random.random() >= self.contention:
                return None
            self.contended += 1
        if operation == "UpdateItem":
            kind, extra = "TransactionConflictException", {}
        else:
            items = len(json.loads(body).get("TransactItems", []))
            reasons = [{"Code": "TransactionConflict", "Message": "Transaction is ongoing for the item"}]
            extra = {"CancellationReasons": reasons + [{"Code": "None"}] * (items - 1)}
            kind = "TransactionCanceledException"
        payload = {"__type": f"com.amazonaws.dynamodb.v20120810#{kind}", "message": "conflict (injected)", **extra}
        return 400, json.dumps(payload).encode()

    def disarm(self) -> list[Call]:
        """Stops injecting; returns the calls seen since arming."""
        with self.lock:
            calls, self.fault, self.calls = self.calls, None, []
        return calls

    def _decide(self, operation: str) -> FaultKind | None:
        with self.lock:
            fault, injected = self.fault, None
            started = fault is not None and fault.onward and self.matched >= fault.nth
            if fault is not None and (started or fault.target in (None, operation)):
                self.matched += 1
                if fault.nth <= self.matched < fault.nth + fault.times:
                    injected = fault.kind
            self.calls.append(Call(operation, injected))
            return injected

    def _handle(self, handler: BaseHTTPRequestHandler) -> None:
        body = handler.rfile.read(int(handler.headers.get("content-length") or 0))
        operation = (handler.headers.get("x-amz-target") or "").rpartition(".")[2]
        injected = self._decide(operation)
        conflict = self._conflict(operation, body) if injected is None else None
        if conflict is not None:
            _answer(handler, conflict[0], [("content-type", "application/x-amz-json-1.0")], conflict[1])
            return
        if injected in _ERRORS:
            status, kind, message = _ERRORS[injected]
            payload = json.dumps({"__type": f"com.amazonaws.dynamodb.v20120810#{kind}", "message": message}).encode()
            _answer(handler, status, [("content-type", "application/x-amz-json-1.0")], payload)
            return
        if injected == "drop":
            handler.close_connection = True
            return
        if injected == "pause":
            self.paused.set()
            self.resumed.wait(30)
        status, headers, answer = self._forward(handler, body)
        if injected == "drop_after_commit":
            handler.close_connection = True
            return
        kept = [(name, value) for name, value in headers if name.lower() not in _HOP_HEADERS]
        with self.lock:  # counted before it is sent: whoever has the answer finds it counted
            self.answered += 1
            if b'"CATALOG' in body:  # the runtime catalog (its stamp, read in the background every few seconds)
                self.catalog_reads += 1
        _answer(handler, status, kept, answer)

    def _forward(self, handler: BaseHTTPRequestHandler, body: bytes) -> tuple[int, list[tuple[str, str]], bytes]:
        connection = http.client.HTTPConnection(*self.upstream, timeout=10)
        try:
            connection.connect()
            connection.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            headers = {name: value for name, value in handler.headers.items() if name.lower() != "connection"}
            connection.request("POST", handler.path, body=body, headers=headers)
            response = connection.getresponse()
            return response.status, response.getheaders(), response.read()
        finally:
            connection.close()


def _answer(handler: BaseHTTPRequestHandler, status: int, headers: list[tuple[str, str]], body: bytes) -> None:
    """The answer, sent at once (the socket has Nagle off)."""
    handler.send_response(status)
    for name, value in headers:
        handler.send_header(name, value)
    handler.send_header("content-length", str(len(body)))
    handler.end_headers()
    handler.wfile.write(body)
