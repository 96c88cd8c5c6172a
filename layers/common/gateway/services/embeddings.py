"""OpenAI embeddings: a metered call holding the input's upper bound in tokens, charged on the
reported usage (or, without it, on that bound)."""

from __future__ import annotations

from gateway.auth.authenticate import Principal
from gateway.billing import charges, estimate
from gateway.billing.charges import Charge
from gateway.canonical import Body, Usage
from gateway.catalog.registry import ModelEntry
from gateway.errors import InvalidRequest
from gateway.formats.openai import EmbeddingsRequest
from gateway.providers.capabilities import EMBEDDINGS
from gateway.services.metering import Answer, metered_call
from gateway.services.routing import Candidate


async def embed(principal: Principal, request: EmbeddingsRequest, trace_id: str) -> Answer[Body]:
    body = request.wire_body()
    prompt_bound = estimate.request_bytes(body)

    def cost_bound(entry: ModelEntry) -> int:
        if entry.category != "embedding":
            raise InvalidRequest(f"`{entry.id}` is not an embedding model.", param="model")
        return entry.pricing.cost(prompt_bound, 0)

    async def send(candidate: Candidate) -> Body:
        return await candidate.client(EMBEDDINGS).embed(body, candidate.model)

    def charge(entry: ModelEntry, answer: Body) -> Charge:
        return charges.for_tokens(entry.pricing, _usage(answer), prompt_bound=prompt_bound, produced_bytes=0)

    return await metered_call(
        principal,
        request.model,
        trace_id,
        endpoint="embeddings",
        capability=EMBEDDINGS,
        cost_bound=cost_bound,
        send=send,
        charge=charge,
    )


def _usage(answer: Body) -> Usage | None:
    usage = answer.get("usage")
    tokens = usage.get("prompt_tokens") if isinstance(usage, dict) else None
    return Usage(prompt_tokens=tokens, completion_tokens=0) if isinstance(tokens, int) and tokens >= 0 else None
