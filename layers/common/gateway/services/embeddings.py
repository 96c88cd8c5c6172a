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
from gateway.services.inference import Answer, _Call, _may_fall_back, _reraise


async def embed(principal: Principal, request: EmbeddingsRequest, trace_id: str) -> Answer:
    body = request.wire_body()
    prompt_bound = estimate.request_bytes(body)

    def cost_bound(entry: ModelEntry) -> int:
        if entry.category != "embedding":
            raise InvalidRequest(f"`{entry.id}` is not an embedding model.", param="model")
        return entry.pricing.cost(prompt_bound, 0)

    started = time.monotonic()
    admission = await admit(principal, request.model, cost_bound, trace_id)
    exchange = Exchange("openai", "embeddings", request.model, body, body, stream=False)
    call = _Call(exchange, admission, started)
    candidates = admission.route.candidates
    for position, candidate in enumerate(candidates):
        attempt_started = time.monotonic()
        try:
            if candidate.kind != "openai":
                raise InvalidRequest(f"`{candidate.provider}` does not serve embeddings here.", param="model")
            from gateway.providers.openai.client import OpenAICompatibleClient

            payload = await OpenAICompatibleClient(candidate.endpoint).embeddings(body, candidate.model)
        except BaseException as error:
            call._attempt(candidate, error, attempt_started)
            if _may_fall_back(error) and position < len(candidates) - 1:
                continue
            await call.settle(call.failed(error))
            _reraise(error)
        call._attempt(candidate, None, attempt_started)
        usage = _usage(payload)
        await call.settle(call.served(candidate, usage, 0, attempt_started))
        return Answer(payload, await admission.headers())
    raise AssertionError("a route has at least one candidate")


def _usage(payload: dict[str, Any]) -> Any:
    from gateway.providers.openai.transform import Usage

    usage = payload.get("usage")
    tokens = usage.get("prompt_tokens") if isinstance(usage, dict) else None
    return Usage(prompt_tokens=tokens, completion_tokens=0) if isinstance(tokens, int) and tokens >= 0 else None
