"""Storage code run on the event loop, its DynamoDB calls awaited, with no worker thread.

The repositories and the money code are plain functions (the sweeper, the aggregator and the image
worker call them as they are). On the request path they used to run in a worker thread each: the
thread hand-off and http.client cost about a third of the gateway's CPU per request. `run` calls such
a function in a greenlet instead; when it reaches DynamoDB (`wait`), the greenlet hands the request
to the event loop and resumes with the answer, so other requests go on meanwhile. This is how
SQLAlchemy runs its ORM over asyncio drivers. Outside `run` (another thread, a worker process),
`inside()` is False and the same code blocks as before.
"""

from __future__ import annotations

import asyncio
import contextvars
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import anyio
import greenlet

T = TypeVar("T")


class _Caller(greenlet.greenlet):  # type: ignore[misc]  # greenlet's class is untyped for subclassing
    """The greenlet a function runs in; `driver` is the coroutine's greenlet that awaits for it."""

    def __init__(self, function: Callable[..., Any], driver: greenlet.greenlet) -> None:
        super().__init__(function, driver)
        self.driver = driver
        self.gr_context = contextvars.copy_context()  # as a worker thread had it: the request's context


def inside() -> bool:
    """True in a function that `run` called: a DynamoDB call may `wait` on the loop."""
    return isinstance(greenlet.getcurrent(), _Caller)


def wait(awaitable: Awaitable[T]) -> T:
    """The awaitable's result, awaited by the event loop while this function is suspended."""
    current = greenlet.getcurrent()
    if not isinstance(current, _Caller):
        raise RuntimeError("wait() outside on_loop.run()")
    return current.driver.switch(awaitable)  # type: ignore[no-any-return]


def pause(seconds: float) -> None:
    """A backoff: the loop's sleep inside `run` (the loop goes on), else time.sleep."""
    if inside():
        wait(asyncio.sleep(seconds))
    else:
        time.sleep(seconds)


async def run(function: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """`function(*args, **kwargs)` on the loop. Like a worker thread under anyio, it is not abandoned
    when the caller is cancelled: it finishes (a write in flight lands or fails as it would have), and
    the cancellation is raised after it."""
    call = asyncio.ensure_future(_driven(function, args, kwargs))
    cancelled: asyncio.CancelledError | None = None
    with anyio.CancelScope(shield=True):  # a scope's cancellation comes after, as to_thread.run_sync's does
        while not call.done():
            try:
                await asyncio.wait((call,))
            except asyncio.CancelledError as error:  # a native Task.cancel(): raised as it came, once done
                cancelled = error
    if cancelled is not None:
        raise cancelled
    return call.result()


async def _driven(function: Callable[..., T], args: tuple[Any, ...], kwargs: dict[str, Any]) -> T:
    caller = _Caller(function, greenlet.getcurrent())
    step = caller.switch(*args, **kwargs)
    while not caller.dead:
        try:
            answer = await step
        except BaseException as error:  # the awaited call's failure is raised where it waited
            step = caller.throw(error)
        else:
            step = caller.switch(answer)
    return step  # type: ignore[no-any-return]
