"""Routing on the test catalog: which providers a request may go to, in which order, for which
endpoint, and the API error when there is none."""

from __future__ import annotations

import pytest

from gateway.errors import InvalidRequest, ModelNotAllowed, ModelNotFound, NotFound, ProviderNotConfigured
from gateway.providers import health
from gateway.providers.capabilities import CHAT, EMBEDDINGS, IMAGE_GENERATION, SPEECH
from gateway.providers.openai.client import OpenAIClient
from gateway.services.routing import Preferences, parse_gemini_target, resolve_model, route_for
from tests.support.recording_stores import key_record

pytestmark = pytest.mark.usefixtures("fixture_catalog")


def providers(model: str, preferences: Preferences | None = None, **key: object) -> list[str]:
    route = route_for(model, key_record(**key), CHAT, preferences)
    return [candidate.provider for candidate in route.candidates]


def test_a_model_is_found_by_id_or_alias_and_its_providers_come_in_catalog_order() -> None:
    assert resolve_model("echo").id == "test/echo"
    assert providers("test/multi") == ["fake", "fake-anthropic"]


@pytest.mark.parametrize("model", ["test/nope", "test/disabled"])
def test_an_unknown_or_disabled_model_is_404(model: str) -> None:
    with pytest.raises(ModelNotFound):
        route_for(model, key_record(), CHAT)


def test_the_body_preferences_order_narrow_and_pin() -> None:
    assert providers("test/multi", Preferences(order=("fake-anthropic",))) == ["fake-anthropic", "fake"]
    assert providers("test/multi", Preferences(only=("fake-anthropic",))) == ["fake-anthropic"]
    assert providers("test/multi", Preferences(ignore=("fake",))) == ["fake-anthropic"]
    assert providers("test/multi", Preferences(allow_fallbacks=False)) == ["fake"]
    assert providers("test/multi", Preferences.parse(None, "fake-anthropic")) == ["fake-anthropic"]


def test_a_preference_for_a_provider_that_does_not_serve_the_model_is_a_400() -> None:
    with pytest.raises(InvalidRequest) as raised:
        providers("test/echo", Preferences(order=("fake-anthropic",)))
    assert raised.value.param == "provider"


@pytest.mark.parametrize(
    ("body_field", "param"),
    [
        ("fake", "provider"),
        ({"order": "fake"}, "provider.order"),
        ({"only": [""]}, "provider.only"),
        ({"allow_fallbacks": "no"}, "provider.allow_fallbacks"),
        ({"data_collection": "deny"}, "provider"),
        ({"sort": "cheapest"}, "provider.sort"),
        ({"max_price": {"prompt": -1}}, "provider.max_price.prompt"),
        ({"max_price": {"prompt": True}}, "provider.max_price.prompt"),
        ({"max_price": {"prompt": float("nan")}}, "provider.max_price.prompt"),
        ({"max_price": {"tokens": 1}}, "provider.max_price"),
        ({"require_parameters": "yes"}, "provider.require_parameters"),
    ],
)
def test_malformed_preferences_are_a_400_naming_the_field(body_field: object, param: str) -> None:
    with pytest.raises(InvalidRequest) as raised:
        Preferences.parse(body_field, None)
    assert raised.value.param == param


def test_the_keys_allow_lists_apply() -> None:
    assert providers("test/multi", allowed_providers=("fake-anthropic",)) == ["fake-anthropic"]
    assert providers("test/echo", allowed_models=("echo",)) == ["fake"]  # by alias
    with pytest.raises(ModelNotAllowed) as refused:
        providers("test/echo", allowed_models=("test/multi",))
    assert refused.value.param == "model"
    with pytest.raises(ModelNotAllowed):
        providers("test/multi", Preferences(only=("fake",)), allowed_providers=("fake-anthropic",))


def test_a_model_whose_providers_are_all_unconfigured_is_503() -> None:
    with pytest.raises(ProviderNotConfigured):
        providers("test/unconfigured")


def test_only_providers_with_the_endpoints_capability_are_candidates() -> None:
    assert [c.provider for c in route_for("test/embed", key_record(), EMBEDDINGS).candidates] == ["fake"]
    assert [c.kind for c in route_for("test/image-gemini", key_record(), IMAGE_GENERATION).candidates] == ["gemini"]
    with pytest.raises(InvalidRequest) as raised:
        route_for("test/claude", key_record(), SPEECH)
    assert (raised.value.param, "serves speech" in raised.value.message) == ("model", True)


def test_a_provider_cooling_down_goes_last() -> None:
    health.reset()
    for _ in range(health.FAILURES_TO_COOL):
        health.failed("fake")
    try:
        assert providers("test/multi") == ["fake-anthropic", "fake"]
    finally:
        health.reset()


def test_a_candidate_gives_its_kinds_client_for_a_capability() -> None:
    (candidate,) = route_for("test/echo", key_record(), CHAT).candidates
    client = candidate.client(CHAT)
    assert isinstance(client, OpenAIClient)
    assert client.endpoint == candidate.endpoint


def test_gemini_paths_name_the_model_and_the_method() -> None:
    assert parse_gemini_target("gemini-2.5-flash:streamGenerateContent") == ("gemini-2.5-flash", True)
    assert parse_gemini_target("models/x:generateContent") == ("models/x", False)
    with pytest.raises(NotFound):
        parse_gemini_target("gemini-2.5-flash:countTokens")
