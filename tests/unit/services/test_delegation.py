"""What an inference key may create (gateway.services.delegation.within), and how a created key's
record applies (gateway.auth.delegation.bound_by): never beyond its creator."""

from __future__ import annotations

from dataclasses import replace

import pytest

from gateway.auth.authenticate import Principal
from gateway.auth.delegation import bound_by
from gateway.errors import Forbidden, InvalidRequest
from gateway.formats.keys import KeyCreate
from gateway.services import delegation
from gateway.storage.api_keys import ApiKeyRecord

CREATOR = ApiKeyRecord(
    key_hash="a" * 64,
    key_prefix="sk-gw-abcd...",
    account_id="acct_1",
    name="mine",
    kind="inference",
    disabled=False,
    created_at="2026-01-01T00:00:00Z",
    limit=5_000_000,
    limit_reset="monthly",
    rate_limit=10,
    allowed_models=("gpt-4o",),
    allowed_providers=("openai",),
    expires_at=4_000_000_000,
)


@pytest.fixture(autouse=True)
def few_keys(monkeypatch):  # type: ignore[no-untyped-def]
    """The creator has created nothing yet; model names resolve in the shipped catalog."""
    from gateway.catalog import registry
    from gateway.config import DEFAULT_CATALOG

    monkeypatch.setattr(delegation, "visible_keys", lambda principal: [principal.key])
    monkeypatch.setattr(registry, "get_catalog", lambda: registry.load_catalog(DEFAULT_CATALOG))


def within(creator: ApiKeyRecord = CREATOR, **asked: object) -> dict[str, object]:
    spec = KeyCreate.model_validate({"name": "child", **asked})
    return delegation.within(Principal(creator), spec, {}).changes()


def test_an_unset_field_inherits_the_creators_value() -> None:
    assert within() == {
        "name": "child",
        "limit": 5_000_000,
        "limit_reset": "monthly",
        "rate_limit": 10,
        "allowed_models": ("gpt-4o",),
        "allowed_providers": ("openai",),
        "expires_at": 4_000_000_000,
    }


def test_asking_for_no_limit_under_a_limited_creator_gets_its_limit() -> None:
    assert within(limit=None, rate_limit=None)["limit"] == 5_000_000


def test_narrower_fields_are_kept() -> None:
    changes = within(limit="1.5", limit_reset="daily", rate_limit=3, allowed_models=["openai/gpt-4o"])
    assert (changes["limit"], changes["limit_reset"], changes["rate_limit"]) == (1_500_000, "daily", 3)
    assert changes["allowed_models"] == ("openai/gpt-4o",)  # the same model by its id


@pytest.mark.parametrize(
    ("asked", "param"),
    [
        ({"limit": "5.000001"}, "limit"),
        ({"rate_limit": 11}, "rate_limit"),
        ({"allowed_models": ["gpt-4o", "gpt-4o-mini"]}, "allowed_models"),
        ({"allowed_providers": ["anthropic"]}, "allowed_providers"),
        ({"expires_at": "2100-01-01T00:00:00Z"}, "expires_at"),
    ],
)
def test_a_wider_field_is_a_400_naming_it(asked: dict[str, object], param: str) -> None:
    with pytest.raises(InvalidRequest) as refused:
        within(**asked)
    assert refused.value.param == param


def test_an_unlimited_creator_may_create_an_unlimited_key() -> None:
    free = replace(CREATOR, limit=None, rate_limit=None, allowed_models=None, allowed_providers=None, expires_at=None)
    assert within(free) == {"name": "child"}


def test_no_management_key_and_no_grandchildren() -> None:
    with pytest.raises(Forbidden):
        within(kind="management")
    with pytest.raises(Forbidden):
        within(replace(CREATOR, parent="b" * 64))


def test_a_created_key_applies_within_its_creator_whatever_its_own_record_says() -> None:
    child = replace(
        CREATOR,
        key_hash="c" * 64,
        parent=CREATOR.key_hash,
        allowed_models=("gpt-4o", "openai/gpt-4o-mini"),
        allowed_providers=None,
        expires_at=None,
        limit=None,
    )
    applied = bound_by(child, CREATOR)
    assert applied.allowed_models == ("gpt-4o",)
    assert applied.allowed_providers == ("openai",)
    assert applied.expires_at == CREATOR.expires_at
    assert (applied.limit, applied.version, applied.key_hash) == (None, child.version, child.key_hash)
