"""Image generation, priced per image by size and quality. The answer holds the images (a metered
call: OpenAI's contract), unless the request asks for a task (`async: true`; the credits platform's
`/api/v1` route always does), written with the reservation that pays for it, which a worker does off
the request path (services/image_tasks.py). A request without a model gets the catalog's default."""

from __future__ import annotations

import base64
import json
import time
from dataclasses import replace
from typing import Any

import anyio

from gateway import clock
from gateway.auth.authenticate import Principal
from gateway.billing import charges, estimate
from gateway.billing.charges import Charge
from gateway.canonical import Body, ImageData, ImagesResponse
from gateway.catalog.registry import ModelEntry, get_catalog
from gateway.config import get_settings
from gateway.errors import InvalidRequest, ModelRequired
from gateway.formats.images import ImageGenerationRequest
from gateway.providers.capabilities import IMAGE_GENERATION
from gateway.services.admission import admit
from gateway.services.metering import Answer, serve
from gateway.services.routing import Candidate, Route
from gateway.storage.stores import stores
from gateway.storage.tasks import MAX_REQUEST_BYTES, Task, request_text

ENDPOINT = "images.generations"


def size_and_quality(entry: ModelEntry, request: ImageGenerationRequest) -> tuple[str, str | None]:
    """What the request asks for, the model's first size and quality standing in for those left out."""
    media = entry.media
    size = request.size or (media.sizes[0] if media and media.sizes else "1024x1024")
    quality = request.quality or (media.qualities[0] if media and media.qualities else None)
    return size, quality


def priced_body(entry: ModelEntry, request: ImageGenerationRequest) -> dict[str, Any]:
    """The upstream's body, asking for the size and quality the request is charged for: an upstream
    left to its own defaults can make a dearer image (gpt-image-1's `auto` quality and size)."""
    body = request.upstream_body()
    size, quality = size_and_quality(entry, request)
    if entry.media and entry.media.sizes:
        body["size"] = size
    if quality is not None:
        body["quality"] = quality
    return body


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
    price = entry.pricing.image_cost(size, quality, request.n, prompt_token_bound(request) * request.n)
    if price is None:
        raise InvalidRequest(f"`{entry.id}` has no price for size `{size}`.", param="size")
    return price


def prompt_token_bound(request: ImageGenerationRequest) -> int:
    """The most tokens the prompt can count (a token per byte), billed once by OpenAI's gpt-image
    models and once for each image by Gemini's, which make one image a call."""
    return estimate.covering_tokens(len(request.prompt.encode()))


def images_charge(entry: ModelEntry, request: ImageGenerationRequest, images: int, usage: Any = None) -> Charge:
    """The images made; their prompt as the provider reported it (`usage.input_tokens`, within the
    hold's bound), else at its bound for each image."""
    bound = prompt_token_bound(request)
    reported = usage.get("input_tokens") if isinstance(usage, dict) else None
    if isinstance(reported, int) and not isinstance(reported, bool) and reported >= 0:
        prompt_tokens = min(reported, bound * request.n)
    else:
        prompt_tokens = bound * images
    return charges.for_images(entry.pricing, *size_and_quality(entry, request), images, prompt_tokens)


async def generate(principal: Principal, request: ImageGenerationRequest, trace_id: str) -> tuple[Answer[Body], int]:
    """(the answer, its HTTP status): 200 with the images, or 202 with a pending task."""
    started = time.monotonic()
    request = _with_model(request)
    model = request.model or ""
    task = _new_task(principal, request, trace_id)

    def task_item(route: Route) -> list[dict[str, Any]]:  # an async request's task, written with its reservation
        if not _runs_async(route, request):
            return []
        terms = replace(task, pricing=route.entry.pricing.model_dump_json(), own_key=route.first.own_key)
        return [stores().tasks.create_item(terms)]

    def cost_bound(entry: ModelEntry) -> int:
        return image_price(entry, request)

    admission = await admit(principal, model, IMAGE_GENERATION, cost_bound, trace_id, also=task_item)
    if _runs_async(admission.route, request):
        return await _start_task(task), 202
    body = priced_body(admission.route.entry, request)
    wants_urls = body.get("response_format", "url") == "url"

    async def send(candidate: Candidate) -> ImagesResponse:
        answer = await candidate.client(IMAGE_GENERATION).generate_images(body, candidate.model)
        if wants_urls:  # an upstream that answers inline (Gemini): keep the images, answer URLs
            answer["data"] = [await _as_url(trace_id, number, item) for number, item in enumerate(answer["data"])]
        return answer

    def charge(entry: ModelEntry, answer: ImagesResponse) -> Charge:
        return images_charge(entry, request, len(answer.get("data") or []), answer.get("usage"))

    answer = await serve(admission, started, endpoint=ENDPOINT, send=send, charge=charge)
    return Answer(dict(answer.content), answer.headers), 200


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
    asked = request.sent(by_alias=True)
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


async def _start_task(task: Task) -> Answer[Body]:
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


async def _as_url(trace_id: str, number: int, item: ImageData) -> ImageData:
    """An inline image kept in the images bucket and answered as its presigned URL."""
    if "b64_json" not in item:
        return item
    from gateway.storage.objects import presigned_url, put_image

    bucket, key = get_settings().images_bucket or "", f"generations/{trace_id}/{number}.png"
    await anyio.to_thread.run_sync(put_image, bucket, key, base64.b64decode(item["b64_json"]), "image/png")
    return {"url": await anyio.to_thread.run_sync(presigned_url, bucket, key)}
