"""Inference in any format to any upstream: admit (route + reserve), call the candidates in order
until one answers (falling back on connection errors, timeouts, 429 and 5xx while nothing has reached
the client), settle. Streams are relayed event by event (services/relay.py); same-format upstreams
pass through untouched but for the output cap the hold priced."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack
from dataclasses import dataclass, field, replace
from typing import Any, NoReturn, TypeVar

import anyio

from gateway import deadline as deadlines
from gateway.auth.authenticate import Principal
from gateway.billing import credits, estimate
from gateway.billing.credits import Outcome
from gateway.catalog.registry import ModelEntry
from gateway.config import get_settings
from gateway.errors import (
    DeadlineExceeded,
    GatewayError,
    InvalidRequest,
    ProviderError,
    ProviderNotConfigured,
    ProviderTimeout,
    RateLimited,
    UpstreamRejected,
)
from gateway.formats.inbound import Exchange
from gateway.observability import emit_request_metrics, upstream_subsegment
from gateway.providers import health
from gateway.providers.clients import StreamEvent, client_for
from gateway.providers.errors import UpstreamFailure, UpstreamRefusal, UpstreamTimeout
from gateway.providers.openai.transform import Usage, completion_text_bytes, usage_from
from gateway.services.admission import Admission, admit
from gateway.services.routing import Candidate, Preferences

T = TypeVar("T")


@dataclass(frozen=True)
class Answer:
    """A whole answer (dict), or for streams the bytes to send as they come; plus response headers."""

    content: dict[str, Any] | AsyncIterator[bytes]
    headers: dict[str, str]


async def infer(
    principal: Principal,
    exchange: Exchange,
    trace_id: str,
    *,
    vendor: str | None = None,
    deadline: float | None = None,
) -> Answer:
    """`deadline` (a `time.monotonic()`) is when the answer must be settled: the Lambda's end. A
    non-streamed answer must also come before API Gateway gives up on a silent response."""
    started = time.monotonic()
    if not exchange.stream:
        limit = started + get_settings().buffered_answer_seconds
        deadline = limit if deadline is None else min(deadline, limit)
    preferences = Preferences.parse(exchange.provider_preferences, vendor)
    canonical = exchange.canonical
    requested = canonical.get("max_completion_tokens") or canonical.get("max_tokens")
    choices = canonical.get("n") or 1
    bounds: dict[str, int] = {}

    def cost_bound(entry: ModelEntry) -> int:
        bounds["prompt"] = estimate.prompt_token_bound(canonical, _context_tokens(entry, exchange))
        completion_bound = estimate.completion_token_bound(entry, requested, choices)
        return estimate.reservation_amount(entry, bounds["prompt"], completion_bound)

    admission = await admit(principal, exchange.model, cost_bound, trace_id, preferences)
    exchange.cap_output(estimate.output_cap(admission.route.entry, requested))
    call = Call(exchange, admission, started, bounds["prompt"], deadline)
    if not exchange.stream:
        return Answer(await call.complete(), await admission.headers())
    from gateway.services.relay import relay

    stream = await call.open_stream()
    return Answer(relay(call, stream), await admission.headers())


def _context_tokens(entry: ModelEntry, exchange: Exchange) -> int:
    """The most tokens a prompt can reach on this model for this request. Anthropic's long-context
    beta lifts it, but only where the catalog prices the long tier: a header cannot unlock an
    unpriced tier."""
    betas = exchange.native_headers.get("anthropic-beta", "")
    wants_long = any(name.strip().startswith("context-1m") for name in betas.split(","))
    if not wants_long:
        return entry.context_length
    if entry.extended_context_length is None or not entry.pricing.tiers:
        raise InvalidRequest(
            f"The long-context beta is not available for `{entry.id}`: its long-context prices are not set.",
            param="anthropic-beta",
        )
    return entry.extended_context_length


@dataclass
class UpstreamStream:
    candidate: Candidate
    native: bool
    events: AsyncIterator[StreamEvent]
    stack: AsyncExitStack
    started: float


@dataclass
class Call:
    exchange: Exchange
    admission: Admission
    started: float
    prompt_bound: int = 0  # tokens: the most the hold assumed the prompt can come to
    deadline: float | None = None
    attempts: list[dict[str, Any]] = field(default_factory=list)

    async def complete(self) -> dict[str, Any]:
        async def send(candidate: Candidate) -> tuple[dict[str, Any], dict[str, Any]]:
            if candidate.kind == self.exchange.kind:  # same format: the body goes through untouched
                client = client_for(candidate.kind, candidate.endpoint, self.exchange.native_headers)
                return await client.complete_native(self.exchange.native_for(candidate.model), candidate.model)
            client = client_for(candidate.kind, candidate.endpoint)
            canonical = await client.complete(self.exchange.canonical, candidate.model)
            return self.exchange.respond(canonical), canonical

        candidate, (answer, canonical), asked = await self.first_answer(send)
        await self.settle(self.served(candidate, usage_from(canonical), completion_text_bytes(canonical), asked))
        return answer

    async def open_stream(self) -> UpstreamStream:
        """The first candidate whose stream opens and yields a first event: nothing has reached the
        client before that, so until then a failing candidate hands over to the next."""

        async def send(candidate: Candidate) -> UpstreamStream:
            native = candidate.kind == self.exchange.kind
            client = client_for(candidate.kind, candidate.endpoint, self.exchange.native_headers if native else None)
            opening = (
                client.stream_native(self.exchange.native_for(candidate.model), candidate.model)
                if native
                else client.stream(self.exchange.canonical, candidate.model)
            )
            started, stack = time.monotonic(), AsyncExitStack()
            try:
                events = await stack.enter_async_context(opening)
                first = await anext(aiter(events), None)
            except BaseException:
                with anyio.CancelScope(shield=True):
                    await stack.aclose()
                raise
            return UpstreamStream(candidate, native, _prepend(first, events), stack, started)

        _, stream, _ = await self.first_answer(send, stream=True)
        return stream

    async def first_answer(
        self,
        send: Callable[[Candidate], Awaitable[T]],
        *,
        kinds: tuple[str, ...] | None = None,
        stream: bool = False,
    ) -> tuple[Candidate, T, float]:
        """`send` to the first candidate (of `kinds`), then to the next while the failure is the
        upstream's (connection, timeout, 429, 5xx): (who answered, the answer, when it was asked).
        Settles the request as failed when none answers, or when the invocation's deadline comes
        first (the provider reported nothing, so nothing is charged)."""
        candidates = [c for c in self.admission.route.candidates if kinds is None or c.kind in kinds]
        if not candidates:
            error = ProviderNotConfigured(f"No provider that serves this endpoint is configured for `{self.entry.id}`.")
            await self.settle(self.failed(error))
            raise error
        for position, candidate in enumerate(candidates):
            attempt_started = time.monotonic()
            try:
                async with upstream_subsegment(candidate.provider, self.entry.id, stream=stream):
                    try:
                        with anyio.fail_after(deadlines.seconds_left(self.deadline)):
                            answer = await send(candidate)
                    except TimeoutError as timeout:
                        raise DeadlineExceeded(
                            "The provider did not answer before this request's time limit; nothing was charged."
                        ) from timeout
            except BaseException as error:
                self.record_attempt(candidate, error, attempt_started)
                if may_fall_back(error) and position < len(candidates) - 1:
                    continue
                await self.settle(self.failed(error))
                reraise(error)
            self.record_attempt(candidate, None, attempt_started)
            return candidate, answer, attempt_started
        raise AssertionError("a route has at least one candidate")

    @property
    def entry(self) -> ModelEntry:
        return self.admission.route.entry

    def failed(self, error: BaseException) -> Outcome:
        """Nothing reached the client: nothing is charged."""
        gateway_error = as_gateway_error(error)
        return Outcome(
            endpoint=self.exchange.endpoint,
            provider=self.attempts[-1]["provider"] if self.attempts else None,
            http_status=gateway_error.status,
            error_code=gateway_error.code,
            prompt_tokens=0,
            completion_tokens=0,
            cost=0,
            latency_ms=_ms(self.started),
            stream=self.exchange.stream,
            attempts=tuple(self.attempts),
        )

    def served(
        self,
        candidate: Candidate,
        usage: Usage | None,
        produced_bytes: int,
        upstream_started: float,
        error_code: str | None = None,
        first_at: float | None = None,
    ) -> Outcome:
        """The upstream answered: charge the usage it reported; when it reported none, an estimate
        that surely covers what it billed: the whole prompt bound (images and files included) and a
        token for every byte of output it produced."""
        estimated = usage is None
        if usage is None:
            usage = Usage(prompt_tokens=self.prompt_bound, completion_tokens=estimate.covering_tokens(produced_bytes))
        return Outcome(
            endpoint=self.exchange.endpoint,
            provider=candidate.provider,
            http_status=200,
            error_code=error_code,
            prompt_tokens=usage.prompt_tokens,
            completion_tokens=usage.completion_tokens,
            cost=self.entry.pricing.cost(
                usage.prompt_tokens,
                usage.completion_tokens,
                usage.cached_tokens,
                usage.cache_write_tokens,
                usage.audio_tokens,
                usage.cache_write_1h_tokens,
            ),
            latency_ms=_ms(self.started),
            upstream_latency_ms=_ms(upstream_started),
            ttft_ms=int((first_at - self.started) * 1000) if first_at else None,
            stream=self.exchange.stream,
            usage_estimated=estimated,
            attempts=tuple(self.attempts),
        )

    async def settle(self, outcome: Outcome) -> None:
        """Settle even if the request is being cancelled (client gone): money first."""
        outcome = replace(outcome, routing_strategy=self.admission.route.strategy)
        with anyio.CancelScope(shield=True):
            entry = await anyio.to_thread.run_sync(credits.settle_durably, self.admission.reservation, outcome)
        if entry is not None:
            emit_request_metrics(entry)

    def record_attempt(self, candidate: Candidate, error: BaseException | None, started: float) -> None:
        if error is None:
            health.succeeded(candidate.provider)
        elif may_fall_back(error):
            health.failed(candidate.provider)
        gateway_error = as_gateway_error(error) if error is not None else None
        self.attempts.append(
            {
                "provider": candidate.provider,
                "upstream_model": candidate.model,
                "http_status": gateway_error.status if gateway_error else 200,
                "error_code": gateway_error.code if gateway_error else None,
                "latency_ms": _ms(started),
            }
        )


async def _prepend(first: StreamEvent | None, rest: AsyncIterator[StreamEvent]) -> AsyncIterator[StreamEvent]:
    if first is not None:
        yield first
        async for event in rest:
            yield event


def may_fall_back(error: BaseException) -> bool:
    """Connection errors, timeouts, 429 and 5xx: the upstream's trouble, worth another candidate."""
    return isinstance(error, UpstreamFailure)


def _ms(since: float) -> int:
    return int((time.monotonic() - since) * 1000)


def reraise(error: BaseException) -> NoReturn:
    if isinstance(error, GatewayError) or not isinstance(error, Exception):
        raise error  # ours already, or cancellation and exit: travel on untouched
    raise as_gateway_error(error) from error


def as_gateway_error(error: BaseException) -> GatewayError:
    if isinstance(error, GatewayError):
        return error
    if isinstance(error, UpstreamRefusal):
        return UpstreamRejected(error.status, error.message, code=error.code, param=error.param)
    if isinstance(error, UpstreamTimeout):
        return ProviderTimeout("The provider did not answer in time.")
    if isinstance(error, UpstreamFailure):
        if error.status == 429:
            headers = {"Retry-After": error.retry_after} if error.retry_after else None
            return RateLimited(
                "The provider is rate limiting requests; retry shortly.", headers=headers, code="provider_rate_limited"
            )
        return ProviderError(f"The provider failed to answer: {error}")
    return ProviderError("The request was interrupted.", code="interrupted")
