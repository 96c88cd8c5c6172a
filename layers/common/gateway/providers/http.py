"""The HTTP providers' wire: one pooled aiohttp session per event loop (gateway/loop_sessions.py).
aiohttp, not httpx: a chat call through httpx cost about five times the CPU of the same call through
aiohttp (httpcore's pure-Python HTTP/1.1 and anyio streams against aiohttp's C parser on the loop's
own transports), the largest share of the gateway's CPU per request."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Iterator, Mapping
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from gateway.config import get_settings
from gateway.loop_sessions import session_for, wire_errors
from gateway.providers.errors import UpstreamFailure, UpstreamRefusal, UpstreamTimeout, redacted

if TYPE_CHECKING:
    import aiohttp

MAX_CONNECTIONS = 200
# An idle connection older than this is not reused. Below the 5 s after which uvicorn (vLLM's server),
# Node and llama.cpp's server close an idle one: at 5 s a request sent as the server closed its
# connection failed as ServerDisconnectedError (aiohttp retries only idempotent methods; a chat is a POST)
KEEP_ALIVE_SECONDS = 4.0
# The longest header line an upstream may send (aiohttp's default, 8 KiB, fails a provider's answer
# that carries a long cookie, link or trace header as a malformed one)
MAX_HEADER_LINE_BYTES = 64 * 1024


@dataclass(frozen=True)
class Answer:
    """A whole upstream answer."""

    status: int
    headers: Mapping[str, str]
    content: bytes


async def shared_session() -> aiohttp.ClientSession:
    return await session_for("providers", _built)


def _built() -> aiohttp.ClientSession:
    import aiohttp

    settings = get_settings()
    return aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(limit=MAX_CONNECTIONS, keepalive_timeout=KEEP_ALIVE_SECONDS),
        timeout=aiohttp.ClientTimeout(
            total=None,
            connect=settings.upstream_timeout_seconds,  # a pool slot and DNS, as httpx's pool timeout
            sock_connect=settings.upstream_connect_timeout_seconds,
            sock_read=settings.upstream_timeout_seconds,
        ),
        trust_env=False,
        max_line_size=MAX_HEADER_LINE_BYTES,
        max_field_size=MAX_HEADER_LINE_BYTES,
    )


@contextmanager
def upstream_errors(
    late: str = "the provider did not answer in time", unreachable: str = "could not reach the provider"
) -> Iterator[None]:
    """aiohttp's errors as the gateway's: a timeout is UpstreamTimeout(late), anything else on the
    wire UpstreamFailure(unreachable + the error's kind; never its text, which may hold a URL)."""
    try:
        yield
    except TimeoutError as error:  # aiohttp's socket timeouts are TimeoutErrors too
        raise UpstreamTimeout(late) from error
    except wire_errors() as error:
        raise UpstreamFailure(f"{unreachable} ({type(error).__name__})") from error


class StallGuard:
    """aiohttp's read timeout (`sock_read`) again, for the reads of an upstream's body. When a body
    turns malformed after its first bytes (a bad chunk size in a later packet), aiohttp 3.14's C
    parser drops that timeout and never wakes the read, which would hold the request until the
    Lambda's deadline. A read that waits `seconds` for bytes fails with TimeoutError. Cheap per read:
    one timer per response, re-armed only when it comes due."""

    def __init__(self, response: aiohttp.ClientResponse, seconds: float) -> None:
        self._response = response
        self._seconds = seconds
        self._loop = asyncio.get_running_loop()
        self._since: float | None = None  # when the pending read started (None: no read pending)
        self._timer = self._loop.call_later(seconds, self._check)

    async def read(self) -> bytes:
        """The next bytes of the body (b"" at its end)."""
        self._since = self._loop.time()
        try:
            return await self._response.content.readany()
        except RuntimeError as error:  # aiohttp: the parser closed the connection before this read began
            import aiohttp

            raise aiohttp.ClientPayloadError("the connection closed mid-body") from error
        finally:
            self._since = None

    def close(self) -> None:
        self._timer.cancel()

    def _check(self) -> None:
        if self._response.closed:
            return
        waited = 0.0 if self._since is None else self._loop.time() - self._since
        if waited >= self._seconds:
            self._response.content.set_exception(TimeoutError("the upstream sent nothing"))
            return
        self._timer = self._loop.call_later(self._seconds - waited, self._check)


@contextmanager
def stall_guard(response: aiohttp.ClientResponse) -> Iterator[StallGuard]:
    guard = StallGuard(response, get_settings().upstream_timeout_seconds)
    try:
        yield guard
    finally:
        guard.close()


async def read_whole(response: aiohttp.ClientResponse) -> bytes:
    """The response's body, read under a StallGuard."""
    chunks: list[bytes] = []
    with stall_guard(response) as guard:
        while chunk := await guard.read():
            chunks.append(chunk)
    return b"".join(chunks)


async def send(method: str, url: str, headers: Mapping[str, str], **content: Any) -> Answer:
    """One request, its answer read whole. `content`: aiohttp's `data=` (bytes or FormData)."""
    session = await shared_session()
    with upstream_errors():
        async with session.request(method, url, headers=headers, allow_redirects=False, **content) as answer:
            return Answer(answer.status, answer.headers, await read_whole(answer))


@asynccontextmanager
async def opened(url: str, body: bytes, headers: Mapping[str, str]) -> AsyncIterator[aiohttp.ClientResponse]:
    """A POST whose answer is read as it arrives; closed (the connection released) on leaving."""
    session = await shared_session()
    with upstream_errors():
        response = await session.post(url, data=body, headers=headers, allow_redirects=False)
    try:
        yield response
    finally:
        response.release()


async def fetch(url: str) -> bytes:
    """A file an upstream answered with a URL (an image), as an upstream call: failures are its own."""
    import yarl

    session = await shared_session()
    with upstream_errors("the provider's file did not arrive in time", "could not fetch the provider's file"):
        # the URL as the upstream wrote it (a signed URL's escapes must not be re-quoted)
        async with session.get(yarl.URL(url, encoded=True), allow_redirects=False) as response:
            content = await read_whole(response)
            status = response.status
    if not 200 <= status < 300:
        raise UpstreamFailure(f"the provider's file could not be fetched (HTTP {status})", status=502)
    return content


ErrorReader = Callable[[int, bytes], tuple[str, str | None, str | None]]


def raise_for_status(status: int, content: bytes, headers: Mapping[str, str], error_from: ErrorReader) -> None:
    """Shared by the HTTP providers: 2xx passes; the upstream's own failures and rate limits are
    UpstreamFailure (material for a fallback); a refusal of the request itself is UpstreamRefusal."""
    if 200 <= status < 300:
        return
    message, code, param = error_from(status, content)
    message = redacted(message)
    if status in (401, 403):
        raise UpstreamFailure("the provider refused the gateway's credentials", status=status)
    if status in (408, 409, 429) or status >= 500:
        raise UpstreamFailure(f"the provider failed: {message}", status=status, retry_after=headers.get("retry-after"))
    raise UpstreamRefusal(status, message, code=code, param=param)
