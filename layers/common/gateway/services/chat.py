"""Chat completions: route, reserve, call the upstream, settle. Streams pass through chunk by chunk."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from dataclasses import dataclass
from typing import Any, NoReturn

import anyio

from gateway.auth.authenticate import Principal
from gateway.billing import credits, estimate
from gateway.billing.credits import Outcome
from gateway.catalog.registry import ModelEntry
from gateway.errors import GatewayError, ProviderError, ProviderTimeout, RateLimited, UpstreamRejected
from gateway.formats.openai import ChatCompletionRequest
from gateway.observability import emit_request_metrics, logger, upstream_subsegment
from gateway.providers.errors import UpstreamFailure, UpstreamRefusal, UpstreamTimeout
from gateway.providers.openai import transform
from gateway.providers.openai.client import OpenAICompatibleClient
from gateway.services.admission import admit
from gateway.services.routing import Route
from gateway.storage.credits import Reservation

ENDPOINT = "chat.completions"


@dataclass
class _Call:
    """One request's state from reservation to settlement."""

    principal: Principal
    route: Route
    reservation: Reservation
    body: dict[str, Any]
    started: float
    stream: bool

    def failed(self, error: BaseException) -> Outcome:
        """Nothing reached the client: nothing is charged."""
        gateway_error = _as_gateway_error(error)
        return Outcome(
            endpoint=ENDPOINT,
            provider=self.route.candidate.provider,
            http_status=gateway_error.status,
            error_code=gateway_error.code,
            prompt_tokens=0,
            completion_tokens=0,
            cost=0,
            latency_ms=int((time.monotonic() - self.started) * 1000),
            stream=self.stream,
            attempts=(self.attempt(gateway_error.status, gateway_error.code),),
        )

    def served(
        self,
        *,
        usage: transform.Usage | None,
        completion_bytes: int,
        upstream_started: float,
        error_code: str | None = None,
        first_chunk_at: float | None = None,
    ) -> Outcome:
        """Something reached the client: charge its usage, or a guess from what was sent."""
        now = time.monotonic()
        estimated = usage is None
        if usage is None:
            usage = transform.Usage(
                prompt_tokens=estimate.guess_tokens(estimate.request_bytes(self.body)),
                completion_tokens=estimate.guess_tokens(completion_bytes),
            )
        return Outcome(
            endpoint=ENDPOINT,
            provider=self.route.candidate.provider,
            http_status=200,
            error_code=error_code,
            prompt_tokens=usage.prompt_tokens,
            completion_tokens=usage.completion_tokens,
            cost=self.route.entry.pricing.cost(usage.prompt_tokens, usage.completion_tokens, usage.cached_tokens),
            latency_ms=int((now - self.started) * 1000),
            upstream_latency_ms=int((now - upstream_started) * 1000),
            ttft_ms=int((first_chunk_at - self.started) * 1000) if first_chunk_at else None,
            stream=self.stream,
            usage_estimated=estimated,
            attempts=(self.attempt(200, error_code, upstream_started),),
        )

    def attempt(self, http_status: int, error_code: str | None, started: float | None = None) -> dict[str, Any]:
        return {
            "provider": self.route.candidate.provider,
            "upstream_model": self.route.candidate.model,
            "http_status": http_status,
            "error_code": error_code,
            "latency_ms": int((time.monotonic() - (started or self.started)) * 1000),
        }

    async def settle(self, outcome: Outcome) -> None:
        """Settle even if the request is being cancelled (client gone): money first."""
        with anyio.CancelScope(shield=True):
            try:
                entry = await anyio.to_thread.run_sync(credits.settle, self.reservation, outcome)
            except Exception:
                # The reservation stays; the sweeper refunds it. Never lose the answer over this.
                logger().exception("settlement failed; the sweeper will refund the reservation")
                return
            if entry is not None:
                emit_request_metrics(entry)


@dataclass(frozen=True)
class ChatAnswer:
    """A completion (dict), or for `stream: true` SSE bytes to send as they come; plus headers."""

    content: dict[str, Any] | AsyncIterator[bytes]
    headers: dict[str, str]


async def create_completion(principal: Principal, request: ChatCompletionRequest, trace_id: str) -> ChatAnswer:
    started = time.monotonic()
    body = request.wire_body()
    prompt_bound = estimate.prompt_token_bound(body)

    def cost_bound(entry: ModelEntry) -> int:
        completion_bound = estimate.completion_token_bound(entry, request.requested_output_tokens(), request.n)
        return estimate.reservation_amount(entry, prompt_bound, completion_bound)

    admission = await admit(principal, request.model, cost_bound, trace_id)
    route = admission.route
    call = _Call(admission.principal, route, admission.reservation, body, started, stream=request.stream)
    client = OpenAICompatibleClient(route.endpoint)
    upstream_body = transform.chat_request(body, route.candidate.model)
    upstream_started = time.monotonic()
    traced = upstream_subsegment(route.candidate.provider, route.entry.id, stream=request.stream)
    if not request.stream:
        try:
            async with traced:
                payload = await client.chat(upstream_body)
        except BaseException as error:
            await call.settle(call.failed(error))
            _reraise(error)
        await call.settle(
            call.served(
                usage=transform.usage_from(payload),
                completion_bytes=transform.completion_text_bytes(payload),
                upstream_started=upstream_started,
            )
        )
        return ChatAnswer(payload, await admission.headers())

    stack = AsyncExitStack()
    try:
        async with traced:  # until the upstream answers: the stream itself is timed by the ledger
            events = await stack.enter_async_context(client.stream_chat(upstream_body))
    except BaseException as error:
        await stack.aclose()
        await call.settle(call.failed(error))
        _reraise(error)
    wants_usage = bool(request.stream_options and request.stream_options.include_usage)
    return ChatAnswer(_relay(call, events, stack, upstream_started, wants_usage), await admission.headers())


async def _relay(
    call: _Call, events: AsyncIterator[str], stack: AsyncExitStack, upstream_started: float, wants_usage: bool
) -> AsyncIterator[bytes]:
    """Pass upstream chunks through as they come. The request is settled before the stream's last
    event, so a client that has read `[DONE]` (or an error event) already sees its charge."""
    usage: transform.Usage | None = None
    first_chunk_at: float | None = None
    sent_bytes = 0
    settled = False

    async def settle(error_code: str | None) -> None:
        nonlocal settled
        if settled:
            return
        settled = True
        if first_chunk_at is None and usage is None:
            await call.settle(call.failed(ProviderError("The stream ended before any output.", code=error_code)))
            return
        await call.settle(
            call.served(
                usage=usage,
                completion_bytes=sent_bytes,
                upstream_started=upstream_started,
                error_code=error_code,
                first_chunk_at=first_chunk_at,
            )
        )

    try:
        async for data in events:
            if data == "[DONE]":
                await settle(None)
                yield b"data: [DONE]\n\n"
                continue
            info = transform.chunk_info(data)
            if info.usage is not None:
                usage = info.usage
            if info.error is not None:
                await settle("provider_error")
                yield f"data: {data}\n\n".encode()
                return
            if info.usage_only and not wants_usage:
                continue
            if first_chunk_at is None:
                first_chunk_at = time.monotonic()
            sent_bytes += info.text_bytes
            yield f"data: {data}\n\n".encode()
        await settle(None)  # an upstream that ends without [DONE]
    except UpstreamFailure as error:
        gateway_error = _as_gateway_error(error)
        logger().warning("upstream stream failed", extra={"error_code": gateway_error.code})
        await settle(gateway_error.code)
        yield f"data: {transform.error_chunk(gateway_error.message, gateway_error.code)}\n\n".encode()
    finally:
        with anyio.CancelScope(shield=True):
            await stack.aclose()
        await settle("client_disconnected")


def _reraise(error: BaseException) -> NoReturn:
    if isinstance(error, GatewayError) or not isinstance(error, Exception):
        raise error  # ours already, or cancellation and exit: travel on untouched
    raise _as_gateway_error(error) from error


def _as_gateway_error(error: BaseException) -> GatewayError:
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
