"""Chat in any inbound format to any upstream: admitted with a bound on its tokens, the output cap
the hold priced given to the upstream, then a metered call (services/metering.py) answered whole or
relayed as a stream (services/relay.py) and charged on the tokens the provider reported. An upstream
that speaks the client's own format gets the body untouched but for the model and the output cap."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from dataclasses import dataclass

import anyio

from gateway.auth.authenticate import Principal, refresh
from gateway.billing import charges, credits, estimate
from gateway.billing.charges import Charge
from gateway.canonical import Body, ChatCompletion, StreamEvent, Usage, completion_text_bytes, usage_from
from gateway.catalog.registry import ModelEntry
from gateway.config import get_settings
from gateway.errors import InvalidRequest
from gateway.formats.inbound import Exchange
from gateway.providers import registry
from gateway.providers.capabilities import CHAT, Events, NativeChat
from gateway.services import speculation
from gateway.services.admission import admit
from gateway.services.metering import Answer, Meter
from gateway.services.routing import Candidate, Preferences, Route

ChatAnswer = Answer[Body | AsyncIterator[bytes]]  # a whole answer, or a stream's bytes as they come


async def infer(
    principal: Principal,
    exchange: Exchange,
    trace_id: str,
    *,
    vendor: str | None = None,
    deadline: float | None = None,
) -> ChatAnswer:
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

    chosen = speculation.plan(principal, exchange.model, CHAT, cost_bound, preferences)
    if chosen is not None:  # the upstream call starts while the hold is written
        held = speculation.hold(principal, chosen, trace_id)
        exchange.cap_output(estimate.output_cap(chosen.route.entry, requested))
        meter = Meter(exchange.endpoint, None, started, deadline, exchange.stream, hold=held)
        call = ChatCall(exchange, chosen.route, meter, bounds["prompt"])
        try:
            return await speculation.alongside(held, _answer(call, {}))
        except credits.KeyChanged:  # a key of the account changed: read it again, then as below
            principal = await anyio.to_thread.run_sync(refresh, principal)
    admission = await admit(principal, exchange.model, CHAT, cost_bound, trace_id, preferences)
    exchange.cap_output(estimate.output_cap(admission.route.entry, requested))
    meter = Meter(exchange.endpoint, admission.reservation, started, deadline, exchange.stream)
    call = ChatCall(exchange, admission.route, meter, bounds["prompt"])
    return await _answer(call, await admission.headers())


async def _answer(call: ChatCall, headers: dict[str, str]) -> ChatAnswer:
    """The whole answer (settled), or the stream to relay (its first event in hand, its hold written)."""
    if not call.exchange.stream:
        return Answer(await call.complete(), headers)
    from gateway.services.relay import relay

    stream = await call.open_stream()
    return Answer(relay(call, stream), headers)


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
    native: bool  # its events pass through as the upstream sent them
    events: AsyncIterator[StreamEvent]
    stack: AsyncExitStack  # closes the upstream's stream
    started: float


@dataclass
class ChatCall:
    exchange: Exchange
    route: Route
    meter: Meter
    prompt_bound: int  # tokens: the most the hold assumed the prompt can come to

    def charge(self, usage: Usage | None, produced_bytes: int) -> Charge:
        """Tokens, on the usage reported, else on a covering estimate (see billing.charges)."""
        return charges.for_tokens(
            self.route.entry.pricing, usage, prompt_bound=self.prompt_bound, produced_bytes=produced_bytes
        )

    async def complete(self) -> Body:
        async def send(candidate: Candidate) -> tuple[Body, ChatCompletion]:
            native = self._native(candidate)
            if native is not None:  # same format: the body goes through untouched
                body = self.exchange.native_for(candidate.model)
                return await native.complete_native(body, candidate.model, self.exchange.native_headers)
            canonical = await candidate.client(CHAT).complete(self.exchange.canonical, candidate.model)
            return self.exchange.respond(canonical), canonical

        answered = await self.meter.first_answer(self.route, send)
        answer, canonical = answered.answer
        charge = self.charge(usage_from(canonical), completion_text_bytes(canonical))
        await self.meter.settle(self.meter.served(answered.candidate, answered.asked_at, charge))
        return answer

    async def open_stream(self) -> UpstreamStream:
        """The first candidate whose stream opens and yields a first event: nothing has reached the
        client before that, so until then a failing candidate hands over to the next."""

        async def send(candidate: Candidate) -> UpstreamStream:
            native = self._native(candidate)
            opening: Events = (
                native.stream_native(
                    self.exchange.native_for(candidate.model), candidate.model, self.exchange.native_headers
                )
                if native is not None
                else candidate.client(CHAT).stream(self.exchange.canonical, candidate.model)
            )
            started, stack = time.monotonic(), AsyncExitStack()
            try:
                events = await stack.enter_async_context(opening)
                first = await anext(aiter(events), None)
            except BaseException:
                with anyio.CancelScope(shield=True):
                    await stack.aclose()
                raise
            return UpstreamStream(candidate, native is not None, _prepend(first, events), stack, started)

        stream = (await self.meter.first_answer(self.route, send)).answer
        try:
            await self.meter.held()  # nothing is relayed before the hold is written
        except BaseException:
            with anyio.CancelScope(shield=True):
                await stream.stack.aclose()
            raise
        return stream

    def _native(self, candidate: Candidate) -> NativeChat | None:
        return registry.native_client(candidate.kind, candidate.endpoint, self.exchange.format)


async def _prepend(first: StreamEvent | None, rest: AsyncIterator[StreamEvent]) -> AsyncIterator[StreamEvent]:
    if first is not None:
        yield first
        async for event in rest:
            yield event
