"""Client sessions kept one per event loop and purpose (the providers' aiohttp session, the DynamoDB
client's pool), each closed when its loop shuts down. uvicorn in Lambda has one loop for the process's life; the dev
server and the image worker may have more, one after another."""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import AsyncGenerator, Callable
from typing import Any, Protocol, TypeVar


class Session(Protocol):
    """What a kept session offers: aiohttp's ClientSession has it, and so does storage/loop_wire.py's pool."""

    @property
    def closed(self) -> bool: ...

    async def close(self) -> None: ...


S = TypeVar("S", bound=Session)
Pooled = tuple[Any, AsyncGenerator[None, None]]
_sessions: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[str, Pooled]] = weakref.WeakKeyDictionary()


async def session_for(purpose: str, build: Callable[[], S]) -> S:
    """This loop's session for `purpose`, built by `build` on first use (or after it was closed), after
    one turn of the loop: a pooled connection the server closed meanwhile (its FIN already read by the
    kernel, as after a Lambda freeze) is dropped by then, rather than taken for a POST that aiohttp
    would not retry."""
    await asyncio.sleep(0)
    loop = asyncio.get_running_loop()
    kept = _sessions.setdefault(loop, {})
    pooled = kept.get(purpose)
    if pooled is None or pooled[0].closed:
        session = build()
        closer = _closed_with_the_loop(loop, purpose, session)
        await anext(closer)
        pooled = kept[purpose] = (session, closer)
    kept_session: S = pooled[0]
    return kept_session


def wire_errors() -> tuple[type[Exception], ...]:
    """What a request on a session raises besides timeouts (TimeoutError): aiohttp's client errors, a
    malformed answer (HttpProcessingError, e.g. a broken chunked body with the pure-Python parser), a
    header value aiohttp refuses to send (ValueError: a configured key with a line break)."""
    import aiohttp

    return (aiohttp.ClientError, aiohttp.http_exceptions.HttpProcessingError, ValueError)


def kept_sessions() -> list[Session]:
    """Every session still kept, on any loop (for tests)."""
    return [pooled[0] for kept in _sessions.values() for pooled in kept.values()]


async def _closed_with_the_loop(
    loop: asyncio.AbstractEventLoop, purpose: str, session: Session
) -> AsyncGenerator[None, None]:
    """Kept suspended beside its session: a loop that shuts down (uvicorn, asyncio.run, anyio.run, the
    image worker's) finishes the async generators left open, and this one's end closes the session and
    forgets it (the session refers to its loop, so the weak key alone would never let the loop go)."""
    try:
        yield
    finally:
        kept = _sessions.get(loop)
        if kept is not None:
            kept.pop(purpose, None)
            if not kept:
                _sessions.pop(loop, None)
        await session.close()
