"""Bedrock behind the gateway's provider interface (providers.clients). Bedrock has no inbound
format of its own here, so every call is canonical."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from gateway.providers.bedrock.client import BedrockClient
from gateway.providers.clients import StreamEvent
from gateway.providers.credentials import Endpoint


class BedrockAdapter:
    kind = "bedrock"

    def __init__(self, endpoint: Endpoint) -> None:
        self.client = BedrockClient(endpoint.region or "us-east-1", endpoint.base_url or None)

    async def complete(self, body: dict[str, Any], model: str) -> dict[str, Any]:
        return await self.client.chat(body, model)

    @asynccontextmanager
    async def stream(self, body: dict[str, Any], model: str) -> AsyncIterator[AsyncIterator[StreamEvent]]:
        async with self.client.stream_chat(body, model) as chunks:

            async def events() -> AsyncIterator[StreamEvent]:
                async for chunk in chunks:
                    yield StreamEvent(chunks=[chunk])

            yield events()

    async def complete_native(self, body: dict[str, Any], model: str) -> tuple[dict[str, Any], dict[str, Any]]:
        raise NotImplementedError("no client speaks Bedrock's own format to the gateway")

    def stream_native(self, body: dict[str, Any], model: str) -> Any:
        raise NotImplementedError("no client speaks Bedrock's own format to the gateway")
