"""What the relay needs from a provider's stream besides its events: the counts the provider reported
before its final usage (for a stream that ends without it: broken, cut at the deadline, or left by
its client), and the failures of a stream that did not end as its format ends (no `[DONE]`, no
message_stop, no finishReason, no messageStop) or sent an event the gateway cannot read."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass

from gateway.canonical import StreamEvent, Usage
from gateway.errors import GatewayError
from gateway.providers.errors import UpstreamFailure, UpstreamRefusal

ENDED_EARLY = "the provider's stream ended before its last event"
NO_EVENT = "the provider's stream ended before any event"
MALFORMED = "the provider sent a malformed event"


@dataclass(frozen=True)
class Reported:
    """Counts a provider reported mid-stream. `final`: the whole answer's; else the prompt's, with
    the output so far (or a placeholder), which the charge covers from what was produced."""

    usage: Usage
    final: bool


def nothing_reported() -> Reported | None:
    return None


class ReportingEvents:
    """A stream's events, and what its provider has reported so far (read when the stream ends)."""

    def __init__(self, events: AsyncIterator[StreamEvent], reported: Callable[[], Reported | None]) -> None:
        self._events = events
        self.reported = reported

    def __aiter__(self) -> ReportingEvents:
        return self

    async def __anext__(self) -> StreamEvent:
        return await anext(self._events)


def prepended(first: StreamEvent, rest: AsyncIterator[StreamEvent]) -> ReportingEvents:
    """`first` (already read), then the rest, reporting as `rest` does."""

    async def events() -> AsyncIterator[StreamEvent]:
        yield first
        async for event in rest:
            yield event

    return ReportingEvents(events(), reported_by(rest))


def reported_by(events: AsyncIterator[StreamEvent]) -> Callable[[], Reported | None]:
    """What `events` reports so far (nothing, for a stream that does not report)."""
    return events.reported if isinstance(events, ReportingEvents) else nothing_reported


def read_failure(error: Exception) -> UpstreamFailure:
    """What an error met reading or translating an upstream event means once the stream has begun:
    the upstream's failure as it is, a refusal with its message, anything else (a chunk of the wrong
    shape that broke a reader) a malformed event."""
    if isinstance(error, UpstreamFailure):
        return error
    failure = UpstreamFailure(error.message if isinstance(error, UpstreamRefusal | GatewayError) else MALFORMED)
    failure.__cause__ = error
    return failure
