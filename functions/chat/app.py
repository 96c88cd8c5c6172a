"""Inference routes in the three formats clients speak (OpenAI, Anthropic, Gemini), embeddings and
the model list; the credits platform's `/api/v1` chat and model list. Served by uvicorn behind the
Lambda Web Adapter (run.sh) so responses stream."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Header, Request
from fastapi.responses import JSONResponse, Response

from gateway.deadline import CONTEXT_HEADER, from_lambda_context
from gateway.formats.anthropic import MessagesRequest
from gateway.formats.gemini import GenerateContentRequest
from gateway.formats.inbound import Exchange, anthropic_exchange, gemini_exchange, openai_exchange
from gateway.formats.openai import ChatCompletionRequest, EmbeddingsRequest
from gateway.http import AnyKey, EventStreamResponse, GeminiKey, InferenceKey, create_app, trace_id_of
from gateway.platforms import credits as credits_platform
from gateway.platforms.vendor import pinned_provider
from gateway.services import embeddings, models
from gateway.services.inference import infer
from gateway.services.routing import parse_gemini_target

router = APIRouter()
Vendor = Annotated[str | None, Header(max_length=64)]
# Anthropic beta names, comma-separated (Claude Code sends several); passed on to Anthropic upstreams only
AnthropicBeta = Annotated[str | None, Header(max_length=1024, pattern=r"^[A-Za-z0-9._-]+( ?, ?[A-Za-z0-9._-]+)*$")]


async def _answer(principal: Any, exchange: Exchange, request: Request, vendor: str | None) -> Response:
    deadline = from_lambda_context(request.headers.getlist(CONTEXT_HEADER))
    pinned = pinned_provider(vendor)
    answer = await infer(principal, exchange, trace_id_of(request), vendor=pinned, deadline=deadline)
    if isinstance(answer.content, dict):
        return JSONResponse(answer.content, headers=answer.headers)
    return EventStreamResponse(answer.content, headers=answer.headers)


@router.post("/v1/chat/completions")
async def chat_completions(
    payload: ChatCompletionRequest, request: Request, principal: InferenceKey, vendor: Vendor = None
) -> Response:
    return await _answer(principal, openai_exchange(payload), request, vendor)


@router.post("/api/v1/chat/completions")
async def platform_chat_completions(
    payload: ChatCompletionRequest, request: Request, principal: InferenceKey, vendor: Vendor = None
) -> Response:
    """The credits platform (base URL /api/v1): models its registry lists, errors in its envelope."""
    credits_platform.require_listed(payload.model)
    return await _answer(principal, openai_exchange(payload), request, vendor)


@router.post("/v1/messages")
async def messages(
    payload: MessagesRequest,
    request: Request,
    principal: InferenceKey,
    vendor: Vendor = None,
    anthropic_beta: AnthropicBeta = None,
) -> Response:
    return await _answer(principal, anthropic_exchange(payload, anthropic_beta), request, vendor)


@router.post("/v1beta/models/{target:path}")
@router.post("/v1/models/{target:path}")  # google-genai's default API version
async def generate_content(
    target: str, payload: GenerateContentRequest, request: Request, principal: GeminiKey, vendor: Vendor = None
) -> Response:
    model, stream = parse_gemini_target(target)
    return await _answer(principal, gemini_exchange(payload, model, stream), request, vendor)


@router.post("/v1/embeddings")
async def create_embeddings(payload: EmbeddingsRequest, request: Request, principal: InferenceKey) -> Response:
    answer = await embeddings.embed(principal, payload, trace_id_of(request))
    return JSONResponse(answer.content, headers=answer.headers)


@router.get("/v1/models")
def list_models(principal: AnyKey) -> dict[str, Any]:
    return models.list_models(principal.key)


@router.get("/api/v1/models")
def platform_list_models(principal: AnyKey) -> dict[str, Any]:
    return credits_platform.list_models(principal.key)


@router.get("/v1/models/{model_id:path}")
def get_model(model_id: str, principal: AnyKey) -> dict[str, Any]:
    return models.get_model(model_id, principal.key)


app = create_app(router, title="AI Gateway: chat")
