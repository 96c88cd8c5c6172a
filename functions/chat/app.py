"""Inference routes in the formats clients speak (OpenAI chat, Responses and legacy completions,
Anthropic, Gemini), stored responses, token counting, embeddings and the model list; the credits
platform's `/api/v1` chat and model list (its error envelope). Served by uvicorn behind the Lambda
Web Adapter (run.sh) so responses stream."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from gateway.deadline import CONTEXT_HEADER, from_lambda_context
from gateway.formats import anthropic, completions, gemini, openai
from gateway.formats import token_counts as counting
from gateway.formats.anthropic import MessagesRequest
from gateway.formats.completions import CompletionRequest
from gateway.formats.gemini import GenerateContentRequest
from gateway.formats.inbound import Exchange
from gateway.formats.openai import ChatCompletionRequest, EmbeddingsRequest
from gateway.formats.responses import ResponsesRequest
from gateway.formats.token_counts import GeminiCountRequest, MessagesCountRequest
from gateway.http import AnyKey, EventStreamResponse, GeminiAnyKey, GeminiKey, InferenceKey, create_app, trace_id_of
from gateway.providers.capabilities import TEXT_COMPLETIONS
from gateway.routes import Routes
from gateway.services import embeddings, models, platform_views, responses, token_counts
from gateway.services.chat import ChatAnswer, infer
from gateway.services.routing import parse_gemini_target
from gateway.web import Depends, Header, JSONResponse, Path, Query, Request, Response

router = Routes()  # OpenAI's format: its error envelope
anthropic_routes = Routes("anthropic")
gemini_routes = Routes("gemini")
api_v1_routes = Routes("api_v1")
Vendor = Annotated[str | None, Header(max_length=64)]
# Anthropic beta names, comma-separated (Claude Code sends several); passed on to Anthropic upstreams only
AnthropicBeta = Annotated[str | None, Header(max_length=1024, pattern=r"^[A-Za-z0-9._-]+( ?, ?[A-Za-z0-9._-]+)*$")]
ResponseId = Annotated[str, Path(min_length=1, max_length=128)]


async def _answer(principal: Any, exchange: Exchange, request: Request, vendor: str | None) -> Response:
    deadline = from_lambda_context(request.headers.getlist(CONTEXT_HEADER))
    pinned = platform_views.pinned_provider(vendor)  # YouRouter's `vendor: auto`, `vendor: google`
    return _sent(await infer(principal, exchange, trace_id_of(request), vendor=pinned, deadline=deadline))


def _sent(answer: ChatAnswer) -> Response:
    if isinstance(answer.content, dict):
        return JSONResponse(answer.content, headers=answer.headers)
    return EventStreamResponse(answer.content, headers=answer.headers)


@router.post("/v1/chat/completions")
async def chat_completions(
    payload: ChatCompletionRequest, request: Request, principal: InferenceKey, vendor: Vendor = None
) -> Response:
    return await _answer(principal, openai.exchange(payload), request, vendor)


@router.post("/v1/responses")
async def create_response(
    payload: ResponsesRequest, request: Request, principal: InferenceKey, vendor: Vendor = None
) -> Response:
    deadline = from_lambda_context(request.headers.getlist(CONTEXT_HEADER))
    pinned = platform_views.pinned_provider(vendor)
    return _sent(await responses.create(principal, payload, trace_id_of(request), vendor=pinned, deadline=deadline))


@router.get("/v1/responses/{response_id}")
async def get_response(response_id: ResponseId, principal: AnyKey) -> dict[str, Any]:
    return await responses.retrieve(principal, response_id)


@router.delete("/v1/responses/{response_id}")
async def delete_response(response_id: ResponseId, principal: AnyKey) -> dict[str, Any]:
    return await responses.delete(principal, response_id)


@router.get("/v1/responses/{response_id}/input_items")
async def list_input_items(
    response_id: ResponseId,
    principal: AnyKey,
    limit: Annotated[int, Query(ge=1, le=responses.MAX_LISTED)] = 20,
    order: Literal["asc", "desc"] = "desc",
    after: Annotated[str | None, Query(max_length=128)] = None,
) -> dict[str, Any]:
    return await responses.input_items(principal, response_id, limit=limit, order=order, after=after)


@router.post("/v1/completions")
async def create_completion(
    payload: CompletionRequest, request: Request, principal: InferenceKey, vendor: Vendor = None
) -> Response:
    deadline = from_lambda_context(request.headers.getlist(CONTEXT_HEADER))
    pinned = platform_views.pinned_provider(vendor)
    exchange = completions.exchange(payload)
    answer = await infer(
        principal, exchange, trace_id_of(request), vendor=pinned, deadline=deadline, capability=TEXT_COMPLETIONS
    )
    return _sent(answer)


@api_v1_routes.post("/api/v1/chat/completions")
async def platform_chat_completions(
    payload: ChatCompletionRequest, request: Request, principal: InferenceKey, vendor: Vendor = None
) -> Response:
    """The credits platform (base URL /api/v1): only models its registry enables and lists."""
    for name in [payload.model, *(payload.models or [])]:  # OpenRouter's fallbacks too
        platform_views.require_listed(name)
    return await _answer(principal, openai.exchange(payload), request, vendor)


@api_v1_routes.get("/api/v1/models")
def platform_list_models(principal: AnyKey) -> dict[str, Any]:
    return platform_views.list_models(principal.key)


router.include(api_v1_routes)


@anthropic_routes.post("/v1/messages/count_tokens")
async def count_message_tokens(
    payload: MessagesCountRequest, request: Request, principal: InferenceKey, anthropic_beta: AnthropicBeta = None
) -> Response:
    exchange = counting.anthropic_exchange(payload, anthropic_beta)
    answer = await token_counts.count(principal, exchange, trace_id_of(request))
    return JSONResponse(answer.content, headers=answer.headers)


@anthropic_routes.post("/v1/messages")
async def messages(
    payload: MessagesRequest,
    request: Request,
    principal: InferenceKey,
    vendor: Vendor = None,
    anthropic_beta: AnthropicBeta = None,
) -> Response:
    return await _answer(principal, anthropic.exchange(payload, anthropic_beta), request, vendor)


router.include(anthropic_routes)


@gemini_routes.post("/v1beta/models/{model:path}:countTokens")
@gemini_routes.post("/v1/models/{model:path}:countTokens")
async def count_content_tokens(
    model: str, payload: GeminiCountRequest, request: Request, principal: GeminiKey
) -> Response:
    answer = await token_counts.count(principal, counting.gemini_exchange(payload, model), trace_id_of(request))
    return JSONResponse(answer.content, headers=answer.headers)


def _gemini_target(target: str, request: Request) -> tuple[str, bool]:
    """The model and whether to stream, read before the body is: another method (`embedContent`) is a
    404, not a body that lacks `contents`."""
    return parse_gemini_target(target, request.query_params.get("alt"))


@gemini_routes.post("/v1beta/models/{target:path}")
@gemini_routes.post("/v1/models/{target:path}")  # google-genai's default API version
async def generate_content(
    principal: GeminiKey,
    method: Annotated[tuple[str, bool], Depends(_gemini_target)],
    payload: GenerateContentRequest,
    request: Request,
    vendor: Vendor = None,
) -> Response:
    model, stream = method
    return await _answer(principal, gemini.exchange(payload, model, stream), request, vendor)


@gemini_routes.get("/v1beta/models")
def list_google_models(
    principal: GeminiAnyKey,
    page_size: Annotated[int, Query(alias="pageSize", ge=0, le=1000)] = 0,
    page_token: Annotated[str | None, Query(alias="pageToken", max_length=32)] = None,
) -> dict[str, Any]:
    """google-genai's `client.models.list()`: Google's shape, 50 a page unless asked otherwise."""
    return models.google_models(principal.key, page_size or 50, page_token)


@gemini_routes.get("/v1beta/models/{model_id:path}")
def get_google_model(model_id: Annotated[str, Path(max_length=512)], principal: GeminiAnyKey) -> dict[str, Any]:
    return models.google_model(model_id, principal.key)


router.include(gemini_routes)


@router.post("/v1/embeddings")
async def create_embeddings(payload: EmbeddingsRequest, request: Request, principal: InferenceKey) -> Response:
    answer = await embeddings.embed(principal, payload, trace_id_of(request))
    return JSONResponse(answer.content, headers=answer.headers)


@router.get("/v1/models")
def list_models(principal: AnyKey) -> dict[str, Any]:
    return models.list_models(principal.key)


@router.get("/v1/models/{model_id:path}")
def get_model(model_id: str, principal: AnyKey) -> dict[str, Any]:
    return models.get_model(model_id, principal.key)


app = create_app(router, title="AI Gateway: chat", answers_before_settling=True)
