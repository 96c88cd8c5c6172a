"""Chat in any inbound format to any upstream: admitted with a bound on its tokens, the output cap
the hold priced given to the upstream, then a metered call (services/metering.py) answered whole or
relayed as a stream (services/relay.py) and charged on the tokens the provider reported. An upstream
that speaks the client's own format gets the body untouched but for the model and the output cap.

OpenRouter's `models` (fallback models) and `provider` preferences shape the route
(services/fallbacks.py); the hold covers the dearest model, and the one that answers is charged."""

from __future__ import annotations

import asyncio
import functools
import time
from collections.abc import AsyncIterator, Sequence
from contextlib import AsyncExitStack
from dataclasses import dataclass, replace
from typing import Any

import anyio

from gateway import afterwards
from gateway.auth.authenticate import Principal, refresh
from gateway.billing import charges, credits, estimate
from gateway.billing.charges import Charge
from gateway.canonical import Body, ChatCompletion, StreamEvent, Usage, completion_text_bytes, usage_from
from gateway.catalog.registry import ModelEntry
from gateway.config import get_settings
from gateway.errors import GatewayError, InvalidRequest
from gateway.formats import translatable
from gateway.formats.inbound import Exchange
from gateway.providers import streams
from gateway.providers.capabilities import CHAT, Capability, Events, NativeChat
from gateway.providers.errors import UpstreamFailure, UpstreamRefusal, api_error
from gateway.services import server_tools, speculation
from gateway.services.admission import Admission, admit
from gateway.services.fallbacks import Leg, Plan, plan
from gateway.services.metering import Answer, Meter
from gateway.services.routing import Candidate, Preferences, Route
from gateway.storage.api_keys import ApiKeyRecord
from gateway.storage.credits import Reservation

ChatAnswer = Answer[Body | AsyncIterator[bytes]]  # a whole answer, or a stream's bytes as they come


async def infer(
    principal: Principal,
    exchange: Exchange,
    trace_id: str,
    *,
    vendor: str | None = None,
    deadline: float | None = None,
    capability: Capability[Any] = CHAT,
) -> ChatAnswer:
    """`deadline` (a `time.monotonic()`) is when the answer must be settled: the Lambda's end. A
    non-streamed answer must also come before API Gateway gives up on a silent response."""
    started = time.monotonic()
    translatable.check(exchange.canonical)
    if not exchange.stream:
        limit = started + get_settings().buffered_answer_seconds
        deadline = limit if deadline is None else min(deadline, limit)
    preferences = Preferences.parse(exchange.provider_preferences, vendor)
    canonical = exchange.canonical
    requested = canonical.get("max_completion_tokens") or canonical.get("max_tokens")
    choices = canonical.get("n") or 1

    # once, not for every candidate: the bodies an upstream may be sent, at a token per byte at most
    native_bytes, canonical_bytes = estimate.request_bytes(exchange.native), estimate.request_bytes(canonical)
    native_media = any(part.media for part in exchange.native_only)  # media only the native body carries

    def leg_for(entry: ModelEntry, served: Sequence[Candidate]) -> Leg:
        if entry.category != "chat":  # priced in its own units (images, characters, seconds): not in tokens
            raise InvalidRequest(f"`{entry.id}` is not a chat model.", param="model")
        if exchange.requires is not None and exchange.requires not in entry.capabilities:
            raise InvalidRequest(f"`{entry.id}` is not served on this endpoint.", param="model")
        context = _context_tokens(entry, exchange)
        cap = estimate.output_cap(entry, requested)
        # An upstream of the client's own format is sent the native body whole, with what the canonical
        # form leaves out (and the upstream bills all the same); the others, the canonical one.
        natively = [_native(candidate, exchange) is not None for candidate in served]
        sent = max(native_bytes if any(natively) else 0, 0 if all(natively) else canonical_bytes)
        prompt = sent + estimate.media_allowance(canonical, context) + (context if native_media else 0)
        prompt += server_tools.extra_prompt_tokens(exchange, context) + estimate.tool_allowance(exchange.native)
        completion = estimate.completion_token_bound(entry, requested, choices)
        cost = estimate.reservation_amount(entry, prompt, completion) + server_tools.fee_bound(exchange, entry)
        return Leg(entry, prompt, cap, cost)

    plans: list[Plan] = []  # the plan of the route admission chose (routed again if the key changed)

    def router(key: ApiKeyRecord) -> Route:
        chosen = plan(
            key,
            (exchange.model, *exchange.models),
            capability,
            preferences,
            leg_for=leg_for,
            native=lambda candidate: _native(candidate, exchange) is not None,
            native_only=exchange.native_only,
        )
        plans[:] = [chosen]
        return chosen.route

    def meter(reservation: Reservation | None, hold: asyncio.Future[Reservation] | None = None) -> Meter:
        return Meter(
            exchange.endpoint,
            reservation,
            started,
            deadline,
            exchange.stream,
            hold=hold,
            user=exchange.user,
            metadata=exchange.metadata,
            also_falls_back=_translation_refused if preferences.require_parameters else None,
        )

    def cost_bound(_: ModelEntry) -> int:
        return plans[0].cost_bound

    chosen = speculation.plan(principal, exchange.model, capability, cost_bound, preferences, router)
    if chosen is not None:  # the upstream call starts while the hold is written
        held = speculation.hold(principal, chosen, trace_id)
        call = ChatCall(exchange, plans[0], meter(None, held))
        try:
            return await speculation.alongside(held, _answer(call, None))
        except (credits.KeyChanged, credits.ProfileChanged):  # the account changed: read it again, as below
            speculation.refused_as_changed(principal.key.account_id)
            principal = await anyio.to_thread.run_sync(refresh, principal)
    admission = await admit(principal, exchange.model, capability, cost_bound, trace_id, preferences, router=router)
    return await _answer(ChatCall(exchange, plans[0], meter(admission.reservation)), admission)


async def _answer(call: ChatCall, admission: Admission | None) -> ChatAnswer:
    """The whole answer (settled), or the stream to relay (its first event in hand, its hold written)."""
    if not call.exchange.stream:
        body = await call.complete()
        return Answer(body, await admission.headers() if admission is not None else {})
    from gateway.services.relay import relay

    stream = await call.open_stream()
    return Answer(relay(call, stream), await admission.headers() if admission is not None else {})


def _translation_refused(error: BaseException) -> bool:
    """OpenRouter's `require_parameters`: a provider that cannot take a parameter hands over."""
    return isinstance(error, InvalidRequest)


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


def _native(candidate: Candidate, exchange: Exchange) -> NativeChat | None:
    return candidate.native(exchange.format)


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
    plan: Plan
    meter: Meter

    def charge(self, candidate: Candidate, usage: Usage | None, produced_bytes: int) -> Charge:
        """Tokens (and server-tool uses), on the usage reported, else on a covering estimate (see
        billing.charges; completions the upstream made and did not return, `best_of`'s, each at the
        output cap), at the prices of the model that answered."""
        leg = self.plan.leg(candidate)
        return charges.for_tokens(
            leg.entry.pricing,
            usage,
            prompt_bound=leg.prompt_bound,
            produced_bytes=produced_bytes,
            tools=self.exchange.server_tools,
            unseen_tokens=self.exchange.unseen_completions * leg.output_cap,
        )

    def charge_reported(self, candidate: Candidate, reported: Usage, produced_bytes: int) -> Charge:
        """A stream that ended before its final usage, on the counts its provider reported: the prompt
        as reported; the output at least the covering estimate of what was produced. Server tools may
        add input after the report (search results), and a zero prompt is no count: both charge as if
        nothing was reported."""
        tools = self.exchange.server_tools
        if tools.web_searches or tools.web_fetches or tools.grounded or tools.rounds or not reported.prompt_tokens:
            return self.charge(candidate, None, produced_bytes)
        output = max(reported.completion_tokens, estimate.covering_tokens(produced_bytes))
        usage = replace(reported, completion_tokens=output)
        return replace(self.charge(candidate, usage, produced_bytes), estimated=True)

    def answered_by(self, candidate: Candidate) -> None:
        entry = self.plan.leg(candidate).entry
        if entry.id != self.plan.route.entry.id:  # the model the hold was made for
            self.meter.answered_as(entry.id)

    async def complete(self) -> Body:
        async def send(candidate: Candidate) -> tuple[Body | None, ChatCompletion]:
            """The upstream's own answer (None when translated) and its canonical form."""
            cap = self.plan.leg(candidate).output_cap
            native = _native(candidate, self.exchange)
            if native is not None:  # same format: the body goes through untouched
                body = self.exchange.native_for(candidate.model, cap)
                return await native.complete_native(body, candidate.model, self.exchange.native_headers)
            request = self.exchange.canonical_for(cap)
            return None, await candidate.client(CHAT).complete(request, candidate.model)

        answered = await self.meter.first_answer(self.plan.route, send)
        own, canonical = answered.answer
        self.answered_by(answered.candidate)
        charge = self.charge(answered.candidate, usage_from(canonical), completion_text_bytes(canonical))
        try:  # translated once the upstream answered: it billed its usage, whatever becomes of the answer
            answer = own if own is not None else self.exchange.respond(canonical)
        except Exception as error:
            failure = api_error(error)
            await self.meter.settle(
                self.meter.served(answered.candidate, answered.asked_at, charge, error_code=failure.code)
            )
            if failure is error:
                raise
            raise failure from error
        outcome = self.meter.served(answered.candidate, answered.asked_at, charge)
        cost = await self.meter.charged(outcome)  # the hold is written: the answer may go out
        await afterwards.after_answer(functools.partial(self.meter.settle, outcome))
        return self.exchange.priced(answer, cost)

    async def open_stream(self) -> UpstreamStream:
        """The first candidate whose stream opens and yields a first event: nothing has reached the
        client before that, so until then a failing candidate hands over to the next."""

        async def send(candidate: Candidate) -> UpstreamStream:
            cap = self.plan.leg(candidate).output_cap
            native = _native(candidate, self.exchange)
            opening: Events = (
                native.stream_native(
                    self.exchange.native_for(candidate.model, cap), candidate.model, self.exchange.native_headers
                )
                if native is not None
                else candidate.client(CHAT).stream(self.exchange.canonical_for(cap), candidate.model)
            )
            started, stack = time.monotonic(), AsyncExitStack()
            try:
                events = await stack.enter_async_context(opening)
                first = await _first(events)
            except BaseException:
                with anyio.CancelScope(shield=True):
                    await stack.aclose()
                raise
            return UpstreamStream(candidate, native is not None, streams.prepended(first, events), stack, started)

        stream = (await self.meter.first_answer(self.plan.route, send)).answer
        try:
            await self.meter.held()  # nothing is relayed before the hold is written
        except BaseException:
            with anyio.CancelScope(shield=True):
                await stream.stack.aclose()
            raise
        self.answered_by(stream.candidate)
        return stream


async def _first(events: AsyncIterator[StreamEvent]) -> StreamEvent:
    """A stream's first event: a stream with none, or one that cannot be read, is the upstream's
    failure (the next candidate is tried; nothing is charged)."""
    try:
        first = await anext(aiter(events), None)
    except (UpstreamFailure, UpstreamRefusal, GatewayError):
        raise
    except Exception as error:
        raise streams.read_failure(error) from error
    if first is None:
        raise UpstreamFailure(streams.NO_EVENT)
    return first
