"""Image routes: generation (the images, or a task when asked for) and task status; the credits
platform's `/api/v1` generation, always a task. Served by
uvicorn behind the Lambda Web Adapter (run.sh), streamed: no 29 s or 6 MB limit on an answer."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from gateway.formats.images import ImageGenerationRequest
from gateway.http import AnyKey, InferenceKey, create_app, trace_id_of
from gateway.platforms import credits as credits_platform
from gateway.services import images

router = APIRouter()


@router.post("/v1/images/generations")
async def generate_images(payload: ImageGenerationRequest, request: Request, principal: InferenceKey) -> JSONResponse:
    answer, status = await images.generate(principal, payload, trace_id_of(request))
    return JSONResponse(answer.content, status_code=status, headers=answer.headers)


@router.get("/v1/images/tasks/{task_id}")
def image_task(task_id: str, principal: AnyKey) -> dict[str, Any]:
    return images.task_view(principal, task_id)


# The credits platform (base URL /api/v1): always a task, errors in its envelope
@router.post("/api/v1/images/generations")
async def platform_generate_images(
    payload: credits_platform.TaskImageRequest, request: Request, principal: InferenceKey
) -> JSONResponse:
    credits_platform.require_listed(payload.model)
    answer, status = await images.generate(principal, payload.as_task(), trace_id_of(request))
    task = answer.content if isinstance(answer.content, dict) else {}
    return JSONResponse(credits_platform.task_answer(task), status_code=status, headers=answer.headers)


@router.get("/api/v1/images/tasks/{task_id}")
def platform_image_task(task_id: str, principal: AnyKey) -> dict[str, Any]:
    return credits_platform.task_answer(images.task_view(principal, task_id))


app = create_app(router, title="AI Gateway: images")
