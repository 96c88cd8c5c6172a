"""Each endpoint serves the models of its own category and methods: a model priced in its own units
(an image model, per image) is refused by every chat format before any provider is asked, and a
Gemini method the gateway does not serve is Google's 404, whatever its body."""

from __future__ import annotations

import httpx
import pytest

from tests.conftest import balance_of

GRANT = 10_000_000
ESSAY = [{"role": "user", "content": "write me a long essay about herons"}]
GEMINI_ESSAY = {"contents": [{"role": "user", "parts": [{"text": "write me a long essay about herons"}]}]}

CHAT_ON_AN_IMAGE_MODEL = {
    "openai": ("/v1/chat/completions", "authorization", {"model": "test/image-gemini", "messages": ESSAY}),
    "credits-platform": (
        "/api/v1/chat/completions",
        "authorization",
        {"model": "test/image-gemini", "messages": ESSAY},
    ),
    "anthropic": ("/v1/messages", "x-api-key", {"model": "test/image-gemini", "max_tokens": 100, "messages": ESSAY}),
    "responses": ("/v1/responses", "authorization", {"model": "test/image-gemini", "input": "herons"}),
    "gemini": ("/v1beta/models/test/image-gemini:generateContent", "x-goog-api-key", GEMINI_ESSAY),
}


@pytest.mark.parametrize("case", list(CHAT_ON_AN_IMAGE_MODEL))
def test_chat_on_an_image_model_is_refused_before_its_provider_is_asked(
    gateway_url, upstream, fake_servers, make_tenant, case
):
    """Gemini's image models answer generateContent; priced only per image, they would serve a chat
    for nothing while the operator paid Google for it."""
    tenant = make_tenant("10")
    path, header, body = CHAT_ON_AN_IMAGE_MODEL[case]
    value = f"Bearer {tenant.key}" if header == "authorization" else tenant.key
    asked_before = len(fake_servers["gemini"].requests)
    response = httpx.post(f"{gateway_url}{path}", json=body, headers={header: value}, timeout=20)
    assert response.status_code == 400, response.text
    assert len(fake_servers["gemini"].requests) == asked_before
    assert balance_of(tenant.account_id) == GRANT


@pytest.mark.parametrize(
    ("method", "body"),
    [
        ("embedContent", {"content": {"parts": [{"text": "hello"}]}}),
        ("batchEmbedContents", {"requests": [{"model": "models/test/embed", "content": {"parts": [{"text": "hi"}]}}]}),
    ],
)
def test_a_gemini_method_not_served_is_a_404_whatever_its_body(gateway_url, make_tenant, method, body):
    """Not a 400 asking for `contents`, which an embedding request never has."""
    tenant = make_tenant("1")
    response = httpx.post(
        f"{gateway_url}/v1beta/models/test/embed:{method}", json=body, headers={"x-goog-api-key": tenant.key}
    )
    assert response.status_code == 404, response.text
    assert response.json()["error"]["status"] == "NOT_FOUND"


@pytest.mark.parametrize("token", ["²", "①", "-1"])
def test_a_gemini_model_list_page_token_it_did_not_give_is_a_400(gateway_url, make_tenant, token):
    """Unicode digits pass str.isdigit() but not int(): Google's 400, not a 500."""
    tenant = make_tenant("1")
    response = httpx.get(
        f"{gateway_url}/v1beta/models", params={"pageToken": token}, headers={"x-goog-api-key": tenant.key}
    )
    assert response.status_code == 400, response.text
    assert response.json()["error"]["status"] == "INVALID_ARGUMENT"
