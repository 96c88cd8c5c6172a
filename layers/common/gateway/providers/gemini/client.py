"""HTTP to the Gemini API (generateContent / streamGenerateContent): this provider's network code."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from gateway.providers.clients import StreamEvent
from gateway.providers.credentials import Endpoint
from gateway.providers.errors import UpstreamFailure
from gateway.providers.gemini import responses, transform
from gateway.providers.sse import open_events, parse, post_json


class GeminiClient:
    kind = "gemini"

    def __init__(self, endpoint: Endpoint) -> None:
        self.endpoint = endpoint

    async def complete(self, body: dict[str, Any], model: str) -> dict[str, Any]:
        payload = await self._post(transform.chat_request(body), model)
        return responses.chat_response(payload, model, created=int(time.time()))

    async def complete_native(self, body: dict[str, Any], model: str) -> tuple[dict[str, Any], dict[str, Any]]:
        payload = await self._post(body, model)
        return payload, responses.chat_response(payload, model, created=int(time.time()))

    def stream(self, body: dict[str, Any], model: str) -> Any:
        return self._stream(transform.chat_request(body), model)

    def stream_native(self, body: dict[str, Any], model: str) -> Any:
        return self._stream(body, model)

    @asynccontextmanager
    async def _stream(self, body: dict[str, Any], model: str) -> AsyncIterator[AsyncIterator[StreamEvent]]:
        translator = responses.StreamTranslator(model, created=int(time.time()))
        url = transform.endpoint(self.endpoint.base_url, model, stream=True)
        async with open_events(url, body, self._headers(), transform.error_from) as raw_events:

            async def events() -> AsyncIterator[StreamEvent]:
                async for _, data in raw_events:
                    chunks = translator.feed(parse(data))
                    for chunk in chunks:
                        if isinstance(chunk.get("error"), dict):
                            message = chunk["error"].get("message", "error")
                            raise UpstreamFailure(f"the provider failed mid-stream: {message}")
                    yield StreamEvent(chunks=chunks, raw=f"data: {data}\r\n\r\n".encode())
                yield StreamEvent(chunks=translator.finish())  # the usage, from the last chunk's metadata

            yield events()

    async def _post(self, body: dict[str, Any], model: str) -> dict[str, Any]:
        url = transform.endpoint(self.endpoint.base_url, model, stream=False)
        return await post_json(url, body, self._headers(), transform.error_from)

    def _headers(self) -> dict[str, str]:
        return transform.headers(self.endpoint.api_key or "")
