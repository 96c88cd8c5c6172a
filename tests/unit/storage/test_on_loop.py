"""Storage code run on the event loop (storage/on_loop.py): a plain function whose waits are awaited
by the loop, so other tasks go on meanwhile; its result, its errors and its context as a worker
thread would have them; never abandoned when its caller is cancelled."""

from __future__ import annotations

import asyncio
import contextvars
import threading
import time

import pytest

from gateway.storage import on_loop

REQUEST = contextvars.ContextVar[str]("request", default="none")


def test_a_function_returns_on_the_loops_thread_having_awaited_what_it_waited_for() -> None:
    def fetch(a: int, b: int = 0) -> tuple[int, str, bool]:
        value = on_loop.wait(asyncio.sleep(0.01, result=a + b))
        return value, threading.current_thread().name, on_loop.inside()

    async def main() -> tuple[int, str, bool]:
        return await on_loop.run(fetch, 2, b=3)

    assert asyncio.run(main()) == (5, threading.current_thread().name, True)
    assert not on_loop.inside()


def test_other_tasks_go_on_while_a_function_waits() -> None:
    order: list[str] = []

    def slow(name: str, seconds: float) -> str:
        order.append(f"{name} asks")
        on_loop.wait(asyncio.sleep(seconds))
        order.append(f"{name} answered")
        return name

    async def main() -> list[str]:
        return list(await asyncio.gather(on_loop.run(slow, "a", 0.05), on_loop.run(slow, "b", 0.01)))

    assert asyncio.run(main()) == ["a", "b"]
    assert order == ["a asks", "b asks", "b answered", "a answered"]


def test_errors_are_raised_where_the_function_waited_and_then_to_the_caller() -> None:
    async def failing() -> None:
        raise ConnectionResetError("gone")

    def caught() -> str:
        try:
            on_loop.wait(failing())
        except ConnectionResetError as error:
            return f"handled {error}"
        return "not raised"

    def uncaught() -> None:
        on_loop.wait(failing())

    async def main() -> str:
        with pytest.raises(ConnectionResetError):
            await on_loop.run(uncaught)
        return await on_loop.run(caught)

    assert asyncio.run(main()) == "handled gone"


def test_the_function_sees_the_callers_context_and_its_changes_stay_its_own() -> None:
    def read_and_change() -> str:
        seen = REQUEST.get()
        REQUEST.set("changed inside")
        on_loop.wait(asyncio.sleep(0))
        return seen

    async def main() -> tuple[str, str]:
        REQUEST.set("req-1")
        seen = await on_loop.run(read_and_change)
        return seen, REQUEST.get()

    assert asyncio.run(main()) == ("req-1", "req-1")


def test_a_cancelled_caller_waits_for_the_function_to_finish_then_is_cancelled() -> None:
    finished: list[str] = []

    def write() -> str:
        on_loop.wait(asyncio.sleep(0.05))  # a write in flight
        finished.append("written")
        return "written"

    async def main() -> None:
        caller = asyncio.ensure_future(on_loop.run(write))
        await asyncio.sleep(0.01)
        caller.cancel()
        await asyncio.sleep(0.01)
        assert not caller.done(), "the caller was let go before the write finished"
        with pytest.raises(asyncio.CancelledError):
            await caller
        assert finished == ["written"]

    asyncio.run(main())


def test_a_pause_lets_the_loop_go_on_and_blocks_outside() -> None:
    ticks: list[float] = []

    async def ticker() -> None:
        for _ in range(3):
            ticks.append(time.monotonic())
            await asyncio.sleep(0.005)

    def backoff() -> float:
        on_loop.pause(0.05)
        return time.monotonic()

    async def main() -> float:
        resumed, _ = await asyncio.gather(on_loop.run(backoff), ticker())
        return resumed

    resumed = asyncio.run(main())
    assert len(ticks) == 3
    assert max(ticks) < resumed, "the loop stood still while the function paused"
    started = time.monotonic()
    on_loop.pause(0.02)  # no loop: a plain sleep
    assert time.monotonic() - started >= 0.02


def test_waiting_outside_run_is_an_error() -> None:
    async def nothing() -> None:
        return None

    awaitable = nothing()
    with pytest.raises(RuntimeError, match="outside"):
        on_loop.wait(awaitable)
    awaitable.close()
