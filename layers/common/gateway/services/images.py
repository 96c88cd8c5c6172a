"""Image generation, priced per image. The answer holds the images (OpenAI's contract), unless the
request asks for a task (`async: true`; the credits platform's `/api/v1` route always does), which a
worker does off the request path. A request without a model gets the catalog's default."""

from __future__ import annotations

import base64
import json
import time
from typing import Any

import anyio

from gateway import clock
from gateway.auth.authenticate import Principal
from gateway.catalog.registry import ModelEntry, get_catalog
from gateway.config import get_settings
from gateway.errors import InvalidRequest, ModelRequired, NotFound
from gateway.formats.images import ImageGenerationRequest
from gateway.formats.inbound import Exchange
from gateway.services.admission import admit
from gateway.services.inference import Answer, Call
from gateway.services.routing import Candidate, Route
from gateway.storage.tasks import MAX_REQUEST_BYTES, Task, TaskRepository, request_text

ENDPOINT = "images.generations"


def size_and_quality(entry: ModelEntry, request: ImageGenerationRequest) -> tuple[str, str | None]:
    """What the request asks for, the model's first size and quality standing in for those left out."""
    media = entry.media
    size = request.size or (media.sizes[0] if media and media.sizes else "1024x1024")
    quality = request.quality or (media.qualities[0] if media and media.qualities else None)
    return size, quality


def image_price(entry: ModelEntry, request: ImageGenerationRequest) -> int:
    """Micro-credits for the request; the checks a client can fix come first."""
    if entry.category != "image":
        raise InvalidRequest(f"`{entry.id}` is not an image model.", param="model")
    media = entry.media
    size, quality = size_and_quality(entry, request)
    if media and media.sizes and size not in media.sizes:
        raise InvalidRequest(f"Size `{size}` is not supported; use one of {', '.join(media.sizes)}.", param="size")
    if request.quality and media and media.qualities and request.quality not in media.qualities:
        raise InvalidRequest(
            f"Quality `{request.quality}` is not supported; use one of {', '.join(media.qualities)}.", param="quality"
        )
    if media and request.n > media.max_images:
        raise InvalidRequest(f"`n` is at most {media.max_images} for `{entry.id}`.", param="n")
    price = entry.pricing.image_cost(size, quality, request.n)
    if price is None:
        raise InvalidRequest(f"`{entry.id}` has no price for size `{size}`.", param="size")
    return price


async def generate(principal: Principal, request: ImageGenerationRequest, trace_id: str) -> tuple[Answer, int]:
    """(the answer, its HTTP status): 200 with the images, or 202 with a pending task."""
    started = time.monotonic()
    request = _with_model(request)
    model = request.model or ""
    task = _new_task(principal, request, trace_id)

    def task_item(route: Route) -> list[dict[str, Any]]:  # an async request's task, written with its reservation
        return [TaskRepository(get_settings().table_name).create_item(task)] if _runs_async(route, request) else []

    admission = await admit(principal, model, lambda e: image_price(e, request), trace_id, also=task_item)
    entry = admission.route.entry
    if _runs_async(admission.route, request):
        return await _start_task(task), 202
    body = request.upstream_body()
    call = Call(Exchange("openai", ENDPOINT, model, body, body, stream=False), admission, started)
    candidate, payload, asked = await call.first_answer(
        lambda c: _call_upstream(c, body, trace_id), kinds=("openai", "gemini")
    )
    images = len(payload.get("data") or [])
    await call.settle(_images_outcome(call, entry, request, images, candidate, asked))
    return Answer(payload, await admission.headers()), 200


def task_view(principal: Principal, task_id: str) -> dict[str, Any]:
    task = TaskRepository(get_settings().table_name).get(task_id) if task_id.isascii() else None
    visible = (
        task is not None
        and task.account_id == principal.account_id
        and (principal.kind == "management" or task.key_hash == principal.key_hash)
    )
    if task is None or not visible:
        raise NotFound(f"No image task `{task_id[:80]}`.")
    from gateway.services.image_tasks import ended_if_overdue

    task = ended_if_overdue(task)
    view: dict[str, Any] = {
        "task_id": task.task_id,
        "status": task.status,
        "model": task.model,
        "created": task.created,
    }
    if task.status == "succeeded":
        view["data"] = [_image_view(key, task.request.get("response_format", "url")) for key in task.images]
    else:
        view["data"] = []
    if task.status == "failed":
        view["error"] = {
            "message": task.error or "The image task failed; it was not charged.",
            "code": "provider_error",
        }
    return view


def _runs_async(route: Route, request: ImageGenerationRequest) -> bool:
    return request.run_async


def _with_model(request: ImageGenerationRequest) -> ImageGenerationRequest:
    if request.model:
        return request
    default = get_catalog().default_model("image")
    if default is None:
        raise ModelRequired("`model` is required: this gateway has no default image model.", param="model")
    return request.naming(default)


def _new_task(principal: Principal, request: ImageGenerationRequest, trace_id: str) -> Task:
    asked = request.model_dump(mode="json", exclude_unset=True, by_alias=True)
    if request.run_async and len(request_text(asked).encode()) > MAX_REQUEST_BYTES:
        raise InvalidRequest(f"A task's request is at most {MAX_REQUEST_BYTES} bytes of JSON.")
    return Task(
        task_id=trace_id,
        account_id=principal.account_id,
        key_hash=principal.key_hash,
        model=request.model or "",
        request=asked,
        status="pending",
        created=clock.now_epoch(),
    )


async def _start_task(task: Task) -> Answer:
    """The task and its reservation are written (one transaction): hand it to the worker."""
    settings = get_settings()
    message = json.dumps({"task_id": task.task_id})
    if settings.image_tasks_queue_url:
        from gateway.storage.objects import enqueue

        await anyio.to_thread.run_sync(enqueue, settings.image_tasks_queue_url, message)
    else:  # no queue (a local run): the worker runs in this process, after the answer
        from gateway.services.image_tasks import work_soon

        work_soon(task.task_id)
    body = {"created": task.created, "data": [], "task_id": task.task_id, "status": "pending", "model": task.model}
    return Answer(body, {})


async def _call_upstream(candidate: Candidate, body: dict[str, Any], trace_id: str) -> dict[str, Any]:
    if candidate.kind == "gemini":
        from gateway.providers.gemini.images import generate_images as gemini_images

        payload = await gemini_images(candidate.endpoint, body["prompt"], body.get("n", 1), candidate.model)
        if body.get("response_format", "url") == "url":  # Gemini answers inline: keep them, answer URLs
            payload["data"] = [await _stored(trace_id, number, item) for number, item in enumerate(payload["data"])]
        return payload
    if candidate.kind != "openai":
        raise InvalidRequest(f"`{candidate.provider}` does not serve image generation here.", param="model")
    from gateway.providers.openai.client import generate_images

    return await generate_images(candidate.endpoint, body, candidate.model)


async def _stored(trace_id: str, number: int, item: dict[str, str]) -> dict[str, str]:
    from gateway.storage.objects import presigned_url, put_image

    bucket, key = get_settings().images_bucket or "", f"generations/{trace_id}/{number}.png"
    await anyio.to_thread.run_sync(put_image, bucket, key, base64.b64decode(item["b64_json"]), "image/png")
    return {"url": await anyio.to_thread.run_sync(presigned_url, bucket, key)}


def _images_outcome(call: Call, entry: ModelEntry, request: ImageGenerationRequest, images: int,
                    candidate: Candidate, started: float) -> Any:  # fmt: skip
    size, quality = size_and_quality(entry, request)
    outcome = call.served(candidate, None, 0, started)
    cost = entry.pricing.image_cost(size, quality, images) if images else 0
    from dataclasses import replace

    return replace(
        outcome, cost=cost or 0, prompt_tokens=0, completion_tokens=0, usage_estimated=False,
        units={"images": images, "size": size, "quality": quality},
    )  # fmt: skip


def _image_view(key: str, response_format: str) -> dict[str, str]:
    from gateway.storage.objects import presigned_url, read_image

    bucket = get_settings().images_bucket or ""
    if response_format == "b64_json":
        return {"b64_json": base64.b64encode(read_image(bucket, key)).decode()}
    return {"url": presigned_url(bucket, key)}
