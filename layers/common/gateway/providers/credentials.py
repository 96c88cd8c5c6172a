"""Where each provider instance is and how to authenticate to it.

In AWS the values come from one Secrets Manager secret (a JSON object), read through Powertools
Parameters with caching; locally, from the environment. Keys are the catalog's `*_env` names.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

from gateway.catalog.registry import ProviderConfig
from gateway.config import get_settings


@dataclass(frozen=True)
class Endpoint:
    base_url: str
    api_key: str | None

    def __repr__(self) -> str:  # never print the credential
        return f"Endpoint(base_url={self.base_url!r})"


def endpoint_for(config: ProviderConfig) -> Endpoint | None:
    """The configured endpoint, or None when neither a key nor a base URL is set for it."""
    values = _values()
    api_key = values.get(config.api_key_env) or None
    base_url = values.get(config.base_url_env) or None
    if api_key is None and base_url is None:
        return None
    return Endpoint(base_url=(base_url or config.default_base_url).rstrip("/"), api_key=api_key)


def _values() -> Mapping[str, str]:
    settings = get_settings()
    if not settings.provider_secret_arn:
        return os.environ
    from aws_lambda_powertools.utilities import parameters

    secret = parameters.get_secret(
        settings.provider_secret_arn, transform="json", max_age=settings.provider_secret_max_age
    )
    return {str(name): str(value) for name, value in dict(secret).items()}
