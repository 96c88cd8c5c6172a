"""The providers' wire (aiohttp): a 200 that is not an event stream fails the stream request rather
than reading as an empty answer, an answer with a header line past aiohttp's default 8 KiB is read,
a body that turns malformed after its first packet fails within the read timeout (aiohttp's C parser
alone would wait forever), a loop's session goes with its loop, and a connection is not reused when its
server may be closing it."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager

import anyio
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from gateway import loop_sessions
from gateway.config import get_settings
from gateway.providers import http
from gateway.providers.errors import UpstreamFailure, UpstreamTimeout, may_fall_back
from gateway.providers.sse import open_events


async def json_answer(request: Request) -> Response:
    return JSONResponse({"choices": []})


LONG_HEADER = "a" * 40_000  # a provider's long cookie or trace header: five times aiohttp's default limit


async def long_header_answer(request: Request) -> Response:
    return JSONResponse({"choices": []}, headers={"x-provider-trace": LONG_HEADER})


def no_error(status: int, content: bytes) -> tuple[str, str | None, str | None]:
    return "error", None, None


@pytest.fixture(scope="module")
def upstream() -> Iterator[str]:
    from tests.support.servers import ServerThread

    server = ServerThread(
        Starlette(
            routes=[Route("/chat", json_answer, methods=["POST"]), Route("/long", long_header_answer, methods=["POST"])]
        )
    ).start()
    yield server.url
    server.stop()


def test_a_stream_answered_with_json_is_the_upstreams_failure(upstream: str) -> None:
    async def open_stream() -> None:
        async with open_events(f"{upstream}/chat", {"stream": True}, {}, no_error) as events:
            async for _ in events:
                pass

    with pytest.raises(UpstreamFailure) as raised:
        anyio.run(open_stream)
    assert may_fall_back(raised.value)
    assert "without an event stream" in str(raised.value)


def test_an_answer_with_a_header_line_past_8_kib_is_read(upstream: str) -> None:
    async def call() -> http.Answer:
        return await http.send("POST", f"{upstream}/long", {"content-type": "application/json"}, data=b"{}")

    answer = anyio.run(call)
    assert answer.status == 200
    assert answer.headers["x-provider-trace"] == LONG_HEADER
    assert answer.content == b'{"choices":[]}'


def test_a_loops_session_is_closed_and_forgotten_with_its_loop(upstream: str) -> None:
    sessions = []

    async def use() -> None:
        sessions.append(await http.shared_session())

    for _ in range(3):
        asyncio.run(use())
    assert all(session.closed for session in sessions)
    assert len(sessions) == 3
    assert not any(session in loop_sessions.kept_sessions() for session in sessions)


CHUNKED = b"HTTP/1.1 200 OK\r\nContent-Type: %s\r\nTransfer-Encoding: chunked\r\n\r\n"
EVENT = b"data: {}\n\n"
FIRST = b"%x\r\n%s\r\n" % (len(EVENT), EVENT)  # one well-formed chunk


@asynccontextmanager
async def raw_upstream(packets: list[bytes], pause: float) -> AsyncIterator[str]:
    """An upstream on a real socket that writes each packet `pause` seconds apart, then keeps the
    connection open (as a broken proxy would)."""

    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        for packet in packets:
            writer.write(packet)
            await writer.drain()
            await asyncio.sleep(pause)
        await asyncio.sleep(60)

    server = await asyncio.start_server(answer, "127.0.0.1", 0)
    try:
        yield f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}"
    finally:
        server.close()


@pytest.fixture
def read_timeout(monkeypatch: pytest.MonkeyPatch) -> Iterator[float]:
    monkeypatch.setenv("UPSTREAM_TIMEOUT_SECONDS", "1")
    get_settings.cache_clear()
    yield 1.0
    get_settings.cache_clear()


async def read_events(url: str) -> list[tuple[str, str]]:
    async with open_events(f"{url}/chat", {"stream": True}, {}, no_error) as events:
        return [event async for event in events]


@pytest.mark.parametrize("broken", [b"zz\r\n", b"%x\r\n%sXX\r\n" % (len(EVENT), EVENT)], ids=["size", "length"])
def test_a_stream_malformed_after_its_first_packet_fails_within_the_read_timeout(read_timeout, broken):
    async def call() -> None:
        async with raw_upstream([CHUNKED % b"text/event-stream" + FIRST, broken], pause=0.2) as url:
            await read_events(url)

    started = time.monotonic()
    with pytest.raises(UpstreamTimeout, match="stopped sending"):
        anyio.run(call)
    assert time.monotonic() - started < read_timeout + 3


def test_an_answer_malformed_after_its_first_packet_fails_within_the_read_timeout(read_timeout):
    async def call() -> http.Answer:
        async with raw_upstream([CHUNKED % b"application/json" + b"2\r\n{}\r\n", b"zz\r\n"], pause=0.2) as url:
            return await http.send("POST", f"{url}/chat", {}, data=b"{}")

    started = time.monotonic()
    with pytest.raises(UpstreamTimeout):
        anyio.run(call)
    assert time.monotonic() - started < read_timeout + 3


def test_a_stream_slower_than_the_read_timeout_in_total_but_never_idle_that_long_is_read_whole(read_timeout):
    # Given an upstream sending an event every 0.4 s for 2 s (twice the read timeout in all)
    packets = [CHUNKED % b"text/event-stream" + FIRST] + [FIRST] * 4 + [b"0\r\n\r\n"]

    async def call() -> list[tuple[str, str]]:
        async with raw_upstream(packets, pause=0.4) as url:
            return await read_events(url)

    # Then every event arrives
    assert anyio.run(call) == [("message", "{}")] * 5


def test_a_malformed_packet_that_came_while_the_consumer_was_busy_is_the_streams_failure(read_timeout):
    # Given a stream whose broken chunk arrives while its reader relays the first event to a slow client
    async def call() -> None:
        async with (
            raw_upstream([CHUNKED % b"text/event-stream" + FIRST, b"zz\r\n"], pause=0.1) as url,
            open_events(f"{url}/chat", {"stream": True}, {}, no_error) as events,
        ):
            async for _ in events:
                await asyncio.sleep(0.5)

    # Then the next read is the upstream's failure (aiohttp raises a bare RuntimeError there)
    with pytest.raises(UpstreamFailure, match="stream broke"):
        anyio.run(call)


def test_an_answer_slower_than_the_read_timeout_in_total_but_never_idle_that_long_is_read_whole(read_timeout):
    # Given a whole answer whose body trickles in for 2 s (twice the read timeout), never idle 1 s
    packets = [CHUNKED % b"application/json" + b"1\r\n \r\n"] + [b"1\r\n \r\n"] * 4 + [b"2\r\n{}\r\n0\r\n\r\n"]

    async def call() -> http.Answer:
        async with raw_upstream(packets, pause=0.4) as url:
            return await http.send("POST", f"{url}/chat", {}, data=b"{}")

    # Then it is read whole
    assert anyio.run(call).content == b"     {}"


def test_a_connection_idle_past_four_seconds_is_not_reused_as_a_five_second_server_closes_it():
    # Given an upstream that closes a connection idle 5 s (uvicorn's, Node's default), on a loaded
    # machine: a request that reaches a connection idle 4.5 s crosses the close and is not answered
    connections: list[int] = []
    answer = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}"

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        connections.append(1)
        idle_since = time.monotonic()
        while True:
            try:
                head = await reader.readuntil(b"\r\n\r\n")
            except asyncio.IncompleteReadError:
                break
            length = int(
                next(line.split(b":")[1] for line in head.split(b"\r\n") if line.lower().startswith(b"content-length"))
            )
            await reader.readexactly(length)
            if time.monotonic() - idle_since >= 4.5:
                break
            writer.write(answer)
            await writer.drain()
            idle_since = time.monotonic()
        writer.close()

    async def calls() -> list[int]:
        server = await asyncio.start_server(serve, "127.0.0.1", 0)
        url = f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}/chat"
        try:
            first = await http.send("POST", url, {}, data=b"{}")
            await asyncio.sleep(4.6)
            second = await http.send("POST", url, {}, data=b"{}")
            return [first.status, second.status]
        finally:
            server.close()

    # When the gateway sends a chat, waits 4.6 s and sends another
    # Then the second goes on a new connection and is answered
    assert anyio.run(calls) == [200, 200]
    assert len(connections) == 2
