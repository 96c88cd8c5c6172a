"""Provider kinds (the catalog's `kind`) and their clients: the one place that knows which client
serves which kind. Clients are imported on first use, so a function imports only those it calls."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from gateway.providers.capabilities import Capability, NativeChat
from gateway.providers.credentials import Endpoint

C = TypeVar("C")


def _openai() -> type:
    from gateway.providers.openai.client import OpenAIClient

    return OpenAIClient


def _anthropic() -> type:
    from gateway.providers.anthropic.client import AnthropicClient

    return AnthropicClient


def _gemini() -> type:
    from gateway.providers.gemini.client import GeminiClient

    return GeminiClient


def _bedrock() -> type:
    from gateway.providers.bedrock.client import BedrockClient

    return BedrockClient


KINDS: dict[str, Callable[[], type]] = {
    "openai": _openai,  # OpenAI and every OpenAI-compatible server (DeepSeek, vLLM, Ollama, ...)
    "anthropic": _anthropic,
    "gemini": _gemini,
    "bedrock": _bedrock,
}


def _openai_responses() -> type:
    from gateway.providers.openai.client import OpenAIResponsesClient

    return OpenAIResponsesClient


def _openai_completions() -> type:
    from gateway.providers.openai.client import OpenAITextCompletionsClient

    return OpenAITextCompletionsClient


# Inbound formats a kind's upstream also speaks besides its chat format, each with a client of its own
OTHER_NATIVE_FORMATS: dict[tuple[str, str], Callable[[], type]] = {
    ("openai", "responses"): _openai_responses,
    ("openai", "completions"): _openai_completions,
}


def client_class(kind: str) -> type:
    loader = KINDS.get(kind)
    if loader is None:
        raise ValueError(f"unknown provider kind {kind!r}")
    return loader()


def serves(kind: str, capability: Capability[Any]) -> bool:
    return issubclass(client_class(kind), capability.protocol)


def client(kind: str, endpoint: Endpoint, capability: Capability[C]) -> C:
    """The client of `kind` for this endpoint, as the capability asked for."""
    return capability.of(client_class(kind)(endpoint))


def native_client(
    kind: str, endpoint: Endpoint, inbound_format: str, speaks: tuple[str, ...] | None = None
) -> NativeChat | None:
    """The client of `kind` when its upstream speaks `inbound_format` itself, else None. `speaks`: the
    formats besides chat this upstream speaks, when not all its kind does (ProviderConfig.native_formats)."""
    other = OTHER_NATIVE_FORMATS.get((kind, inbound_format))
    if other is not None and speaks is not None and inbound_format not in speaks:
        return None
    upstream = (other() if other is not None else client_class(kind))(endpoint)
    if isinstance(upstream, NativeChat) and upstream.native_format == inbound_format:
        return upstream
    return None
