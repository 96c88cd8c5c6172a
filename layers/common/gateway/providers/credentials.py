"""Where each provider instance is and how to authenticate to it.

Values are the catalog's `*_env` names, read from the environment; in AWS, one Secrets Manager secret
(a JSON object, read through Powertools Parameters with caching) overlays it: the template sets
BEDROCK_REGION in the environment, the secret holds the credentials, and wins where both name one.
"""

from __future__ import annotations

import os
from collections import ChainMap
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from gateway.config import get_settings

if TYPE_CHECKING:
    from gateway.catalog.registry import ProviderConfig


@dataclass(frozen=True)
class Endpoint:
    base_url: str  # for Bedrock: an endpoint override, usually empty
    api_key: str | None
    region: str | None = None  # Bedrock: the AWS region to call

    def __repr__(self) -> str:  # never print the credential
        return f"Endpoint(base_url={self.base_url!r}, region={self.region!r})"


def endpoint_for(config: ProviderConfig) -> Endpoint | None:
    """The configured endpoint, or None when neither a key nor a base URL is set for it (Bedrock:
    when no region is set for it; it authenticates with the function's IAM role)."""
    values = _values()
    if config.kind == "bedrock":
        region = values.get(config.region_env or "") or None
        if region is None:
            return None
        return Endpoint(base_url=values.get(config.base_url_env or "") or "", api_key=None, region=region)
    api_key = values.get(config.api_key_env or "") or None
    base_url = values.get(config.base_url_env or "") or None
    if api_key is None and base_url is None:
        return None
    return Endpoint(base_url=(base_url or config.default_base_url or "").rstrip("/"), api_key=api_key)


def _values() -> Mapping[str, str]:
    settings = get_settings()
    if not settings.provider_secret_arn:
        return os.environ
    from aws_lambda_powertools.utilities import parameters

    secret = parameters.get_secret(
        settings.provider_secret_arn, transform="json", max_age=settings.provider_secret_max_age
    )
    return ChainMap({str(name): str(value) for name, value in dict(secret).items()}, os.environ)
