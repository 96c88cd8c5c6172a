"""The Responses API on the one metered chat call: `POST /v1/responses` (buffered or streamed, to any
upstream), and the stored responses' routes.

A request continuing `previous_response_id` replays that response's whole conversation as its input
(and is priced on it); the upstream keeps nothing, the gateway does: a response with `store` (the
default) is kept `RESPONSE_RETENTION_DAYS`, once whole, before its last event goes out, readable and
deletable by its account only. Storing never fails the answer it follows: a response that cannot be
stored is answered, and logged."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from typing import Any

import anyio

from gateway.auth.authenticate import Principal
from gateway.catalog.registry import get_catalog
from gateway.config import get_settings
from gateway.errors import InvalidRequest, NotFound
from gateway.formats import responses as wire
from gateway.formats.responses import ResponseContext, ResponsesRequest
from gateway.formats.responses_objects import new_id
from gateway.observability import logger
from gateway.services.chat import ChatAnswer, infer
from gateway.services.metering import Answer
from gateway.storage.responses import StoredResponse
from gateway.storage.stores import stores

ECHOED = (
    "instructions", "max_output_tokens", "max_tool_calls", "parallel_tool_calls", "previous_response_id",
    "reasoning", "temperature", "text", "tool_choice", "tools", "top_p", "truncation", "user", "metadata",
)  # fmt: skip
NOT_SERVED = {
    "background": "Background responses are not served by this gateway; stream instead.",
    "conversation": "Conversations are not served by this gateway; continue with previous_response_id.",
    "prompt": "Stored prompt templates are not served by this gateway; send the instructions.",
}
MAX_LISTED = 100


async def create(
    principal: Principal,
    request: ResponsesRequest,
    trace_id: str,
    *,
    vendor: str | None = None,
    deadline: float | None = None,
) -> ChatAnswer:
    body = request.wire_body()
    for name, reason in NOT_SERVED.items():
        if body.get(name):
            raise InvalidRequest(reason, param=name)
    history: list[dict[str, Any]] = []
    if request.previous_response_id is not None:
        history = (await _own(principal, request.previous_response_id, "previous_response_id")).conversation()
    context = ResponseContext(
        id=new_id("resp"),
        created_at=int(time.time()),
        echo={name: body[name] for name in ECHOED if name in body},
        store=request.store is not False,
        input_items=_resolved(wire.input_items(request.input), history),
        history=history,
    )
    entry = get_catalog().resolve(request.model)
    reasoning = entry is not None and "reasoning" in entry.capabilities
    exchange = wire.exchange(request, context, reasoning_model=reasoning)
    answer = await infer(principal, exchange, trace_id, vendor=vendor, deadline=deadline)
    if isinstance(answer.content, dict):
        await _store(principal, context)
        return answer
    return Answer(_stored_when_whole(answer.content, principal, context), answer.headers)


async def retrieve(principal: Principal, response_id: str) -> dict[str, Any]:
    return (await _own(principal, response_id)).response


async def delete(principal: Principal, response_id: str) -> dict[str, Any]:
    stored = await _own(principal, response_id)
    await anyio.to_thread.run_sync(stores().responses.delete, stored, get_settings().responses_bucket)
    return {"id": response_id, "object": "response", "deleted": True}


async def input_items(
    principal: Principal, response_id: str, *, limit: int, order: str, after: str | None
) -> dict[str, Any]:
    """The response's own input items (not the conversation it continued), newest first unless
    `order` is `asc`; `after` an item id, for the next page."""
    stored = await _own(principal, response_id)
    items = [_with_id(item, stored.id, index) for index, item in enumerate(stored.input_items)]
    if order == "desc":
        items.reverse()
    if after is not None:
        position = next((i for i, item in enumerate(items) if item["id"] == after), None)
        if position is None:
            raise InvalidRequest(f"No input item `{after[:64]}` in this response.", param="after")
        items = items[position + 1 :]
    page = items[:limit]
    return {
        "object": "list",
        "data": page,
        "first_id": page[0]["id"] if page else None,
        "last_id": page[-1]["id"] if page else None,
        "has_more": len(items) > len(page),
    }


async def _own(principal: Principal, response_id: str, param: str | None = None) -> StoredResponse:
    """The stored response, if this key's account made it (as OpenAI's are its project's: a rotated key
    goes on with its conversations); a key another key created (handed to an app) sees only its own.
    Anyone else's is as if it did not exist."""
    stored = await anyio.to_thread.run_sync(stores().responses.get, response_id, get_settings().responses_bucket)
    visible = (
        stored is not None
        and stored.account_id == principal.account_id
        and (principal.key.parent is None or stored.key_hash == principal.key_hash)
    )
    if stored is None or not visible:
        raise NotFound(f"Response with id '{response_id[:128]}' not found.", param=param)
    return stored


def _resolved(items: list[dict[str, Any]], history: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """`item_reference` items as the items of the replayed conversation they name."""
    known = {item.get("id"): item for item in history if item.get("id")}
    resolved = []
    for index, item in enumerate(items):
        if wire.item_type(item) != "item_reference":
            resolved.append(item)
        elif item.get("id") in known:
            resolved.append(known[item["id"]])
        else:
            raise InvalidRequest(
                "An item_reference must name an item of the conversation previous_response_id continues.",
                param=f"input[{index}]",
            )
    return resolved


def _with_id(item: dict[str, Any], response_id: str, index: int) -> dict[str, Any]:
    """An input item as listed: typed, with an id (its own, or one stable for its place)."""
    listed = {"type": wire.item_type(item), **item}
    listed.setdefault("id", f"msg_{response_id.removeprefix('resp_')[:40]}{index:04d}")
    if listed["type"] == "message" and isinstance(listed.get("content"), str):
        kind = "output_text" if listed.get("role") == "assistant" else "input_text"
        listed["content"] = [{"type": kind, "text": listed["content"]}]
    return listed


async def _store(principal: Principal, context: ResponseContext) -> None:
    if not context.store or context.final is None:
        return
    settings = get_settings()
    stored = StoredResponse(
        id=context.id,
        account_id=principal.account_id,
        key_hash=principal.key_hash,
        created_at=context.created_at,
        response=context.final,
        input_items=context.input_items,
        history=context.history,
    )
    expires_at = int(time.time()) + settings.response_retention_days * 86_400
    try:
        with anyio.CancelScope(shield=True):
            await anyio.to_thread.run_sync(stores().responses.put, stored, expires_at, settings.responses_bucket)
    except Exception as error:  # the answer stands; only its continuation is lost
        logger().warning("response not stored", extra={"error_type": type(error).__name__})


async def _stored_when_whole(
    stream: AsyncIterator[bytes], principal: Principal, context: ResponseContext
) -> AsyncIterator[bytes]:
    """The stream's bytes; the response stored as soon as it is whole, before its last event."""
    stored = False
    try:
        async for chunk in stream:
            if context.final is not None and not stored:
                stored = True
                await _store(principal, context)
            yield chunk
    finally:
        close = getattr(stream, "aclose", None)
        if close is not None:
            with anyio.CancelScope(shield=True):
                await close()
