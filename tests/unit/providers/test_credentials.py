"""Provider credentials: from one Secrets Manager secret in AWS, from the environment locally."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from gateway.catalog.registry import ProviderConfig
from gateway.config import get_settings
from gateway.providers import credentials

OPENAI = ProviderConfig(
    kind="openai", api_key_env="OPENAI_API_KEY", base_url_env="OPENAI_BASE_URL", default_base_url="https://api/v1"
)
BEDROCK = ProviderConfig(kind="bedrock", region_env="BEDROCK_REGION", base_url_env="BEDROCK_ENDPOINT_URL")


@pytest.fixture(autouse=True)
def clean_settings(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for name in ("OPENAI_API_KEY", "OPENAI_BASE_URL", "PROVIDER_SECRET_ARN", "BEDROCK_REGION", "BEDROCK_ENDPOINT_URL"):
        monkeypatch.delenv(name, raising=False)
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


def test_locally_the_environment_configures_a_provider(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-local")
    endpoint = credentials.endpoint_for(OPENAI)
    assert endpoint is not None
    assert (endpoint.base_url, endpoint.api_key) == ("https://api/v1", "sk-local")
    assert "sk-local" not in repr(endpoint)


def test_a_base_url_alone_configures_a_keyless_server(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_BASE_URL", "http://127.0.0.1:11434/v1/")
    endpoint = credentials.endpoint_for(OPENAI)
    assert endpoint is not None
    assert (endpoint.base_url, endpoint.api_key) == ("http://127.0.0.1:11434/v1", None)


def test_without_key_or_url_the_provider_is_not_configured() -> None:
    assert credentials.endpoint_for(OPENAI) is None


def test_in_aws_the_secret_configures_providers_and_wins_over_the_environment(
    monkeypatch: pytest.MonkeyPatch, secrets_manager: Any
) -> None:
    # Given the stack's secret holds the provider credentials (and a stray key is in the environment)
    monkeypatch.setenv("OPENAI_API_KEY", "sk-from-env-must-not-be-used")
    secret = secrets_manager.create_secret(
        Name="ai-gateway/providers",
        SecretString=json.dumps({"OPENAI_API_KEY": "sk-from-secret", "OPENAI_BASE_URL": "https://proxy.example/v1"}),
    )
    monkeypatch.setenv("PROVIDER_SECRET_ARN", secret["ARN"])
    get_settings.cache_clear()
    # When the provider's endpoint is resolved
    endpoint = credentials.endpoint_for(OPENAI)
    # Then it comes from the secret
    assert endpoint is not None
    assert (endpoint.base_url, endpoint.api_key) == ("https://proxy.example/v1", "sk-from-secret")


def test_with_a_secret_the_environment_still_configures_what_the_secret_does_not_name(
    monkeypatch: pytest.MonkeyPatch, secrets_manager: Any
) -> None:
    # Given the template sets BEDROCK_REGION in the function's environment and the secret holds API keys
    monkeypatch.setenv("BEDROCK_REGION", "eu-central-1")
    secret = secrets_manager.create_secret(Name="ai-gateway/keys-only", SecretString='{"OPENAI_API_KEY": "sk-1"}')
    monkeypatch.setenv("PROVIDER_SECRET_ARN", secret["ARN"])
    get_settings.cache_clear()
    # When Bedrock's endpoint is resolved
    endpoint = credentials.endpoint_for(BEDROCK)
    # Then Bedrock is configured, in the environment's region, next to the secret's provider
    assert endpoint is not None
    assert (endpoint.region, endpoint.api_key) == ("eu-central-1", None)
    assert credentials.endpoint_for(OPENAI) is not None
