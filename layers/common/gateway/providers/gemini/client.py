"""HTTP to the Gemini API (generateContent / streamGenerateContent): this provider's network code."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from typing import ClassVar

from gateway.canonical import Body, ChatCompletion, ChatRequest, ImageData, ImagesResponse, StreamEvent
from gateway.providers.capabilities import Events
from gateway.providers.credentials import Endpoint
from gateway.providers.errors import UpstreamFailure
from gateway.providers.gemini import request, response
from gateway.providers.sse import open_events, parse, post_json
from gateway.providers.streams import ENDED_EARLY, ReportingEvents


class GeminiClient:
    """Chat (canonical and native), token counting, and image generation (Gemini image models)."""

    native_format: ClassVar[str] = "gemini"

    def __init__(self, endpoint: Endpoint) -> None:
        self.endpoint = endpoint

    async def complete(self, body: ChatRequest, model: str) -> ChatCompletion:
        payload = await self._post(request.chat_request(body), model)
        return response.chat_response(payload, model, created=int(time.time()))

    def stream(self, body: ChatRequest, model: str) -> Events:
        return self._stream(request.chat_request(body), model)

    async def complete_native(self, body: Body, model: str, headers: Mapping[str, str]) -> tuple[Body, ChatCompletion]:
        payload = await self._post(body, model)
        return payload, response.chat_response(payload, model, created=int(time.time()))

    def stream_native(self, body: Body, model: str, headers: Mapping[str, str]) -> Events:
        return self._stream(body, model)

    async def count_tokens(self, body: ChatRequest, model: str) -> int:
        url = request.count_endpoint(self.endpoint.base_url, model)
        payload = await post_json(url, request.count_request(body, model), self._headers(), response.error_from)
        return response.counted_tokens(payload)

    async def count_tokens_native(self, body: Body, model: str, headers: Mapping[str, str]) -> Body:
        url = request.count_endpoint(self.endpoint.base_url, model)
        payload = await post_json(url, body, self._headers(), response.error_from)
        response.counted_tokens(payload)
        return payload

    async def generate_images(self, body: Body, model: str) -> ImagesResponse:
        """One generateContent per image, asking for the IMAGE modality; always `b64_json` (Gemini
        answers images inline). The images that were made are answered (and paid for) even when a
        sibling call failed; only when none was made is it a failure: the first call's."""
        calls = [self._image(body["prompt"], model) for _ in range(body.get("n", 1))]
        made = await asyncio.gather(*calls, return_exceptions=True)
        for failure in made:
            if isinstance(failure, BaseException) and not isinstance(failure, Exception):
                raise failure  # a cancellation is not a failed image
        data = [image for image in made if not isinstance(image, BaseException)]
        if not data:
            raise next(failure for failure in made if isinstance(failure, BaseException))
        return {"created": int(time.time()), "data": data}

    async def _image(self, prompt: str, model: str) -> ImageData:
        images = response.inline_images(await self._post(request.image_request(prompt), model))
        if not images:
            raise UpstreamFailure("the provider answered without an image")
        return images[0]

    @asynccontextmanager
    async def _stream(self, body: Body, model: str) -> AsyncIterator[AsyncIterator[StreamEvent]]:
        translator = response.StreamTranslator(model, created=int(time.time()))
        url = request.endpoint(self.endpoint.base_url, model, stream=True)
        async with open_events(url, body, self._headers(), response.error_from) as raw_events:

            async def events() -> AsyncIterator[StreamEvent]:
                async for _, data in raw_events:
                    chunks = translator.feed(parse(data))
                    for chunk in chunks:
                        if isinstance(chunk.get("error"), dict):
                            message = chunk["error"].get("message", "error")
                            raise UpstreamFailure(f"the provider failed mid-stream: {message}")
                    yield StreamEvent(chunks=chunks, raw=f"data: {data}\r\n\r\n".encode())
                if not translator.ended:  # no finishReason: the body ended before the answer did
                    raise UpstreamFailure(ENDED_EARLY)
                yield StreamEvent(chunks=translator.finish())  # the usage, from the last chunk's metadata

            yield ReportingEvents(events(), translator.reported)

    async def _post(self, body: Body, model: str) -> Body:
        url = request.endpoint(self.endpoint.base_url, model, stream=False)
        return await post_json(url, body, self._headers(), response.error_from)

    def _headers(self) -> dict[str, str]:
        return request.headers(self.endpoint.api_key or "")
