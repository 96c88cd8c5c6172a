"""What a deployed function reads from its environment, as CloudFormation sets it from template.yaml."""

from __future__ import annotations

import json
from typing import Any

import pytest

from gateway.catalog.registry import load_catalog
from gateway.config import DEFAULT_CATALOG, get_settings
from gateway.providers.credentials import endpoint_for
from tests.infrastructure.tooling import function_environment


def test_chat_with_a_provider_secret_and_bedrock_enabled_calls_both(
    secrets_manager: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Given a stack deployed with ProviderSecretArn (API keys) and BedrockEnabled=true in eu-west-1
    When the chat function resolves its providers from the environment CloudFormation gave it
    Then Bedrock is configured in the stack's region (BEDROCK_REGION, set by the template) and the
    secret's providers too: the secret overlays the environment, it does not replace it."""
    secret = secrets_manager.create_secret(
        Name="ai-gateway/first-deploy", SecretString=json.dumps({"OPENAI_API_KEY": "sk-from-secret"})
    )
    env = function_environment(
        "ChatFunction", {"ProviderSecretArn": secret["ARN"], "BedrockEnabled": "true", "AWS::Region": "eu-west-1"}
    )
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    get_settings.cache_clear()
    providers = load_catalog(DEFAULT_CATALOG).providers

    try:
        bedrock, openai = endpoint_for(providers["bedrock"]), endpoint_for(providers["openai"])
    finally:
        get_settings.cache_clear()

    assert env["PROVIDER_SECRET_ARN"] == secret["ARN"]
    assert bedrock is not None, "BedrockEnabled=true but the chat function sees no Bedrock region"
    assert bedrock.region == "eu-west-1"
    assert openai is not None
    assert openai.api_key == "sk-from-secret"
    assert function_environment("ChatFunction", {"AWS::Region": "eu-west-1"})["BEDROCK_REGION"] == ""  # the default


def test_every_function_reads_the_runtime_catalog_and_looks_for_channel_keys_where_it_may_read_them() -> None:
    """Given the functions' IAM lets them read channel secrets under ai-gateway/<Stage>/channels/
    When CloudFormation sets their environment
    Then they serve the catalog from the table, look for channel keys under that same prefix, and know
    the KMS key of customers' own provider keys."""
    for function in ("ChatFunction", "KeysFunction", "AdminFunction", "ImagesWorkerFunction"):
        env = function_environment(function, {"Stage": "prod"})
        assert env["RUNTIME_CATALOG"] == "true"
        assert env["CHANNEL_SECRET_PREFIX"] == "ai-gateway/prod/channels/"
        assert env["BYOK_KMS_KEY_ID"] == "ProviderKeysKey"
