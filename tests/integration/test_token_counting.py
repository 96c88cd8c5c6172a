"""Token counting: Anthropic's `POST /v1/messages/count_tokens` and Gemini's `:countTokens`, through the
official SDKs, to an upstream of the same format (the request as sent) or of the other one (its
canonical form, counted that upstream's way). Free: nothing is charged, but the key is checked and its
rate limit counted as for inference, and each count leaves a trace."""

from __future__ import annotations

import anthropic
import httpx
import pytest
from google import genai
from google.genai import types

from tests.conftest import balance_of, ledger_entry
from tests.support.keys_api import KeysApi

GRANT = 10_000_000
PROMPT = "how many tokens is this"  # five words: five tokens to both fakes


def anthropic_sdk(url: str, key: str) -> anthropic.Anthropic:
    return anthropic.Anthropic(base_url=url, api_key=key, max_retries=0, timeout=20)


def gemini_sdk(url: str, key: str) -> genai.Client:
    return genai.Client(api_key=key, http_options=types.HttpOptions(base_url=url, api_version="v1beta"))


@pytest.mark.parametrize(("model", "upstream_path"), [("test/claude", "anthropic"), ("test/gemini", "gemini")])
def test_anthropic_count_tokens_is_free_and_traced(
    gateway_url, upstream, fake_servers, make_tenant, model, upstream_path
):
    # Given an account with 10 credits
    tenant = make_tenant("10")
    # When the anthropic SDK counts a prompt's tokens, for a Claude model or a Gemini one
    raw = anthropic_sdk(gateway_url, tenant.key).messages.with_raw_response.count_tokens(
        model=model, system="Be brief.", messages=[{"role": "user", "content": PROMPT}]
    )
    # Then the upstream counted it (Anthropic's count_tokens, or Gemini's countTokens)
    counted = raw.parse()
    assert counted.input_tokens == (7 if upstream_path == "anthropic" else 5)  # Gemini's fake counts contents only
    assert fake_servers[upstream_path].requests
    # And nothing was charged; the count left a trace
    assert balance_of(tenant.account_id) == GRANT
    entry = ledger_entry(raw.headers["x-trace-id"])
    assert entry is not None
    assert (entry["status"], entry["endpoint"], entry["credits"]) == ("success", "messages.count_tokens", 0)


def test_anthropic_count_tokens_passes_its_body_through_to_anthropic(gateway_url, upstream, fake_servers, make_tenant):
    tenant = make_tenant("10")
    body = {
        "model": "test/claude",
        "messages": [{"role": "user", "content": PROMPT}],
        "tools": [{"type": "web_search_20250305", "name": "web_search", "max_uses": 1}],
    }
    response = httpx.post(
        f"{gateway_url}/v1/messages/count_tokens", json=body, headers={"x-api-key": tenant.key}, timeout=20
    )
    assert response.status_code == 200, response.text
    assert fake_servers["anthropic"].requests[-1] == {**body, "model": "claude-echo"}


@pytest.mark.parametrize(("model", "expected"), [("test/gemini", 5), ("test/claude", 5)])
def test_gemini_count_tokens_is_free(gateway_url, upstream, fake_servers, make_tenant, model, expected):
    tenant = make_tenant("10")
    client = gemini_sdk(gateway_url, tenant.key)
    counted = client.models.count_tokens(model=model, contents=PROMPT)
    assert counted.total_tokens == expected
    assert balance_of(tenant.account_id) == GRANT


def test_count_tokens_is_rate_limited_like_inference(gateway_url, upstream, make_tenant):
    # Given a key allowed one request a minute
    owner = make_tenant("10", kind="management")
    limited = KeysApi(gateway_url, owner.key).create(name="slow", rate_limit=1)["key"]
    client = anthropic_sdk(gateway_url, limited)
    count = {"model": "test/claude", "messages": [{"role": "user", "content": PROMPT}]}
    # Then its first count is served and its second refused, in Anthropic's envelope
    client.messages.count_tokens(**count)  # type: ignore[arg-type]
    with pytest.raises(anthropic.RateLimitError) as caught:
        client.messages.count_tokens(**count)  # type: ignore[arg-type]
    assert caught.value.response.headers["retry-after"]


def test_counting_for_a_model_whose_upstream_cannot_count_is_a_400(gateway_url, upstream, make_tenant):
    tenant = make_tenant("10")
    with pytest.raises(anthropic.BadRequestError) as caught:
        anthropic_sdk(gateway_url, tenant.key).messages.count_tokens(
            model="test/echo", messages=[{"role": "user", "content": PROMPT}]
        )
    assert "token counting" in caught.value.message
    assert balance_of(tenant.account_id) == GRANT


def test_a_gemini_count_body_needs_contents_or_a_request(gateway_url, upstream, make_tenant):
    tenant = make_tenant("10")
    response = httpx.post(
        f"{gateway_url}/v1beta/models/test/gemini:countTokens", json={}, headers={"x-goog-api-key": tenant.key}
    )
    assert response.status_code == 400
    assert response.json()["error"]["status"] == "INVALID_ARGUMENT"
