"""Opening and reading an upstream's SSE stream over the shared httpx client (all HTTP providers)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx

from gateway.providers.errors import UpstreamFailure, UpstreamTimeout
from gateway.providers.http import ErrorReader, raise_for_status, send_streaming, shared_client


@asynccontextmanager
async def open_events(
    url: str, body: dict[str, Any], headers: dict[str, str], error_from: ErrorReader
) -> AsyncIterator[AsyncIterator[tuple[str, str]]]:
    """POSTs `body`; once the upstream answered 200, yields its events as (event name, data)."""
    from httpx_sse import EventSource

    client = shared_client()
    response = await send_streaming(client, client.build_request("POST", url, json=body, headers=headers))
    try:
        if response.status_code != 200:
            raise_for_status(response.status_code, await response.aread(), response.headers, error_from)

        async def events() -> AsyncIterator[tuple[str, str]]:
            try:
                async for event in EventSource(response).aiter_sse():
                    if event.data:
                        yield event.event, event.data
            except httpx.TimeoutException as error:
                raise UpstreamTimeout("the provider stopped sending") from error
            except httpx.HTTPError as error:
                raise UpstreamFailure(f"the provider's stream broke ({type(error).__name__})") from error

        yield events()
    finally:
        await response.aclose()


async def post_json(url: str, body: dict[str, Any], headers: dict[str, str], error_from: ErrorReader) -> dict[str, Any]:
    try:
        response = await shared_client().post(url, json=body, headers=headers)
    except httpx.TimeoutException as error:
        raise UpstreamTimeout("the provider did not answer in time") from error
    except httpx.HTTPError as error:
        raise UpstreamFailure(f"could not reach the provider ({type(error).__name__})") from error
    raise_for_status(response.status_code, response.content, response.headers, error_from)
    try:
        payload = response.json()
    except ValueError as error:
        raise UpstreamFailure("the provider sent a response that is not JSON", status=502) from error
    if not isinstance(payload, dict):
        raise UpstreamFailure("the provider sent an unexpected response", status=502)
    return payload


def parse(data: str) -> dict[str, Any]:
    try:
        payload = json.loads(data)
    except ValueError as error:
        raise UpstreamFailure("the provider sent an event that is not JSON") from error
    if not isinstance(payload, dict):
        raise UpstreamFailure("the provider sent an unexpected event")
    return payload
