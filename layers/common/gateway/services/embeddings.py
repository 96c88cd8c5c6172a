"""OpenAI embeddings: reserve the input's upper bound, call an OpenAI-compatible upstream (falling
back on its failures), settle on the reported usage."""

from __future__ import annotations

import time
from typing import Any

from gateway.auth.authenticate import Principal
from gateway.billing import estimate
from gateway.catalog.registry import ModelEntry
from gateway.errors import InvalidRequest
from gateway.formats.inbound import Exchange
from gateway.formats.openai import EmbeddingsRequest
from gateway.services.admission import admit
from gateway.services.inference import Answer, Call
from gateway.services.routing import Candidate


async def embed(principal: Principal, request: EmbeddingsRequest, trace_id: str) -> Answer:
    body = request.wire_body()
    prompt_bound = estimate.request_bytes(body)

    def cost_bound(entry: ModelEntry) -> int:
        if entry.category != "embedding":
            raise InvalidRequest(f"`{entry.id}` is not an embedding model.", param="model")
        return entry.pricing.cost(prompt_bound, 0)

    started = time.monotonic()
    admission = await admit(principal, request.model, cost_bound, trace_id)
    call = Call(
        Exchange("openai", "embeddings", request.model, body, body, stream=False), admission, started, prompt_bound
    )

    async def send(candidate: Candidate) -> dict[str, Any]:
        from gateway.providers.openai.client import OpenAICompatibleClient

        return await OpenAICompatibleClient(candidate.endpoint).embeddings(body, candidate.model)

    candidate, payload, asked = await call.first_answer(send, kinds=("openai",))
    await call.settle(call.served(candidate, _usage(payload), 0, asked))
    return Answer(payload, await admission.headers())


def _usage(payload: dict[str, Any]) -> Any:
    from gateway.providers.openai.transform import Usage

    usage = payload.get("usage")
    tokens = usage.get("prompt_tokens") if isinstance(usage, dict) else None
    return Usage(prompt_tokens=tokens, completion_tokens=0) if isinstance(tokens, int) and tokens >= 0 else None
