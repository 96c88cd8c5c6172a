"""HTTP to an OpenAI-compatible upstream: the only network code of this provider. The canonical
format is OpenAI's own, so canonical and native calls are the same call."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx

from gateway.providers.clients import StreamEvent
from gateway.providers.credentials import Endpoint
from gateway.providers.errors import UpstreamFailure, UpstreamTimeout
from gateway.providers.http import raise_for_status, send_streaming, shared_client
from gateway.providers.openai import transform

DONE = StreamEvent(chunks=[], raw=b"data: [DONE]\n\n")


class OpenAICompatibleClient:
    kind = "openai"

    def __init__(self, endpoint: Endpoint) -> None:
        self.endpoint = endpoint

    async def complete(self, body: dict[str, Any], model: str) -> dict[str, Any]:
        return await self._post(transform.chat_request(transform.from_canonical(body), model))

    async def complete_native(self, body: dict[str, Any], model: str) -> tuple[dict[str, Any], dict[str, Any]]:
        payload = await self._post(transform.chat_request(body, model))
        return payload, payload

    def stream(self, body: dict[str, Any], model: str) -> Any:
        return self.stream_native(transform.from_canonical(body), model)

    @asynccontextmanager
    async def stream_native(self, body: dict[str, Any], model: str) -> AsyncIterator[AsyncIterator[StreamEvent]]:
        """Opens the stream; yields its events once the upstream said 200. Usage is always asked for."""
        from httpx_sse import EventSource

        client = shared_client()
        request = client.build_request(
            "POST", self._url("/chat/completions"), json=transform.chat_request(body, model), headers=self._headers()
        )
        response = await send_streaming(client, request)
        try:
            if response.status_code != 200:
                raise_for_status(response.status_code, await response.aread(), response.headers, transform.error_from)

            async def events() -> AsyncIterator[StreamEvent]:
                try:
                    async for event in EventSource(response).aiter_sse():
                        if not event.data:
                            continue
                        if event.data == "[DONE]":
                            yield DONE
                            continue
                        yield StreamEvent(chunks=_chunks(event.data), raw=f"data: {event.data}\n\n".encode())
                except httpx.TimeoutException as error:
                    raise UpstreamTimeout("the provider stopped sending") from error
                except httpx.HTTPError as error:
                    raise UpstreamFailure(f"the provider's stream broke ({type(error).__name__})") from error

            yield events()
        finally:
            await response.aclose()

    async def embeddings(self, body: dict[str, Any], model: str) -> dict[str, Any]:
        return await self._post({**body, "model": model}, "/embeddings")

    async def _post(self, body: dict[str, Any], path: str = "/chat/completions") -> dict[str, Any]:
        try:
            response = await shared_client().post(self._url(path), json=body, headers=self._headers())
        except httpx.TimeoutException as error:
            raise UpstreamTimeout("the provider did not answer in time") from error
        except httpx.HTTPError as error:
            raise UpstreamFailure(f"could not reach the provider ({type(error).__name__})") from error
        raise_for_status(response.status_code, response.content, response.headers, transform.error_from)
        try:
            payload = response.json()
        except ValueError as error:
            raise UpstreamFailure("the provider sent a response that is not JSON", status=502) from error
        if not isinstance(payload, dict):
            raise UpstreamFailure("the provider sent an unexpected response", status=502)
        return payload

    def _url(self, path: str) -> str:
        return self.endpoint.base_url + path

    def _headers(self) -> dict[str, str]:
        headers = {"Accept": "application/json"}
        if self.endpoint.api_key:
            headers["Authorization"] = f"Bearer {self.endpoint.api_key}"
        return headers


def _chunks(data: str) -> list[dict[str, Any]]:
    try:
        chunk = json.loads(data)
    except ValueError:
        return []
    if not isinstance(chunk, dict):
        return []
    if isinstance(chunk.get("error"), dict):
        raise UpstreamFailure(f"the provider failed mid-stream: {chunk['error'].get('message', 'error')}")
    return [chunk]


async def generate_images(endpoint: Endpoint, body: dict[str, Any], model: str) -> dict[str, Any]:
    """POST /images/generations on an OpenAI-compatible upstream."""
    return await OpenAICompatibleClient(endpoint)._post({**body, "model": model}, "/images/generations")
