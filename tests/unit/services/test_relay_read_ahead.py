"""The stream relay reads the upstream ahead of the client (a short queue): a client slower than its
upstream still has its stream cut at the invocation's deadline and settled, and an upstream failure
arrives after the events read before it, each event charged once. Events already read when the
client takes one go out with it, in one write."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from types import SimpleNamespace
from typing import Any

from gateway.billing.charges import Charge
from gateway.canonical import StreamEvent
from gateway.providers.errors import UpstreamFailure
from gateway.services.relay import READ_AHEAD, relay


class Encoder:
    def passthrough(self, event: StreamEvent) -> bytes:
        return event.raw or b""

    def finish(self, usage: Any, *, native: bool, cost: int) -> bytes:
        return b"end"

    def error(self, error: Any) -> bytes:
        return f"error:{error.code}".encode()


def call_and_stream(events: AsyncIterator[StreamEvent], deadline: float | None) -> tuple[Any, Any, list[Any]]:
    settled: list[Any] = []

    async def settle(outcome: Any) -> int:
        settled.append(outcome)
        return 0

    meter = SimpleNamespace(
        deadline=deadline,
        settle=settle,
        served=lambda candidate, started, charge, *, error_code, first_at: ("served", charge.cost, error_code),
        failed=lambda failure: ("failed", failure.code),
    )
    call = SimpleNamespace(
        exchange=SimpleNamespace(encoder=Encoder),
        meter=meter,
        charge=lambda candidate, usage, produced: Charge(produced),  # a micro-credit a byte
    )
    stream = SimpleNamespace(candidate=None, native=True, events=events, stack=AsyncExitStack(), started=0.0)
    return call, stream, settled


async def endless() -> AsyncIterator[StreamEvent]:
    while True:
        await asyncio.sleep(0)  # far faster than the client below: the read-ahead queue stays full
        yield StreamEvent(raw=b"data: x\n\n")


def test_a_client_slower_than_its_upstream_is_cut_at_the_deadline_and_settled() -> None:
    async def scenario() -> list[bytes]:
        call, stream, settled = call_and_stream(endless(), deadline=time.monotonic() + 0.1)
        sent: list[bytes] = []
        async for out in relay(call, stream):
            sent.append(out)
            assert len(sent) < 1000, "the deadline never cut the stream"
            await asyncio.sleep(0.005)
        assert settled == [("served", 0, "deadline_exceeded")]
        return sent

    sent = asyncio.run(scenario())
    assert sent[-1] == b"error:deadline_exceeded"
    assert len(sent) < 100  # ~20 events in 0.1 s at 5 ms each, not the upstream's endless supply


def test_an_upstream_failure_comes_after_the_events_read_before_it() -> None:
    async def failing() -> AsyncIterator[StreamEvent]:
        for _ in range(READ_AHEAD + 4):  # more than the queue holds: the reader waits on the client
            yield StreamEvent(raw=b"data: x\n\n")
        raise UpstreamFailure("the provider's stream broke (ClientPayloadError)")

    async def scenario() -> tuple[list[bytes], list[Any]]:
        call, stream, settled = call_and_stream(failing(), deadline=None)
        return [out async for out in relay(call, stream)], settled

    sent, settled = asyncio.run(scenario())
    assert b"".join(sent[:-1]) == b"data: x\n\n" * (READ_AHEAD + 4)  # every event, once, in order
    assert sent[-1].startswith(b"error:")
    [(kind, _, error_code)] = settled
    assert kind == "served"
    assert error_code is not None


def test_events_already_read_go_out_together_and_the_end_after_them() -> None:
    async def burst() -> AsyncIterator[StreamEvent]:
        for number in range(5):  # one chunk from the wire holding five events: read with no pause
            yield StreamEvent(raw=f"data: {number}\n\n".encode())

    async def scenario() -> tuple[list[bytes], list[Any]]:
        call, stream, settled = call_and_stream(burst(), deadline=None)
        return [out async for out in relay(call, stream)], settled

    sent, settled = asyncio.run(scenario())
    assert b"".join(sent) == b"".join(f"data: {n}\n\n".encode() for n in range(5)) + b"end"
    assert len(sent) < 6  # not one write per event
    assert settled == [("served", 0, None)]  # settled once, with no error
