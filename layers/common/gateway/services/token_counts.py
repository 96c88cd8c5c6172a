"""Token counting (Anthropic's `/v1/messages/count_tokens`, Gemini's `:countTokens`) on the one
metered call: free of charge, but admitted like inference (the key checked, its rate limit counted,
a hold of one micro-credit that is refunded whole) and traced. An upstream of the request's own
format counts it as sent; another kind counts its canonical form in its own way."""

from __future__ import annotations

from gateway.auth.authenticate import Principal
from gateway.billing.charges import Charge
from gateway.canonical import Body
from gateway.catalog.registry import ModelEntry
from gateway.errors import InvalidRequest
from gateway.formats import token_counts, translatable
from gateway.formats.inbound import Exchange
from gateway.providers.capabilities import TOKEN_COUNTING
from gateway.services.metering import Answer, metered_call
from gateway.services.routing import Candidate


async def count(principal: Principal, exchange: Exchange, trace_id: str) -> Answer[Body]:
    translatable.check(exchange.canonical)

    async def send(candidate: Candidate) -> Body:
        counting = candidate.client(TOKEN_COUNTING)
        if candidate.native(exchange.format) is not None:
            body = token_counts.native_body(exchange, candidate.model)
            return await counting.count_tokens_native(body, candidate.model, exchange.native_headers)
        if exchange.native_only:  # another vendor cannot count what only this format's upstream reads
            first = exchange.native_only[0]
            raise InvalidRequest(f"{first.reason}: only a provider of this format can count it.", param=first.param)
        return token_counts.answer(exchange, await counting.count_tokens(exchange.canonical, candidate.model))

    def free(entry: ModelEntry, answer: Body) -> Charge:
        return Charge(0)

    return await metered_call(
        principal,
        exchange.model,
        trace_id,
        endpoint=exchange.endpoint,
        capability=TOKEN_COUNTING,
        cost_bound=lambda entry: 0,
        send=send,
        charge=free,
    )
