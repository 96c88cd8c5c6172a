"""HTTP to Anthropic's Messages API: the only network code of this provider."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from typing import ClassVar

from gateway.canonical import Body, ChatCompletion, ChatRequest, StreamEvent
from gateway.providers.anthropic import request, response
from gateway.providers.capabilities import Events
from gateway.providers.credentials import Endpoint
from gateway.providers.errors import UpstreamFailure
from gateway.providers.sse import open_events, parse, post_json
from gateway.providers.streams import ENDED_EARLY, ReportingEvents


class AnthropicClient:
    """Chat and token counting, canonical and native (clients of the Anthropic format pass through,
    `anthropic-beta` too)."""

    native_format: ClassVar[str] = "anthropic"

    def __init__(self, endpoint: Endpoint) -> None:
        self.endpoint = endpoint

    async def complete(self, body: ChatRequest, model: str) -> ChatCompletion:
        payload = await self._post(request.chat_request({**body, "stream": False}, model), {})
        return response.chat_response(payload, model, created=int(time.time()))

    def stream(self, body: ChatRequest, model: str) -> Events:
        return self._stream(request.chat_request({**body, "stream": True}, model), model, {})

    async def complete_native(self, body: Body, model: str, headers: Mapping[str, str]) -> tuple[Body, ChatCompletion]:
        payload = await self._post(body, headers)
        return payload, response.chat_response(payload, model, created=int(time.time()))

    def stream_native(self, body: Body, model: str, headers: Mapping[str, str]) -> Events:
        return self._stream({**body, "stream": True}, model, headers)

    async def count_tokens(self, body: ChatRequest, model: str) -> int:
        payload = await post_json(
            self._url("/count_tokens"), request.count_request(dict(body), model), self._headers({}), response.error_from
        )
        return response.counted_tokens(payload)

    async def count_tokens_native(self, body: Body, model: str, headers: Mapping[str, str]) -> Body:
        payload = await post_json(self._url("/count_tokens"), body, self._headers(headers), response.error_from)
        response.counted_tokens(payload)
        return payload

    @asynccontextmanager
    async def _stream(
        self, body: Body, model: str, headers: Mapping[str, str]
    ) -> AsyncIterator[AsyncIterator[StreamEvent]]:
        translator = response.StreamTranslator(model, created=int(time.time()))
        async with open_events(self._url(), body, self._headers(headers), response.error_from) as raw_events:

            async def events() -> AsyncIterator[StreamEvent]:
                async for name, data in raw_events:
                    chunks = translator.feed(name, parse(data))  # an `error` event raises UpstreamFailure
                    yield StreamEvent(chunks=chunks, raw=f"event: {name}\ndata: {data}\n\n".encode())
                if not translator.ended:
                    raise UpstreamFailure(ENDED_EARLY)

            yield ReportingEvents(events(), translator.reported)

    async def _post(self, body: Body, headers: Mapping[str, str]) -> Body:
        return await post_json(self._url(), body, self._headers(headers), response.error_from)

    def _url(self, path: str = "") -> str:
        return f"{self.endpoint.base_url}/messages{path}"

    def _headers(self, passed_on: Mapping[str, str]) -> dict[str, str]:
        """The client's own headers (`anthropic-beta`, native calls only) under the gateway's."""
        return {**passed_on, **request.headers(self.endpoint.api_key or "")}
