"""Inference routes: OpenAI chat completions and the model list. Served by uvicorn behind the
Lambda Web Adapter (run.sh) so responses stream."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response

from gateway.formats.openai import ChatCompletionRequest
from gateway.http import AnyKey, EventStreamResponse, InferenceKey, create_app, trace_id_of
from gateway.services import chat, models

router = APIRouter()


@router.post("/v1/chat/completions")
async def chat_completions(payload: ChatCompletionRequest, request: Request, principal: InferenceKey) -> Response:
    answer = await chat.create_completion(principal, payload, trace_id_of(request))
    if isinstance(answer.content, dict):
        return JSONResponse(answer.content, headers=answer.headers)
    return EventStreamResponse(answer.content, headers=answer.headers)


@router.get("/v1/models")
def list_models(principal: AnyKey) -> dict[str, Any]:
    return models.list_models(principal.key)


@router.get("/v1/models/{model_id:path}")
def get_model(model_id: str, principal: AnyKey) -> dict[str, Any]:
    return models.get_model(model_id, principal.key)


app = create_app(router, title="AI Gateway: chat")
