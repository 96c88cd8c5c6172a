"""What a change to the runtime catalog must pass beyond each spec's schema: names that cannot break
out of a console snippet or a shell, channels that serve what their provider serves, and provider
settings that keep the platform's secrets at home. Every way of changing the catalog (its routes, an
import) runs them on what it changed (services/catalog_admin.change)."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from gateway.catalog.registry import ModelEntry, ProviderConfig, load_catalog
from gateway.catalog.runtime import Channel
from gateway.config import get_settings
from gateway.errors import InvalidRequest, ServiceUnavailable
from gateway.observability import logger
from gateway.storage import vault
from gateway.storage.control import Kind, Spec

M = TypeVar("M", bound=BaseModel)
SECTIONS: dict[Kind, str] = {
    "MODEL": "models",
    "PROVIDER": "providers",
    "CHANNEL": "channels",
    "GROUP": "groups",
    "SETTINGS": "settings",
    "DEFAULTS": "defaults",
}
SPEC_BYTES = 100_000  # a spec's JSON, the bulk of its item (DynamoDB's hold at most 400 KB)
PROVIDER_NAME = re.compile(r"^[a-z0-9][a-z0-9._-]{0,63}$")
# What a model's id and aliases may hold: every vendor's ids fit (`us.anthropic...:0`, `models/...`),
# and none can break out of the string a console snippet or a shell command puts it in
MODEL_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:/@+-]{0,199}$")
# A provider secret's setting that a runtime provider may name (the shipped catalog's names aside)
PROVIDER_SETTING = re.compile(r"^(?!AWS_|LAMBDA_|_)[A-Z][A-Z0-9_]{0,127}$")


def parsed(model: type[M], data: Any, where: str) -> M:
    """`data` as `model`, or a 400 naming the first field that is wrong (its value never echoed)."""
    try:
        return model.model_validate(data)
    except ValidationError as error:
        first = error.errors()[0]
        location = ".".join(str(part) for part in (where, *first.get("loc", ())) if str(part))
        message = f"Invalid `{location or 'catalog'}`: {first.get('msg', 'invalid value')}."
        raise InvalidRequest(message, param=location or None) from None


def check_channel(channel: Channel, providers: Mapping[str, ProviderConfig], models: tuple[ModelEntry, ...]) -> None:
    from gateway.services.byok import OWN_KEY_KINDS

    config = providers.get(channel.provider)
    if config is None:
        raise InvalidRequest(f"Channel `{channel.id}`: no provider `{channel.provider}`.", param="provider")
    if config.kind not in OWN_KEY_KINDS:
        raise InvalidRequest(f"Channel `{channel.id}`: {config.kind} providers take no channels.", param="provider")
    served = {entry.id for entry in models if any(c.provider == channel.provider for c in entry.providers)}
    for name in (*channel.models, *channel.model_map):
        if name not in served:
            raise InvalidRequest(
                f"Channel `{channel.id}`: `{channel.provider}` does not serve `{name}`.", param="models"
            )


def check_change(spec: Spec, before: Spec | None) -> None:
    """What every way of changing the catalog (its routes, an import) checks of a new or changed spec,
    beyond its schema; a spec left as it was is not checked again, so an older catalog still loads."""
    where = f"{SECTIONS[spec.kind]}.{spec.name}"
    _check_size(spec.spec, where)
    if spec.kind == "MODEL":
        entry = parsed(ModelEntry, spec.spec, where)
        was = before.spec if before is not None else {}
        if (entry.id, list(entry.aliases)) != (was.get("id"), list(was.get("aliases") or ())):
            named_plainly(entry)
    elif spec.kind == "PROVIDER":
        if before is None and not PROVIDER_NAME.match(spec.name):
            raise InvalidRequest("A provider's name is 1 to 64 of a-z, 0-9, `.`, `_`, `-`.", param=where)
        _check_secrets_stay_home(spec.name, parsed(ProviderConfig, spec.spec, where))
    elif spec.kind == "CHANNEL":
        ref = spec.spec.get("secret_ref")
        if ref is not None and (before is None or before.spec.get("secret_ref") != ref):
            check_secret_ref(str(ref))


def _check_size(spec: dict[str, Any], where: str) -> None:
    """A spec is one table item (DynamoDB's are at most 400 KB): a bigger one is refused, naming its
    largest member, before anything is written."""
    size = len(_json(spec))
    if size > SPEC_BYTES:
        largest = max(spec, key=lambda name: len(_json(spec[name])), default="")
        param = f"{where}.{largest}" if largest else where
        raise InvalidRequest(
            f"`{where}` is {size:,} bytes as JSON, more than a catalog item holds ({SPEC_BYTES:,}); "
            f"`{largest or where}` is its largest part.",
            param=param,
        )


def _json(value: Any) -> bytes:
    return json.dumps(value, separators=(",", ":"), sort_keys=True).encode()


def check_secret_ref(ref: str) -> None:
    """Functions may read only secrets under the channel prefix: refuse one they could never read."""
    prefix = get_settings().channel_secret_prefix
    if not (ref.startswith(prefix) or f":secret:{prefix}" in ref):
        raise InvalidRequest(f"A channel's secret must be named under `{prefix}`.", param="secret_ref")


def check_secret_readable(ref: str) -> None:
    """A `secret_ref` an operator gives names a secret under the prefix that exists and is not
    scheduled for deletion (a deleted channel's, restorable for 7 days, reads as an error)."""
    check_secret_ref(ref)
    try:
        state = vault.secret_state(ref)
    except vault.VaultError as error:
        logger().warning("a channel's secret could not be looked up", extra={"why": str(error)})
        raise ServiceUnavailable("Secrets Manager could not be asked about the channel's secret; retry.") from None
    if state == "missing":
        raise InvalidRequest("No secret of that name exists; give `api_key`, or create it first.", param="secret_ref")
    if state == "deleted":
        raise InvalidRequest(
            "That secret is scheduled for deletion (a deleted channel's): restore it, or give `api_key`.",
            param="secret_ref",
        )


def _check_secrets_stay_home(name: str, config: ProviderConfig) -> None:
    """A provider's `*_env` names read the function's environment and the provider secret, which the
    deployer controls, not an operator key: a name the shipped catalog does not declare must look like
    a provider's setting (never one of AWS's or Lambda's own variables), and a key the shipped catalog
    declares goes only where the shipped catalog sends it (another endpoint takes a channel's key)."""
    shipped = load_catalog(get_settings().catalog_path).providers.values()
    declared = {value for config in shipped for value in (config.api_key_env, config.base_url_env, config.region_env)}
    for field_name in ("api_key_env", "base_url_env", "region_env"):
        value = getattr(config, field_name)
        if value is not None and value not in declared and not PROVIDER_SETTING.match(value):
            raise InvalidRequest(
                f"Provider `{name}`: `{field_name}` names a setting of the provider secret: A-Z, 0-9 and _, "
                "not starting with AWS_, LAMBDA_ or _.",
                param=f"providers.{name}.{field_name}",
            )
    homes = [(own.base_url_env, own.default_base_url) for own in shipped if own.api_key_env == config.api_key_env]
    if config.api_key_env is not None and homes and (config.base_url_env, config.default_base_url) not in homes:
        raise InvalidRequest(
            f"Provider `{name}`: `{config.api_key_env}` is a shipped provider's key and goes only to its base URL "
            "(the same `base_url_env` and `default_base_url`); another endpoint takes a channel with its own key.",
            param=f"providers.{name}.api_key_env",
        )


def named_plainly(entry: ModelEntry) -> ModelEntry:
    for index, name in enumerate((entry.id, *entry.aliases)):
        if not MODEL_NAME.match(name):
            raise InvalidRequest(
                "A model's id and aliases are letters, digits and . _ : / @ + - (up to 200, starting with a "
                "letter or digit).",
                param="id" if index == 0 else f"aliases[{index - 1}]",
            )
    return entry
