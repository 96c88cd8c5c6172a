"""Every provider kind: the same files, network code in its client only, a client that has the
capabilities it is routed for (their methods as the Protocols name them), and a shipped catalog in
which every model has a provider that can serve its endpoint."""

from __future__ import annotations

import ast
import inspect
from pathlib import Path
from typing import Any

import pytest

from gateway.catalog.registry import load_catalog
from gateway.config import DEFAULT_CATALOG
from gateway.providers import registry
from gateway.providers.capabilities import (
    CHAT,
    EMBEDDINGS,
    IMAGE_GENERATION,
    SPEECH,
    TEXT_COMPLETIONS,
    TOKEN_COUNTING,
    TRANSCRIPTION,
    Capability,
    NativeChat,
)
from gateway.providers.credentials import Endpoint

PROVIDERS = Path(registry.__file__).parent
FILES = {"__init__.py", "client.py", "request.py", "response.py"}
NETWORK = ("aiohttp", "boto3", "botocore", "anyio", "gateway.providers.http", "gateway.providers.sse")
ALL = (CHAT, EMBEDDINGS, IMAGE_GENERATION, SPEECH, TRANSCRIPTION, TEXT_COMPLETIONS, TOKEN_COUNTING)
SERVES: dict[str, set[Capability[Any]]] = {
    "openai": {CHAT, EMBEDDINGS, IMAGE_GENERATION, SPEECH, TRANSCRIPTION, TEXT_COMPLETIONS},
    "anthropic": {CHAT, TOKEN_COUNTING},
    "gemini": {CHAT, IMAGE_GENERATION, TOKEN_COUNTING},
    "bedrock": {CHAT},
}
# The inbound formats each kind's upstream speaks itself (their requests pass through)
SPEAKS: dict[str, set[str]] = {
    "openai": {"openai", "responses", "completions"},
    "anthropic": {"anthropic"},
    "gemini": {"gemini"},
    "bedrock": set(),
}
FORMATS = {"openai", "responses", "completions", "anthropic", "gemini"}
CATEGORY_NEEDS = {
    "chat": CHAT,
    "embedding": EMBEDDINGS,
    "image": IMAGE_GENERATION,
    "speech": SPEECH,
    "transcription": TRANSCRIPTION,
}


def test_the_registry_knows_the_catalogs_kinds() -> None:
    assert set(registry.KINDS) == set(SERVES) == set(SPEAKS)


@pytest.mark.parametrize("kind", sorted(SERVES))
def test_every_provider_package_has_the_same_files(kind: str) -> None:
    assert {path.name for path in (PROVIDERS / kind).glob("*.py")} == FILES


@pytest.mark.parametrize("kind", sorted(SERVES))
@pytest.mark.parametrize("name", ["request.py", "response.py"])
def test_translation_is_pure(kind: str, name: str) -> None:
    tree = ast.parse((PROVIDERS / kind / name).read_text(encoding="utf-8"))
    imported = {alias.name for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names} | {
        node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom) and node.module
    }
    assert not {module for module in imported if module.startswith(NETWORK)}


@pytest.mark.parametrize("kind", sorted(SERVES))
def test_each_kind_serves_what_its_upstream_can(kind: str) -> None:
    assert {capability for capability in ALL if registry.serves(kind, capability)} == SERVES[kind]


@pytest.mark.parametrize("kind", sorted(SERVES))
def test_the_native_formats_of_each_kind(kind: str) -> None:
    endpoint = Endpoint("http://127.0.0.1:9", "key", region="us-east-1")
    for inbound in FORMATS:
        native = registry.native_client(kind, endpoint, inbound)
        assert (native is not None) == (inbound in SPEAKS[kind]), inbound
        assert native is None or native.native_format == inbound


@pytest.mark.parametrize("kind", sorted(SERVES))
def test_a_client_has_the_methods_of_its_capabilities_as_the_protocols_name_them(kind: str) -> None:
    client = registry.client_class(kind)
    protocols = [capability.protocol for capability in SERVES[kind]]
    protocols += [NativeChat] if SPEAKS[kind] else []
    for protocol in protocols:
        for name, declared in inspect.getmembers(protocol, inspect.isfunction):
            if name.startswith("_"):
                continue
            implemented = getattr(client, name)
            assert list(inspect.signature(implemented).parameters) == list(inspect.signature(declared).parameters), (
                f"{client.__name__}.{name}"
            )
            assert inspect.iscoroutinefunction(implemented) == inspect.iscoroutinefunction(declared)


def test_a_client_is_given_as_the_capability_asked_for() -> None:
    endpoint = Endpoint("http://127.0.0.1:9", "key")
    assert registry.client("openai", endpoint, EMBEDDINGS).endpoint is endpoint
    with pytest.raises(TypeError):
        registry.client("anthropic", endpoint, EMBEDDINGS)
    with pytest.raises(ValueError, match="unknown provider kind"):
        registry.client_class("carrier-pigeon")


def test_every_shipped_model_has_a_provider_that_serves_its_endpoint() -> None:
    catalog = load_catalog(DEFAULT_CATALOG)
    unserved = [
        entry.id
        for entry in catalog.models
        if not any(
            registry.serves(catalog.providers[choice.provider].kind, CATEGORY_NEEDS[entry.category])
            for choice in entry.providers
        )
    ]
    assert unserved == []
