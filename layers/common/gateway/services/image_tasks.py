"""Image tasks: the worker, and the task as its key sees it.

The worker routes the task as every request is routed (the key's allow-lists, provider health),
takes the first answer as every metered call does, keeps the images in the bucket, and settles the
task's reservation together with the task's new state, in one transaction. A redelivered or retried
task is charged once: the second settlement finds the task no longer pending and writes nothing. And
the provider is asked once: a worker claims the task for its run first, so a message SQS delivers
twice at once is worked by one delivery and retried by the other, which then finds it ended.
"""

from __future__ import annotations

import asyncio
import base64
import functools
import time
from typing import Any

import anyio

from gateway import clock
from gateway.auth.authenticate import Principal, live_key
from gateway.billing.sweeper import settle_expired
from gateway.canonical import ImageData, ImagesResponse
from gateway.catalog.registry import Pricing
from gateway.config import get_settings
from gateway.errors import GatewayError, NotFound
from gateway.formats.images import ImageGenerationRequest
from gateway.observability import logger
from gateway.providers.capabilities import IMAGE_GENERATION
from gateway.providers.errors import UpstreamFailure
from gateway.providers.http import fetch
from gateway.services import profiles
from gateway.services.images import ENDPOINT, images_charge, priced_body
from gateway.services.metering import Meter
from gateway.services.routing import Candidate, Route, candidates_for, resolve_model
from gateway.storage.stores import stores
from gateway.storage.tasks import TASK_RETENTION_SECONDS, Task, image_key

CLAIM_MARGIN = 0.1  # of a run's claim, left after its provider calls for storing the images and settling

FAILED = "The image provider failed; the task was not charged."
BUSY = "busy"
_running: set[asyncio.Task[str]] = set()


async def work(task_id: str) -> str:
    """Work one task; returns what became of it: succeeded, failed, expired, skipped (not pending) or
    busy (another delivery of its message is working it)."""
    settings = get_settings()
    tasks = stores().tasks
    task = await anyio.to_thread.run_sync(tasks.get, task_id)
    if task is None or task.status != "pending":
        return "skipped"
    reservation = await anyio.to_thread.run_sync(stores().credits.get_reservation, task_id)
    if reservation is None:  # settled already (a parallel delivery) or refunded by the sweeper
        return "skipped"
    claimed_at = time.monotonic()
    if not await anyio.to_thread.run_sync(
        functools.partial(tasks.claim, task_id, now=clock.now_epoch(), seconds=settings.image_task_work_seconds)
    ):
        return BUSY  # another delivery of its message is working it: this one is retried after it
    if reservation.expires_at - clock.now_epoch() < settings.image_task_work_seconds:
        # it could not finish before the sweeper ends it: end it now, failed and refunded, unworked
        await anyio.to_thread.run_sync(settle_expired, reservation)
        return "expired"
    request = ImageGenerationRequest.model_validate(task.request)
    # The run ends within its claim (and the Lambda timeout it matches), its images stored and settled:
    # past it, another delivery of the message would ask a provider again. A provider is asked only
    # when a whole upstream timeout fits before that (one cut off may still bill what it made).
    meter = Meter(
        ENDPOINT,
        reservation,
        time.monotonic(),
        deadline=claimed_at + settings.image_task_work_seconds * (1 - CLAIM_MARGIN),
        also_when_failed=[tasks.finish_item(task_id, error=FAILED)],
        least_seconds_left=settings.upstream_timeout_seconds,
    )

    try:
        route = await anyio.to_thread.run_sync(_route, task)
    except GatewayError as refusal:  # the model, its providers or the key changed since the task began
        await meter.fail(refusal)
        return _failed(task, refusal)
    body = priced_body(route.entry, request)  # as the client sent it: gpt-image-1 refuses `response_format`

    async def send(candidate: Candidate) -> tuple[list[bytes], Any]:
        answer: ImagesResponse = await candidate.client(IMAGE_GENERATION).generate_images(body, candidate.model)
        return [await _image_bytes(item) for item in answer.get("data") or []], answer.get("usage")

    try:
        answered = await meter.first_answer(route, send)
    except GatewayError as error:  # settled as failed: refunded, the task failed
        return _failed(task, error)
    images, usage = answered.answer
    keys = [image_key(task_id, number) for number in range(len(images))]
    for key, data in zip(keys, images, strict=True):
        await anyio.to_thread.run_sync(_put, key, data)
    charge = images_charge(route.entry, request, len(images), usage)
    outcome = meter.served(answered.candidate, answered.asked_at, charge)
    await meter.settle(outcome, [tasks.finish_item(task_id, images=keys)])
    return "succeeded"


def task_view(principal: Principal, task_id: str) -> dict[str, Any]:
    """GET /v1/images/tasks/{id}: its key's (or its account's management keys') view of a task."""
    task = stores().tasks.get(task_id) if task_id.isascii() else None
    visible = (
        task is not None
        and task.account_id == principal.account_id
        and (principal.kind == "management" or task.key_hash == principal.key_hash)
    )
    if task is None or not visible or clock.now_epoch() >= task.created + TASK_RETENTION_SECONDS:
        # past its retention DynamoDB deletes it (days late, maybe) and its images have left the bucket
        raise NotFound(f"No image task `{task_id[:80]}`.")
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


def ended_if_overdue(task: Task) -> Task:
    """A task still pending past its deadline (its worker died, its message is in the dead-letter
    queue) is ended as it is read, failed and refunded, rather than when the sweeper next runs. The
    settlement's conditions make this and the sweeper end it once between them."""
    if task.status != "pending" or clock.now_epoch() < task.created + get_settings().reservation_ttl_seconds:
        return task
    reservation = stores().credits.get_reservation(task.task_id)
    if reservation is not None:
        settle_expired(reservation)
    return stores().tasks.get(task.task_id) or task


def work_soon(task_id: str) -> None:
    """Local runs without a queue: work the task in this event loop, after the answer went out."""
    job = asyncio.get_running_loop().create_task(work(task_id))
    _running.add(job)
    job.add_done_callback(_running.discard)


def _route(task: Task) -> Route:
    """The task's candidates, as its key allows them now, to the same kind of key its hold was priced
    for (the account's own, or the platform's), priced as its hold was."""
    entry = resolve_model(task.model)
    key = live_key(task.key_hash).key  # revoked, disabled or expired since: not worked (and refunded)
    if task.pricing is not None:
        entry = entry.model_copy(update={"pricing": Pricing.model_validate_json(task.pricing)})
    profile = profiles.current(task.account_id) if task.own_key else None
    return Route(entry, candidates_for(entry, key, IMAGE_GENERATION, profile=profile, own_keys=task.own_key))


def _failed(task: Task, error: GatewayError) -> str:
    logger().warning("image task failed", extra={"task_id": task.task_id, "error_code": error.code})
    return "failed"


async def _image_bytes(item: ImageData) -> bytes:
    inline, url = item.get("b64_json"), item.get("url")
    if isinstance(inline, str):
        return base64.b64decode(inline)
    if isinstance(url, str):  # DALL-E's default answer (the client did not ask for b64_json)
        return await fetch(url)
    raise UpstreamFailure("the provider answered an image without data")


def _put(key: str, data: bytes) -> None:
    from gateway.storage.objects import put_image

    put_image(get_settings().images_bucket or "", key, data, "image/png")


def _image_view(key: str, response_format: str) -> dict[str, str]:
    from gateway.storage.objects import presigned_url, read_bytes

    bucket = get_settings().images_bucket or ""
    if response_format == "b64_json":
        image = read_bytes(bucket, key)
        if image is None:  # deleted (or expired) before the task was
            raise NotFound("This task's images are no longer kept.")
        return {"b64_json": base64.b64encode(image).decode()}
    return {"url": presigned_url(bucket, key)}
