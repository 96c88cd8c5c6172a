"""A stream's events out to the client as they come, and its settlement whichever way it ends.

- It ends: settled on the usage the upstream reported, before the stream's last event, so a client
  that read the end already sees its charge.
- The upstream fails midway (its connection breaks, its body ends before its format's last event, it
  sends an error or an event that cannot be read): an error event in the client's format; charged
  for what was produced.
- The client goes away: the upstream is read on to its end, for a short grace at most (its usage comes
  at the end, or grows with every event), then charged on that usage or on an estimate that covers the
  prompt and every produced byte.
- The invocation's deadline nears: ended with an error event and settled while the function lives.
- Nothing arrives for a while: heartbeats keep API Gateway's idle timeout away (an SSE comment, or
  what the encoder names: Gemini's SDKs read every other line as JSON).

A stream that ends without its final usage is charged on the counts its provider reported so far
(providers.streams), the output no less than the estimate of what was produced.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass

import anyio

from gateway import deadline as deadlines
from gateway.canonical import StreamEvent, Usage, completion_text_bytes, usage_from
from gateway.config import get_settings
from gateway.errors import DeadlineExceeded, ProviderError
from gateway.observability import logger
from gateway.providers.errors import UpstreamFailure, api_error
from gateway.providers.streams import Reported, nothing_reported, read_failure, reported_by
from gateway.services.chat import ChatCall, UpstreamStream

HEARTBEAT = b": keep-alive\n\n"  # an SSE comment, unless the encoder names its own `heartbeat`
CLIENT_GONE = "client_disconnected"  # the ledger's error code of a stream whose client went away
READ_AHEAD = 16  # events read from the upstream before the client took them


@dataclass
class _Tally:
    """What the upstream has produced so far, for the charge."""

    usage: Usage | None = None  # the usage its chunks reported
    produced_bytes: int = 0  # output text the upstream sent, forwarded or not
    first_at: float | None = None  # when the first bytes went to the client
    reported: Callable[[], Reported | None] = nothing_reported  # the provider's counts so far

    def observe(self, event: StreamEvent) -> None:
        for chunk in event.chunks:
            usage, produced = usage_from(chunk), completion_text_bytes(chunk)
            self.usage = usage or self.usage
            self.produced_bytes += produced

    def counted(self) -> tuple[Usage | None, Usage | None]:
        """(the final usage, or None; else the partial counts reported so far, or None)."""
        try:
            report = self.reported() if self.usage is None else None
        except Exception:  # counts the gateway cannot read: none (the settlement must go on)
            report = None
        if report is None:
            return self.usage, None
        return (report.usage, None) if report.final else (None, report.usage)


class _Upstream:
    """Reads the upstream in a task of its own into a short queue, so that waiting for the next event
    can time out (for a heartbeat or the deadline) without abandoning the read; an event already read
    is taken at once, with no timer (a chunk from the wire often holds several)."""

    def __init__(self, events: AsyncIterator[StreamEvent]) -> None:
        self._events = events
        self._queue: asyncio.Queue[StreamEvent | Exception | None] = asyncio.Queue(maxsize=READ_AHEAD)
        self._reader: asyncio.Task[None] | None = None
        self._ended = False
        self._kept: list[Exception | None] = []  # the end or an error `ready` met: `next` returns it

    async def _read(self) -> None:
        try:
            async for event in self._events:
                await self._queue.put(event)
        except Exception as error:  # the relay raises it where it would have met it
            await self._queue.put(_failure(error))
            return
        except BaseException:  # cancelled (the relay is done with it) or worse: whoever waits sees an end
            with contextlib.suppress(asyncio.QueueFull):
                self._queue.put_nowait(None)
            raise
        await self._queue.put(None)

    async def next(self, timeout: float | None) -> tuple[bool, StreamEvent | None]:
        """(True, event or None at the end), or (False, None) when `timeout` passed first."""
        if self._ended:
            return True, None
        if self._reader is None:
            self._reader = asyncio.ensure_future(self._read())
        item: StreamEvent | Exception | None
        if self._kept:
            item = self._kept.pop()
        elif self._queue.empty():
            try:
                async with asyncio.timeout(timeout):
                    item = await self._queue.get()
            except TimeoutError:
                return False, None
        else:
            item = self._queue.get_nowait()
        if item is None or isinstance(item, Exception):
            self._ended = True
            if item is not None:
                raise item
        return True, item

    def ready(self) -> StreamEvent | None:
        """An event already read, if the next thing waiting is one (never the end or an error)."""
        if self._ended or self._kept or self._queue.empty():
            return None
        item = self._queue.get_nowait()
        if isinstance(item, StreamEvent):
            return item
        self._kept.append(item)
        return None

    async def cancel(self) -> None:
        if self._reader is not None:
            self._reader.cancel()
            with contextlib.suppress(BaseException):
                await self._reader
            self._reader = None
        self._ended = True


async def relay(call: ChatCall, stream: UpstreamStream) -> AsyncIterator[bytes]:
    settings = get_settings()
    encoder = call.exchange.encoder()
    heartbeat: bytes = getattr(encoder, "heartbeat", HEARTBEAT)
    tally = _Tally(reported=reported_by(stream.events))
    upstream = _Upstream(stream.events)
    deadline = call.meter.deadline
    settled = False
    cost = 0  # what the ledger charged, once settled
    shown: Usage | None = None  # the usage the stream ends with: reported, else what the charge counted

    async def settle(error_code: str | None) -> None:
        nonlocal settled, cost, shown
        if settled:
            return
        settled = True
        usage, partial = tally.counted()
        shown = usage
        reported_none = usage is not None and usage.prompt_tokens == usage.completion_tokens == 0  # billed nothing
        produced_nothing = tally.produced_bytes == 0 and (reported_none or (tally.first_at is None and usage is None))
        # Failed before any output: refunded. A client that left is not a failure: the upstream took its
        # prompt (whether or not its format had sent the client anything yet), so it pays at least that.
        if produced_nothing and error_code not in (None, CLIENT_GONE):
            failure = ProviderError("The stream ended before any output.", code=error_code)
            cost = await call.meter.settle(call.meter.failed(failure))
        else:
            charge = (
                call.charge(stream.candidate, usage, tally.produced_bytes)
                if partial is None
                else call.charge_reported(stream.candidate, partial, tally.produced_bytes)
            )
            if usage is None:  # estimated (the provider reported no usage, or only part of it)
                shown = Usage(prompt_tokens=charge.prompt_tokens, completion_tokens=charge.completion_tokens)
            outcome = call.meter.served(
                stream.candidate, stream.started, charge, error_code=error_code, first_at=tally.first_at
            )
            cost = await call.meter.settle(outcome)

    try:
        while True:
            left = deadlines.seconds_left(deadline)
            if left == 0:  # checked before taking an event: read-ahead events may always be waiting
                raise DeadlineExceeded("The answer was cut at this request's time limit; charged for what was sent.")
            wait = settings.heartbeat_seconds if left is None else min(settings.heartbeat_seconds, left)
            arrived, event = await upstream.next(wait)
            if not arrived:
                if deadlines.seconds_left(deadline) == 0:
                    raise DeadlineExceeded(
                        "The answer was cut at this request's time limit; charged for what was sent."
                    )
                yield heartbeat
                continue
            if event is None:
                break
            out, unreadable = b"", None
            while event is not None:  # with the events already read: one write to the client for them all
                try:
                    tally.observe(event)
                    out += encoder.passthrough(event) if stream.native else b"".join(map(encoder.feed, event.chunks))
                except Exception as error:  # a chunk of a shape the gateway cannot read
                    unreadable = _failure(error)
                    break
                event = upstream.ready()
            if out:
                tally.first_at = tally.first_at or time.monotonic()
                yield out
            if unreadable is not None:
                raise unreadable
        await settle(None)
        yield encoder.finish(shown, native=stream.native, cost=cost)
    except (UpstreamFailure, DeadlineExceeded) as error:
        if isinstance(error, UpstreamFailure) and error.usage is not None:  # OpenAI's response.failed
            tally.usage = usage_from({"usage": error.usage}) or tally.usage
        gateway_error = api_error(error)
        logger().warning("stream ended early", extra={"error_code": gateway_error.code})
        await settle(gateway_error.code)
        yield encoder.error(gateway_error)
    finally:
        with anyio.CancelScope(shield=True):
            if not settled:  # the client went away: what the upstream produced is still owed
                await _drain_for_usage(upstream, tally, settings.disconnect_drain_seconds, deadline)
            await upstream.cancel()
            await stream.stack.aclose()
            await settle(CLIENT_GONE)


async def _drain_for_usage(upstream: _Upstream, tally: _Tally, grace: float, deadline: float | None) -> None:
    """Read on (sending nothing) until the upstream ends or `grace` passes: its usage, whether reported
    at its end or with every event (vLLM's continuous usage stats), is then what it produced."""
    until = time.monotonic() + grace
    while True:
        left = until - time.monotonic()
        limit = deadlines.seconds_left(deadline)
        left = left if limit is None else min(left, limit)
        if left <= 0:
            return
        try:
            arrived, event = await upstream.next(left)
        except Exception:
            return
        if not arrived or event is None:
            return
        try:
            tally.observe(event)
        except Exception:
            return


def _failure(error: Exception) -> UpstreamFailure:
    failure = read_failure(error)
    if failure is not error:
        logger().warning("the provider sent an event the gateway cannot read", exc_info=error)
    return failure
