"""One interface over every upstream kind, in the gateway's canonical (OpenAI chat) format, plus a
native pass-through for upstreams that speak the client's own format."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from typing import Any, Protocol


@dataclass(frozen=True)
class StreamEvent:
    """One upstream stream event: its bytes as the upstream sent them (for pass-through), and the
    same event as canonical OpenAI chunks (for metering and for translation)."""

    chunks: list[dict[str, Any]] = field(default_factory=list)
    raw: bytes | None = None


class ProviderClient(Protocol):
    kind: str

    async def complete(self, body: dict[str, Any], model: str) -> dict[str, Any]:
        """A canonical request in, a canonical chat.completion out."""

    def stream(self, body: dict[str, Any], model: str) -> AbstractAsyncContextManager[AsyncIterator[StreamEvent]]:
        """Opens the stream (raising before any event if the upstream refuses); yields its events."""

    async def complete_native(self, body: dict[str, Any], model: str) -> tuple[dict[str, Any], dict[str, Any]]:
        """A request in the upstream's own format: (its response as is, the same as canonical)."""

    def stream_native(
        self, body: dict[str, Any], model: str
    ) -> AbstractAsyncContextManager[AsyncIterator[StreamEvent]]:
        """Like stream, for a request in the upstream's own format; events carry their raw bytes."""


def client_for(kind: str, endpoint: Any, native_headers: dict[str, str] | None = None) -> ProviderClient:
    """The client of an upstream kind; `native_headers` go with the request when the upstream speaks
    the client's own format (only Anthropic has any: `anthropic-beta`)."""
    if kind == "openai":
        from gateway.providers.openai.client import OpenAICompatibleClient

        return OpenAICompatibleClient(endpoint)
    if kind == "anthropic":
        from gateway.providers.anthropic.client import AnthropicClient

        return AnthropicClient(endpoint, native_headers or {})
    if kind == "gemini":
        from gateway.providers.gemini.client import GeminiClient

        return GeminiClient(endpoint)
    if kind == "bedrock":
        from gateway.providers.bedrock.adapter import BedrockAdapter

        return BedrockAdapter(endpoint)
    raise ValueError(f"unknown provider kind {kind!r}")
