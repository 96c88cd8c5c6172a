"""HTTP to an OpenAI-compatible upstream: the only network code of this provider. The canonical
format is OpenAI's own, so canonical and native calls are the same call."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from typing import Any, ClassVar, cast

from gateway.canonical import AudioUpload, Body, ChatCompletion, ChatRequest, ImagesResponse, StreamEvent
from gateway.providers.capabilities import Events
from gateway.providers.credentials import Endpoint
from gateway.providers.errors import UpstreamFailure
from gateway.providers.http import Answer, raise_for_status, send
from gateway.providers.openai import request, response
from gateway.providers.sse import JSON_HEADERS, encoded, open_events, post_json
from gateway.providers.streams import ENDED_EARLY


class OpenAIClient:
    """Chat (canonical and native), embeddings, image generation, speech and transcription."""

    native_format: ClassVar[str] = "openai"

    def __init__(self, endpoint: Endpoint) -> None:
        self.endpoint = endpoint

    async def complete(self, body: ChatRequest, model: str) -> ChatCompletion:
        answer = await self._post(request.chat_request(request.from_canonical(body), model), "/chat/completions")
        return cast(ChatCompletion, answer)  # OpenAI's answer is the canonical one

    def stream(self, body: ChatRequest, model: str) -> Events:
        return self._stream(request.from_canonical(body), model, "/chat/completions", response.stream_event)

    async def complete_native(self, body: Body, model: str, headers: Mapping[str, str]) -> tuple[Body, ChatCompletion]:
        answer = await self._post(request.chat_request(body, model), "/chat/completions")
        return answer, cast(ChatCompletion, answer)

    def stream_native(self, body: Body, model: str, headers: Mapping[str, str]) -> Events:
        return self._stream(body, model, "/chat/completions", response.stream_event)

    async def complete_text(self, body: Body, model: str) -> tuple[Body, ChatCompletion]:
        answer = await self._post(request.chat_request(body, model), "/completions")
        return answer, response.text_completion(answer)

    def stream_text(self, body: Body, model: str) -> Events:
        return self._stream(body, model, "/completions", response.text_stream_event)

    async def embed(self, body: Body, model: str) -> Body:
        return await self._post(request.with_model(body, model), "/embeddings")

    async def generate_images(self, body: Body, model: str) -> ImagesResponse:
        answer = await self._post(request.with_model(body, model), "/images/generations")
        return cast(ImagesResponse, answer)

    async def speak(self, body: Body, model: str) -> bytes:
        """The audio; the body is the client's, with the upstream's model name."""
        answer = await self._send("/audio/speech", "*/*", encoded(request.with_model(body, model)), JSON_HEADERS)
        if not answer.content:
            raise UpstreamFailure("the provider answered without audio", status=502)
        return answer.content

    async def transcribe(self, fields: Mapping[str, str | list[str]], upload: AudioUpload) -> Body:
        import aiohttp

        form = aiohttp.FormData()  # field values quoted: a client's file name cannot break the part's headers
        for name, values in fields.items():
            for value in [values] if isinstance(values, str) else values:
                form.add_field(name, value)
        form.add_field("file", upload.content, filename=upload.filename, content_type=upload.content_type)
        answer = await self._send("/audio/transcriptions", "application/json", form)
        try:
            payload = json.loads(answer.content)
        except (ValueError, RecursionError) as error:
            raise UpstreamFailure("the provider sent a transcription that is not JSON", status=502) from error
        return response.transcription(payload)

    @asynccontextmanager
    async def _stream(
        self, body: Body, model: str, path: str, event: Callable[[str], StreamEvent]
    ) -> AsyncIterator[AsyncIterator[StreamEvent]]:
        """Opens the stream; yields its events once the upstream said 200. Usage is always asked for."""
        url, upstream_body = self._url(path), request.chat_request(body, model)
        async with open_events(url, upstream_body, self._headers(), response.error_from) as raw_events:

            async def events() -> AsyncIterator[StreamEvent]:
                ended = False
                async for _, data in raw_events:
                    read = event(data)
                    ended = ended or response.ends(read)
                    yield read
                if not ended:
                    raise UpstreamFailure(ENDED_EARLY)

            yield events()

    async def _post(self, body: Body, path: str) -> Body:
        return await post_json(self._url(path), body, self._headers(), response.error_from)

    async def _send(self, path: str, accept: str, data: Any, content_headers: Mapping[str, str] = {}) -> Answer:
        """POST a body that is not a JSON chat (audio in or out) and check its status."""
        headers = {**self._headers(), "Accept": accept, **content_headers}
        answer = await send("POST", self._url(path), headers, data=data)
        raise_for_status(answer.status, answer.content, answer.headers, response.error_from)
        return answer

    def _url(self, path: str) -> str:
        return self.endpoint.base_url + path

    def _headers(self) -> dict[str, str]:
        headers = {"Accept": "application/json"}
        if self.endpoint.api_key:
            headers["Authorization"] = f"Bearer {self.endpoint.api_key}"
        return headers


class OpenAIResponsesClient:
    """OpenAI's Responses API for clients that speak it: their requests pass through (the gateway has
    already made them its own: replayed conversation, nothing stored upstream, its output cap)."""

    native_format: ClassVar[str] = "responses"

    def __init__(self, endpoint: Endpoint) -> None:
        self.upstream = OpenAIClient(endpoint)

    async def complete_native(self, body: Body, model: str, headers: Mapping[str, str]) -> tuple[Body, ChatCompletion]:
        answer = await self.upstream._post({**body, "model": model, "stream": False}, "/responses")
        return answer, response.responses_completion(answer, model)

    def stream_native(self, body: Body, model: str, headers: Mapping[str, str]) -> Events:
        return self._stream({**body, "model": model, "stream": True})

    @asynccontextmanager
    async def _stream(self, body: Body) -> AsyncIterator[AsyncIterator[StreamEvent]]:
        url, headers = self.upstream._url("/responses"), self.upstream._headers()
        async with open_events(url, body, headers, response.error_from) as raw_events:

            async def events() -> AsyncIterator[StreamEvent]:
                ended = False
                async for name, data in raw_events:
                    read, last = response.responses_stream_event(name, data)
                    ended = ended or last
                    yield read
                if not ended:
                    raise UpstreamFailure(ENDED_EARLY)

            yield events()


class OpenAITextCompletionsClient:
    """OpenAI's legacy `/completions` for clients that speak it: their requests pass through."""

    native_format: ClassVar[str] = "completions"

    def __init__(self, endpoint: Endpoint) -> None:
        self.upstream = OpenAIClient(endpoint)

    async def complete_native(self, body: Body, model: str, headers: Mapping[str, str]) -> tuple[Body, ChatCompletion]:
        return await self.upstream.complete_text(body, model)

    def stream_native(self, body: Body, model: str, headers: Mapping[str, str]) -> Events:
        return self.upstream.stream_text(body, model)
