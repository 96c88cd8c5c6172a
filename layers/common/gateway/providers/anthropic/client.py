"""HTTP to Anthropic's Messages API: the only network code of this provider."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from gateway.providers.anthropic import transform
from gateway.providers.clients import StreamEvent
from gateway.providers.credentials import Endpoint
from gateway.providers.sse import open_events, parse, post_json


class AnthropicClient:
    kind = "anthropic"

    def __init__(self, endpoint: Endpoint, native_headers: dict[str, str] | None = None) -> None:
        self.endpoint = endpoint
        self.native_headers = native_headers or {}  # the client's `anthropic-beta`, for native requests

    async def complete(self, body: dict[str, Any], model: str) -> dict[str, Any]:
        payload = await self._post(transform.chat_request({**body, "stream": False}, model))
        return transform.chat_response(payload, model, created=int(time.time()))

    async def complete_native(self, body: dict[str, Any], model: str) -> tuple[dict[str, Any], dict[str, Any]]:
        payload = await self._post(body)
        return payload, transform.chat_response(payload, model, created=int(time.time()))

    def stream(self, body: dict[str, Any], model: str) -> Any:
        return self._stream(transform.chat_request({**body, "stream": True}, model), model)

    def stream_native(self, body: dict[str, Any], model: str) -> Any:
        return self._stream({**body, "stream": True}, model)

    @asynccontextmanager
    async def _stream(self, body: dict[str, Any], model: str) -> AsyncIterator[AsyncIterator[StreamEvent]]:
        translator = transform.StreamTranslator(model, created=int(time.time()))
        async with open_events(self._url(), body, self._headers(), transform.error_from) as raw_events:

            async def events() -> AsyncIterator[StreamEvent]:
                async for name, data in raw_events:
                    chunks = translator.feed(name, parse(data))  # an `error` event raises UpstreamFailure
                    yield StreamEvent(chunks=chunks, raw=f"event: {name}\ndata: {data}\n\n".encode())

            yield events()

    async def _post(self, body: dict[str, Any]) -> dict[str, Any]:
        return await post_json(self._url(), body, self._headers(), transform.error_from)

    def _url(self) -> str:
        return f"{self.endpoint.base_url}/messages"

    def _headers(self) -> dict[str, str]:
        return {**self.native_headers, **transform.headers(self.endpoint.api_key or "")}
