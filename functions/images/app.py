"""Image routes: generation (at once, or as a task for slow models) and task status. Served by
uvicorn behind the Lambda Web Adapter (run.sh), streamed: no 29 s or 6 MB limit on an answer."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from gateway.formats.images import ImageGenerationRequest
from gateway.http import AnyKey, InferenceKey, create_app, trace_id_of
from gateway.services import image_tasks, images

router = APIRouter()


@router.post("/v1/images/generations")
async def generate_images(payload: ImageGenerationRequest, request: Request, principal: InferenceKey) -> JSONResponse:
    answer, status = await images.generate(principal, payload, trace_id_of(request))
    return JSONResponse(answer.content, status_code=status, headers=answer.headers)


@router.get("/v1/images/tasks/{task_id}")
def image_task(task_id: str, principal: AnyKey) -> dict[str, Any]:
    return image_tasks.task_view(principal, task_id)


app = create_app(router, title="AI Gateway: images")
