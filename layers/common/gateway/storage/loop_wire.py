"""DynamoDB's wire on the event loop: keep-alive HTTP/1.1 connections to its one endpoint, each an
asyncio protocol whose answers httptools parses (the parser uvicorn serves requests with).

A DynamoDB call is a POST of a small JSON body to `/` and an answer read whole: none of a general
client's machinery applies (redirects, cookies, proxies, encodings, multipart, URLs). aiohttp spent
~175 us of CPU per such call on this path, this ~35 us (measured on loopback, same machine), and the
request path makes two. Failures are OSErrors, as http.client's are: TimeoutError when no connection
or no answer came in time, ConnectionError when the connection broke or the answer was malformed.
"""

from __future__ import annotations

import asyncio
import collections
import select
import ssl
import time
from typing import cast
from urllib.parse import urlsplit

import httptools

from gateway.storage.connections import Answer


class LoopWire:
    """The pool of one event loop (gateway.loop_sessions keeps one per loop and closes it with it)."""

    def __init__(
        self, endpoint: str, host: str, *, connect_timeout: float, read_timeout: float, max_connections: int,
        keep_alive: float,
    ) -> None:  # fmt: skip
        url = urlsplit(endpoint)
        self._tls = ssl.create_default_context() if url.scheme == "https" else None
        self._address = (url.hostname or "", url.port or (443 if self._tls else 80))
        self._head = f"POST / HTTP/1.1\r\nHost: {host}\r\n"
        self._connect_timeout = connect_timeout
        self._read_timeout = read_timeout
        self._max = max_connections
        self._keep_alive = keep_alive
        self._idle: list[_Connection] = []  # the most recently used last: taken first
        self._open = 0
        self._waiting: collections.deque[asyncio.Future[None]] = collections.deque()
        self.closed = False

    async def post(self, body: bytes, headers: dict[str, str]) -> Answer:
        for name, value in headers.items():
            if "\n" in value or "\r" in value or "\n" in name or "\r" in name:
                raise ValueError("a header holds a line break")
        lines = "".join(f"{name}: {value}\r\n" for name, value in headers.items())
        request = f"{self._head}Content-Length: {len(body)}\r\n{lines}\r\n".encode("latin-1") + body
        connection = await self._take()
        try:
            answer = await connection.exchange(request, self._read_timeout)
        except BaseException:
            self._drop(connection)
            raise
        if connection.reusable and not self.closed:
            connection.idle_since = time.monotonic()
            self._idle.append(connection)
            self._wake()
        else:
            self._drop(connection)
        return answer

    async def close(self) -> None:
        self.closed = True
        while self._idle:
            self._drop(self._idle.pop())

    async def _take(self) -> _Connection:
        while True:
            while self._idle:
                connection = self._idle.pop()
                fresh = time.monotonic() - connection.idle_since < self._keep_alive
                if connection.reusable and fresh and not connection.readable():
                    return connection
                self._drop(connection)
            if self._open < self._max:
                self._open += 1
                try:
                    return await self._connect()
                except BaseException:
                    self._open -= 1
                    self._wake()
                    raise
            await self._wait_for_a_connection()

    async def _connect(self) -> _Connection:
        loop = asyncio.get_running_loop()
        host, port = self._address
        async with asyncio.timeout(self._connect_timeout):
            _, connection = await loop.create_connection(
                _Connection, host, port, ssl=self._tls, server_hostname=host if self._tls else None
            )
        return connection

    async def _wait_for_a_connection(self) -> None:
        """Every connection is busy: wait for one to come back or close (bounded as a connect is)."""
        freed = asyncio.get_running_loop().create_future()
        self._waiting.append(freed)
        try:
            async with asyncio.timeout(self._connect_timeout):
                await freed
        except BaseException:
            if freed.done() and not freed.cancelled():  # woken, but leaving: the next waiter gets the wake-up
                self._wake()
            raise
        finally:
            if freed in self._waiting:
                self._waiting.remove(freed)

    def _drop(self, connection: _Connection) -> None:
        connection.close()
        self._open -= 1
        self._wake()

    def _wake(self) -> None:
        while self._waiting:
            freed = self._waiting.popleft()
            if not freed.done():
                freed.set_result(None)
                return


class _Connection(asyncio.Protocol):
    """One connection: one request at a time, its answer read whole."""

    def __init__(self) -> None:
        self._parser = httptools.HttpResponseParser(self)
        self._transport: asyncio.Transport | None = None
        self._answer: asyncio.Future[Answer] | None = None
        self._headers: dict[str, str] = {}
        self._body: list[bytes] = []
        self._heard_at = 0.0  # the loop's time when the last bytes arrived
        self._timer: asyncio.TimerHandle | None = None
        self._headers_done = False
        self.reusable = True
        self.idle_since = 0.0

    async def exchange(self, request: bytes, read_timeout: float) -> Answer:
        loop = asyncio.get_running_loop()
        self._answer = answer = loop.create_future()
        self._headers, self._body, self._headers_done = {}, [], False
        self._heard_at = loop.time()
        self.reusable = False  # until the whole answer arrived on a connection both sides keep
        assert self._transport is not None
        self._transport.write(request)
        self._timer = loop.call_later(read_timeout, self._silent, read_timeout)
        try:
            received: Answer = await answer
            return received
        finally:
            if self._timer is not None:
                self._timer.cancel()
                self._timer = None
            self._answer = None

    def close(self) -> None:
        self.reusable = False
        if self._transport is not None:
            self._transport.close()

    def readable(self) -> bool:
        """Bytes or an end wait unread on an idle connection (a FIN the loop has not handled yet: asyncio's
        own loop runs a woken task before the socket callbacks of its turn): it is not taken."""
        sock = self._transport.get_extra_info("socket") if self._transport is not None else None
        if sock is None:
            return True
        try:
            return bool(select.select([sock], [], [], 0)[0])
        except (OSError, ValueError):  # closed meanwhile
            return True

    def _silent(self, read_timeout: float) -> None:
        """No byte for `read_timeout`: the answer is late (each byte heard restarts the wait)."""
        if self._answer is None or self._answer.done():
            return
        loop = asyncio.get_running_loop()
        quiet = loop.time() - self._heard_at
        if quiet < read_timeout:
            self._timer = loop.call_later(read_timeout - quiet, self._silent, read_timeout)
            return
        self._fail(TimeoutError("DynamoDB did not answer in time"))

    # asyncio.Protocol
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = cast(asyncio.Transport, transport)  # uvloop's is not an asyncio.Transport subclass

    def data_received(self, data: bytes) -> None:
        if self._answer is None:  # nothing asked: the connection is out of step
            self.close()
            return
        self._heard_at = asyncio.get_running_loop().time()
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserError as error:
            self._fail(ConnectionError(f"malformed answer ({type(error).__name__})"))

    def eof_received(self) -> bool:
        if self._headers_done and "content-length" not in self._headers and "transfer-encoding" not in self._headers:
            self._complete()  # a body the end of the connection delimits (valid HTTP/1.x): it is whole
        self._fail(ConnectionResetError("the connection was closed before the answer"))
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        self.reusable = False
        self._fail(ConnectionResetError("the connection was lost before the answer"))

    def _fail(self, error: Exception) -> None:
        self.reusable = False
        if self._answer is not None and not self._answer.done():
            self._answer.set_exception(error)

    # httptools' callbacks
    def on_message_begin(self) -> None:
        self._headers, self._body, self._headers_done = {}, [], False
        if self._answer is None or self._answer.done():  # an answer nobody asked for: out of step
            self._answer = None
            self.close()

    def on_headers_complete(self) -> None:
        self._headers_done = True

    def on_header(self, name: bytes, value: bytes) -> None:
        self._headers[name.decode("latin-1").lower()] = value.decode("latin-1")

    def on_body(self, body: bytes) -> None:
        self._body.append(body)

    def on_message_complete(self) -> None:
        self._complete(self._parser.should_keep_alive())

    def _complete(self, keep: bool = False) -> None:
        if self._answer is None or self._answer.done():
            return
        self.reusable = keep
        self._answer.set_result(Answer(self._parser.get_status_code(), self._headers, b"".join(self._body)))
