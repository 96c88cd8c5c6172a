"""One metered call, for every priced endpoint: admitted (routed for the endpoint's capability and its
cost bound held), sent to the first candidate that answers (falling back on the upstream's failures
while nothing has reached the client, each attempt recorded and fed to provider health), then charged
in the endpoint's own units; or, when no candidate answers, settled as failed with nothing charged.

`metered_call` is the whole of it for one-shot endpoints (embeddings, images, speech, transcription);
chat and the image-task worker drive a `Meter` themselves (a stream is charged when it ends; a task's
reservation was made when it was created).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Generic, NoReturn, TypeVar

import anyio

from gateway import clock, periods
from gateway import deadline as deadlines
from gateway.auth.authenticate import Principal
from gateway.billing import credits
from gateway.billing.charges import Charge
from gateway.billing.credits import Attempt, Outcome
from gateway.catalog.registry import ModelEntry
from gateway.errors import DeadlineExceeded, GatewayError
from gateway.observability import emit_request_metrics, upstream_subsegment
from gateway.providers import capacity, health
from gateway.providers.capabilities import Capability
from gateway.providers.errors import api_error, may_fall_back
from gateway.services.admission import Admission, admit
from gateway.services.channels import guard_for
from gateway.services.routing import Candidate, Route
from gateway.storage import on_loop
from gateway.storage.channel_windows import count_tokens
from gateway.storage.credits import Reservation
from gateway.storage.stores import stores

T = TypeVar("T")


@dataclass(frozen=True)
class Answer(Generic[T]):
    """What a service answers: the content, and the response headers (x-ratelimit-* ...)."""

    content: T
    headers: dict[str, str]


@dataclass(frozen=True)
class Answered(Generic[T]):
    candidate: Candidate  # who answered
    answer: T
    asked_at: float  # when it was asked (time.monotonic())


@dataclass
class Meter:
    """The upstream calls of one request whose cost is held by `reservation` (or, while it is being
    written, by `hold`: services/speculation.py), and its settlement."""

    endpoint: str  # for the ledger: chat.completions, embeddings, images.generations, ...
    reservation: Reservation | None
    started: float  # time.monotonic() when the request arrived
    deadline: float | None = None  # time.monotonic() by which it must be settled
    stream: bool = False
    also_when_failed: Sequence[dict[str, Any]] = ()  # written with a failed settlement (a task's end)
    attempts: list[Attempt] = field(default_factory=list)
    answered_by: Candidate | None = None  # set by `served`
    routing_strategy: str = "auto"  # what ordered the providers (the route's), for the ledger
    hold: asyncio.Future[Reservation] | None = None  # the hold being written meanwhile

    async def held(self) -> Reservation:
        """The reservation, once written; raises the hold's refusal. Nothing is answered, relayed or
        settled before this returns."""
        if self.reservation is not None:
            return self.reservation
        assert self.hold is not None, "a meter holds a reservation or the hold that writes it"
        with anyio.CancelScope(shield=True):  # a client gone meanwhile: the hold is still settled
            reservation = await self.hold
        if self.answered_model is not None:
            reservation = replace(reservation, model=self.answered_model)
        self.reservation = reservation
        return reservation

    answered_model: str | None = None  # set by `answered_as`
    user: str | None = None  # kept on the trace
    metadata: dict[str, str] | None = None  # kept on the trace
    # Failures besides the upstream's own after which the next candidate is tried (OpenRouter's
    # `require_parameters`: a provider that cannot honour a parameter hands over to the next)
    also_falls_back: Callable[[BaseException], bool] | None = None
    # A candidate after the first is asked only while this many seconds are left before the deadline
    # (an image task's worker: a provider cut off at the deadline may still bill what it made)
    least_seconds_left: float = 0.0

    def answered_as(self, model: str) -> None:
        """The request is answered by another model than the one it was held for (OpenRouter's
        `models` fallbacks): its ledger entry and usage name that model."""
        self.answered_model = model
        if self.reservation is not None:  # else applied once the hold is written (`held`)
            self.reservation = replace(self.reservation, model=model)

    async def first_answer(self, route: Route, send: Callable[[Candidate], Awaitable[T]]) -> Answered[T]:
        """`send` to the route's first candidate, then to the next while the failure is the
        upstream's (connection, timeout, 429, 5xx). Settles the request as failed when none answers,
        or when the deadline comes first (the provider reported nothing, so nothing is charged)."""
        candidates = route.candidates
        self.routing_strategy = route.strategy
        for position, candidate in enumerate(candidates):
            asked_at = time.monotonic()
            try:
                async with upstream_subsegment(candidate.provider, route.entry.id, stream=self.stream):
                    try:
                        left = deadlines.seconds_left(self.deadline)
                        if position and left is not None and left < self.least_seconds_left:
                            raise TimeoutError
                        with anyio.fail_after(left):
                            await self._claim(candidate)
                            answer = await send(candidate)
                    except TimeoutError as timeout:
                        raise DeadlineExceeded(
                            "The provider did not answer before this request's time limit; nothing was charged."
                        ) from timeout
            except BaseException as error:
                self._record(candidate, error, asked_at)
                if self._falls_back(error) and position < len(candidates) - 1:
                    continue
                await self.fail(error)
                _reraise(error)
            self._record(candidate, None, asked_at)
            return Answered(candidate, answer, asked_at)
        raise AssertionError("a route has at least one candidate")

    def failed(self, error: BaseException) -> Outcome:
        """Nothing reached the client: nothing is charged."""
        refusal = api_error(error)
        return Outcome(
            endpoint=self.endpoint,
            provider=self.attempts[-1].provider if self.attempts else None,
            http_status=refusal.status,
            error_code=refusal.code,
            prompt_tokens=0,
            completion_tokens=0,
            cost=0,
            latency_ms=_ms(self.started),
            stream=self.stream,
            attempts=tuple(self.attempts),
            user=self.user,
            metadata=self.metadata,
        )

    async def fail(self, error: BaseException) -> None:
        """Settle as failed: the hold comes back whole."""
        await self.settle(self.failed(error), self.also_when_failed)

    def served(
        self,
        candidate: Candidate,
        asked_at: float,
        charge: Charge,
        *,
        error_code: str | None = None,
        first_at: float | None = None,
    ) -> Outcome:
        """The upstream answered: `charge` it (a stream cut midway carries its `error_code`)."""
        self.answered_by = candidate
        return Outcome(
            endpoint=self.endpoint,
            provider=candidate.provider,
            http_status=200,
            error_code=error_code,
            prompt_tokens=charge.prompt_tokens,
            completion_tokens=charge.completion_tokens,
            cost=charge.cost,
            latency_ms=_ms(self.started),
            upstream_latency_ms=_ms(asked_at),
            ttft_ms=int((first_at - self.started) * 1000) if first_at else None,
            stream=self.stream,
            usage_estimated=charge.estimated,
            attempts=tuple(self.attempts),
            units=charge.units,
            user=self.user,
            metadata=self.metadata,
            channel=candidate.channel or candidate.provider,
        )

    async def charged(self, outcome: Outcome) -> int:
        """What settling `outcome` charges (micro-credits), once the hold is written."""
        return credits.charged(await self.held(), outcome)

    async def settle(self, outcome: Outcome, also: Sequence[dict[str, Any]] = ()) -> int:
        """Settle even if the request is being cancelled (client gone): money first. Returns what the
        ledger charged (micro-credits): the outcome's cost, up to the hold. The tokens of a channel with
        a tokens-per-minute cap count in its window, in the same transaction."""
        outcome = replace(outcome, routing_strategy=self.routing_strategy)
        reservation = await self.held()
        answered = self.answered_by
        tokens = outcome.prompt_tokens + outcome.completion_tokens
        if answered is not None and answered.tpm is not None and tokens > 0 and outcome.channel == answered.channel:
            window = periods.rate_window(clock.now())
            also = [*also, count_tokens(stores().channel_windows.table, answered.channel, window, tokens)]
        with anyio.CancelScope(shield=True):
            entry = await on_loop.run(credits.settle_durably, reservation, outcome, also)
        if entry is not None:
            emit_request_metrics(entry)
        return credits.charged(reservation, outcome)

    def _falls_back(self, error: BaseException) -> bool:
        return may_fall_back(error) or (self.also_falls_back is not None and self.also_falls_back(error))

    async def _claim(self, candidate: Candidate) -> None:
        """A capped channel the reservation did not count (a fallback) counts this request on its own
        (one conditional write), or is skipped as full."""
        guard = guard_for(candidate, clock.now())
        counted = self.reservation.channel if self.reservation is not None else None  # a speculative hold: none
        if guard is None or candidate.channel == counted:
            return
        taken = not capacity.full(candidate.channel) and await anyio.to_thread.run_sync(
            stores().channel_windows.take, guard
        )
        if not taken:
            window_ends = (guard.window + 1) * periods.RATE_WINDOW_SECONDS
            capacity.mark_full(candidate.channel, window_ends)
            raise capacity.ChannelFull(candidate.channel, max(window_ends - clock.now_epoch(), 1))

    def _record(self, candidate: Candidate, error: BaseException | None, started: float) -> None:
        channel = candidate.channel or candidate.provider
        if error is None:
            health.succeeded(channel)
            health.answered_in(candidate.provider, time.monotonic() - started)
        elif may_fall_back(error) and not isinstance(error, capacity.ChannelFull):
            health.failed(channel)
        refusal = api_error(error) if error is not None else None
        self.attempts.append(
            Attempt(
                provider=candidate.provider,
                upstream_model=candidate.model,
                http_status=refusal.status if refusal else 200,
                error_code=refusal.code if refusal else None,
                latency_ms=_ms(started),
                channel=channel,
            )
        )


async def metered_call(
    principal: Principal,
    model: str,
    trace_id: str,
    *,
    endpoint: str,
    capability: Capability[Any],
    cost_bound: Callable[[ModelEntry], int],
    send: Callable[[Candidate], Awaitable[T]],
    charge: Callable[[ModelEntry, T], Charge],
) -> Answer[T]:
    """Admit, take the first answer, charge it: the whole of a one-shot priced request. `cost_bound`
    prices the routed model before anything is held (and refuses what it cannot serve); `charge`
    prices the answer, in the endpoint's units."""
    started = time.monotonic()
    admission = await admit(principal, model, capability, cost_bound, trace_id)
    return await serve(admission, started, endpoint=endpoint, send=send, charge=charge)


async def serve(
    admission: Admission,
    started: float,
    *,
    endpoint: str,
    send: Callable[[Candidate], Awaitable[T]],
    charge: Callable[[ModelEntry, T], Charge],
) -> Answer[T]:
    """An admitted request's first answer, charged."""
    meter = Meter(endpoint, admission.reservation, started)
    answered = await meter.first_answer(admission.route, send)
    priced = charge(admission.route.entry, answered.answer)
    await meter.settle(meter.served(answered.candidate, answered.asked_at, priced))
    return Answer(answered.answer, await admission.headers())


def _ms(since: float) -> int:
    return int((time.monotonic() - since) * 1000)


def _reraise(error: BaseException) -> NoReturn:
    if isinstance(error, GatewayError) or not isinstance(error, Exception):
        raise error  # ours already, or cancellation and exit: travel on untouched
    raise api_error(error) from error
