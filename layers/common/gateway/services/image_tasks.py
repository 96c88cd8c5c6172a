"""The image-task worker: generate, store in the bucket, and settle the task's reservation together
with the task's new state, in one transaction. A redelivered or retried task is charged once: the
second settlement finds the task no longer pending and writes nothing."""

from __future__ import annotations

import asyncio
import base64
import time
from typing import Any

import anyio

from gateway import clock
from gateway.billing import credits
from gateway.billing.credits import Outcome
from gateway.billing.sweeper import settle_expired
from gateway.catalog.registry import get_catalog
from gateway.config import get_settings
from gateway.errors import InvalidRequest
from gateway.formats.images import ImageGenerationRequest
from gateway.observability import logger
from gateway.providers.credentials import endpoint_for
from gateway.providers.errors import UpstreamFailure, UpstreamRefusal
from gateway.services.images import ENDPOINT, _call_upstream, size_and_quality
from gateway.services.routing import Candidate
from gateway.storage.credits import CreditRepository
from gateway.storage.tasks import Task, TaskRepository, image_key

_running: set[asyncio.Task[str]] = set()


async def work(task_id: str) -> str:
    """Work one task; returns what became of it: succeeded, failed or skipped (not pending)."""
    settings = get_settings()
    tasks = TaskRepository(settings.table_name)
    task = await anyio.to_thread.run_sync(tasks.get, task_id)
    if task is None or task.status != "pending":
        return "skipped"
    reservation = await anyio.to_thread.run_sync(CreditRepository(settings.table_name).get_reservation, task_id)
    if reservation is None:  # settled already (a parallel delivery) or refunded by the sweeper
        return "skipped"
    if reservation.expires_at - clock.now_epoch() < settings.image_task_work_seconds:
        # it could not finish before the sweeper ends it: end it now, failed and refunded, unworked
        await anyio.to_thread.run_sync(settle_expired, reservation)
        return "expired"
    started = time.monotonic()
    request = ImageGenerationRequest.model_validate(task.request)
    body = {**request.upstream_body(), "response_format": "b64_json"}
    attempts: list[dict[str, Any]] = []
    error: Exception | None = None
    for candidate in _candidates(task):
        attempt_started = time.monotonic()
        try:
            payload = await _call_upstream(candidate, body, task.task_id)
            images = [await _image_bytes(item) for item in payload.get("data") or []]
        except (UpstreamFailure, UpstreamRefusal, InvalidRequest) as failure:
            attempts.append(_attempt(candidate, 502, "provider_error", attempt_started))
            error = failure
            if isinstance(failure, UpstreamFailure):
                continue
            break
        attempts.append(_attempt(candidate, 200, None, attempt_started))
        keys = [image_key(task.task_id, number) for number in range(len(images))]
        for key, data in zip(keys, images, strict=True):
            await anyio.to_thread.run_sync(_put, key, data)
        cost = _cost(task, request, len(images))
        outcome = _outcome(candidate.provider, started, cost, attempts, {"images": len(images)})
        done = tasks.finish_item(task.task_id, images=keys)
        await anyio.to_thread.run_sync(credits.settle_durably, reservation, outcome, [done])
        return "succeeded"
    message = "The image provider failed; the task was not charged."
    outcome = _outcome(attempts[-1]["provider"] if attempts else None, started, 0, attempts, None, failed=True)
    failed = tasks.finish_item(task.task_id, error=message)
    await anyio.to_thread.run_sync(credits.settle_durably, reservation, outcome, [failed])
    logger().warning("image task failed", extra={"task_id": task.task_id, "error_type": type(error).__name__})
    return "failed"


def ended_if_overdue(task: Task) -> Task:
    """A task still pending past its deadline (its worker died, its message is in the dead-letter
    queue) is ended as it is read, failed and refunded, rather than when the sweeper next runs. The
    settlement's conditions make this and the sweeper end it once between them."""
    if task.status != "pending" or clock.now_epoch() < task.created + get_settings().reservation_ttl_seconds:
        return task
    settings = get_settings()
    reservation = CreditRepository(settings.table_name).get_reservation(task.task_id)
    if reservation is not None:
        settle_expired(reservation)
    return TaskRepository(settings.table_name).get(task.task_id) or task


def work_soon(task_id: str) -> None:
    """Local runs without a queue: work the task in this event loop, after the answer went out."""
    job = asyncio.get_running_loop().create_task(work(task_id))
    _running.add(job)
    job.add_done_callback(_running.discard)


def _candidates(task: Task) -> list[Candidate]:
    catalog = get_catalog()
    entry = catalog.resolve(task.model)
    if entry is None:
        return []
    found = []
    for candidate in entry.providers:
        config = catalog.providers[candidate.provider]
        endpoint = endpoint_for(config)
        if endpoint is not None:
            found.append(Candidate(candidate.provider, config, candidate.model, endpoint))
    return found


async def _image_bytes(item: dict[str, Any]) -> bytes:
    if isinstance(item.get("b64_json"), str):
        return base64.b64decode(item["b64_json"])
    if isinstance(item.get("url"), str):  # an upstream that ignores response_format
        from gateway.providers.http import shared_client

        response = await shared_client().get(item["url"])
        response.raise_for_status()
        return response.content
    raise UpstreamFailure("the provider answered an image without data")


def _put(key: str, data: bytes) -> None:
    from gateway.storage.objects import put_image

    put_image(get_settings().images_bucket or "", key, data, "image/png")


def _cost(task: Task, request: ImageGenerationRequest, images: int) -> int:
    entry = get_catalog().resolve(task.model)
    if entry is None or not images:
        return 0
    size, quality = size_and_quality(entry, request)
    return entry.pricing.image_cost(size, quality, images) or 0


def _attempt(candidate: Candidate, status: int, code: str | None, started: float) -> dict[str, Any]:
    latency = int((time.monotonic() - started) * 1000)
    return {"provider": candidate.provider, "upstream_model": candidate.model, "http_status": status,
            "error_code": code, "latency_ms": latency}  # fmt: skip


def _outcome(provider: str | None, started: float, cost: int, attempts: list[dict[str, Any]],
             units: dict[str, Any] | None, *, failed: bool = False) -> Outcome:  # fmt: skip
    return Outcome(
        endpoint=ENDPOINT,
        provider=provider,
        http_status=502 if failed else 200,
        error_code="provider_error" if failed else None,
        prompt_tokens=0,
        completion_tokens=0,
        cost=cost,
        latency_ms=int((time.monotonic() - started) * 1000),
        attempts=tuple(attempts),
        units=units,
    )
