"""HTTP to an OpenAI-compatible upstream: the only network code of this provider. The canonical
format is OpenAI's own, so canonical and native calls are the same call."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from gateway.providers.clients import StreamEvent
from gateway.providers.credentials import Endpoint
from gateway.providers.errors import UpstreamFailure
from gateway.providers.openai import transform
from gateway.providers.sse import open_events, post_json

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
        url, request = self._url("/chat/completions"), transform.chat_request(body, model)
        async with open_events(url, request, self._headers(), transform.error_from) as raw_events:

            async def events() -> AsyncIterator[StreamEvent]:
                async for _, data in raw_events:
                    if data == "[DONE]":
                        yield DONE
                    else:
                        yield StreamEvent(chunks=_chunks(data), raw=f"data: {data}\n\n".encode())

            yield events()

    async def embeddings(self, body: dict[str, Any], model: str) -> dict[str, Any]:
        return await self._post({**body, "model": model}, "/embeddings")

    async def _post(self, body: dict[str, Any], path: str = "/chat/completions") -> dict[str, Any]:
        return await post_json(self._url(path), body, self._headers(), transform.error_from)

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
