"""HTTP to an OpenAI-compatible upstream: the only network code of this provider."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx

from gateway.providers.credentials import Endpoint
from gateway.providers.errors import UpstreamFailure, UpstreamRefusal, UpstreamTimeout
from gateway.providers.http import shared_client
from gateway.providers.openai import transform


class OpenAICompatibleClient:
    def __init__(self, endpoint: Endpoint) -> None:
        self.endpoint = endpoint

    async def chat(self, body: dict[str, Any]) -> dict[str, Any]:
        try:
            response = await shared_client().post(self._url("/chat/completions"), json=body, headers=self._headers())
        except httpx.TimeoutException as error:
            raise UpstreamTimeout("the provider did not answer in time") from error
        except httpx.HTTPError as error:
            raise UpstreamFailure(f"could not reach the provider ({type(error).__name__})") from error
        _raise_for_status(response.status_code, response.content, response.headers)
        try:
            payload = response.json()
        except ValueError as error:
            raise UpstreamFailure("the provider sent a response that is not JSON", status=502) from error
        if not isinstance(payload, dict):
            raise UpstreamFailure("the provider sent an unexpected response", status=502)
        return payload

    @asynccontextmanager
    async def stream_chat(self, body: dict[str, Any]) -> AsyncIterator[AsyncIterator[str]]:
        """Opens the stream; yields an iterator of SSE `data` payloads once the upstream said 200."""
        from httpx_sse import EventSource

        client = shared_client()
        request = client.build_request("POST", self._url("/chat/completions"), json=body, headers=self._headers())
        try:
            response = await client.send(request, stream=True)
        except httpx.TimeoutException as error:
            raise UpstreamTimeout("the provider did not answer in time") from error
        except httpx.HTTPError as error:
            raise UpstreamFailure(f"could not reach the provider ({type(error).__name__})") from error
        try:
            if response.status_code != 200:
                content = await response.aread()
                _raise_for_status(response.status_code, content, response.headers)

            async def data() -> AsyncIterator[str]:
                try:
                    async for event in EventSource(response).aiter_sse():
                        if event.data:
                            yield event.data
                except httpx.TimeoutException as error:
                    raise UpstreamTimeout("the provider stopped sending") from error
                except httpx.HTTPError as error:
                    raise UpstreamFailure(f"the provider's stream broke ({type(error).__name__})") from error

            yield data()
        finally:
            await response.aclose()

    def _url(self, path: str) -> str:
        return self.endpoint.base_url + path

    def _headers(self) -> dict[str, str]:
        headers = {"Accept": "application/json"}
        if self.endpoint.api_key:
            headers["Authorization"] = f"Bearer {self.endpoint.api_key}"
        return headers


def _raise_for_status(status: int, content: bytes, headers: httpx.Headers) -> None:
    if 200 <= status < 300:
        return
    message, code, param = transform.error_from(status, content)
    if status in (401, 403):
        raise UpstreamFailure("the provider refused the gateway's credentials", status=status)
    if status in (408, 409, 429) or status >= 500:
        raise UpstreamFailure(f"the provider failed: {message}", status=status, retry_after=headers.get("retry-after"))
    raise UpstreamRefusal(status, message, code=code, param=param)
