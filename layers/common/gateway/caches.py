"""What a warm process keeps between requests, and `reset()` to forget all of it: for tests that change
the environment, and anything else that must start as a cold process would."""

from __future__ import annotations


def reset() -> None:
    """Settings, the catalog, the AWS clients, the stores, the key cache (and what was seen of keys'
    limits), the sign-in keys, provider health, and the control plane's caches (the live catalog,
    account profiles, own keys, channel secrets and caps)."""
    from gateway.auth import authenticate, cognito
    from gateway.billing import limit_headroom
    from gateway.catalog import live
    from gateway.catalog.registry import load_catalog
    from gateway.config import get_settings
    from gateway.providers import capacity, health
    from gateway.providers.bedrock.client import forget_runtime_clients
    from gateway.services import byok, profiles
    from gateway.storage import dynamo, objects, stores, vault

    get_settings.cache_clear()
    load_catalog.cache_clear()
    dynamo.client.cache_clear()
    dynamo.boto3_client.cache_clear()
    objects.s3.cache_clear()
    objects.sqs.cache_clear()
    stores.reset()
    authenticate.forget_all()
    limit_headroom.forget_all()
    cognito.forget_keys()
    health.reset()
    forget_runtime_clients()
    live.reset()
    vault.kms.cache_clear()
    vault.secrets_manager.cache_clear()
    vault.channel_secrets.clear()
    capacity.reset()
    profiles.reset()
    byok.reset()
