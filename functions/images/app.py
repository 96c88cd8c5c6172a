"""Image routes: generation (the images, or a task when asked for) and task status; the credits
platform's `/api/v1` generation (always a task) and task status, in its error envelope. Served by
uvicorn behind the Lambda Web Adapter (run.sh), streamed: no 29 s or 6 MB limit on an answer."""

from __future__ import annotations

from typing import Annotated, Any

from gateway.formats.images import ImageGenerationRequest, TaskImageRequest
from gateway.http import AnyKey, InferenceKey, create_app, trace_id_of
from gateway.routes import Routes
from gateway.services import image_tasks, images, platform_views
from gateway.web import JSONResponse, Path, Request

TaskId = Annotated[str, Path(min_length=1, max_length=128)]  # a DynamoDB key holds at most 2,048 bytes

router = Routes()
api_v1_routes = Routes("api_v1")


@router.post("/v1/images/generations")
async def generate_images(payload: ImageGenerationRequest, request: Request, principal: InferenceKey) -> JSONResponse:
    answer, status = await images.generate(principal, payload, trace_id_of(request))
    return JSONResponse(answer.content, status_code=status, headers=answer.headers)


@router.get("/v1/images/tasks/{task_id}")
def image_task(task_id: TaskId, principal: AnyKey) -> dict[str, Any]:
    return image_tasks.task_view(principal, task_id)


@api_v1_routes.post("/api/v1/images/generations")
async def platform_generate_images(
    payload: TaskImageRequest, request: Request, principal: InferenceKey
) -> JSONResponse:
    platform_views.require_listed(payload.model)
    answer, status = await images.generate(principal, payload.as_task(), trace_id_of(request))
    return JSONResponse(platform_views.task_answer(answer.content), status_code=status, headers=answer.headers)


@api_v1_routes.get("/api/v1/images/tasks/{task_id}")
def platform_image_task(task_id: TaskId, principal: AnyKey) -> dict[str, Any]:
    return platform_views.task_answer(image_tasks.task_view(principal, task_id))


router.include(api_v1_routes)


app = create_app(router, title="AI Gateway: images")
