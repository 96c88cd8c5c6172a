"""Provider credentials: from one Secrets Manager secret in AWS, from the environment locally."""

from __future__ import annotations

import json
from collections.abc import Iterator

import boto3
import pytest
from moto import mock_aws

from gateway.catalog.registry import ProviderConfig
from gateway.config import get_settings
from gateway.providers import credentials

OPENAI = ProviderConfig(
    kind="openai", api_key_env="OPENAI_API_KEY", base_url_env="OPENAI_BASE_URL", default_base_url="https://api/v1"
)


@pytest.fixture(autouse=True)
def clean_settings(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for name in ("OPENAI_API_KEY", "OPENAI_BASE_URL", "PROVIDER_SECRET_ARN"):
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


@mock_aws
def test_in_aws_the_secret_configures_providers_and_the_environment_is_ignored(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Given the stack's secret holds the provider credentials (and a stray variable is in the environment)
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("OPENAI_API_KEY", "sk-from-env-must-not-be-used")
    secret = boto3.client("secretsmanager", region_name="us-east-1").create_secret(
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
