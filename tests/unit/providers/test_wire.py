"""The providers' wire (aiohttp): a 200 that is not an event stream fails the stream request rather
than reading as an empty answer, an answer with a header line past aiohttp's default 8 KiB is read,
and a loop's session goes with its loop."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import anyio
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from gateway import loop_sessions
from gateway.providers import http
from gateway.providers.errors import UpstreamFailure, may_fall_back
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
