"""Prompt caching and long prompts, priced so the charge covers what the provider bills: each round
of a server tool held at the request's own context window (the long-context beta's), audio read from
Gemini's cache at its own price (else the audio price), an hour-long cache write at its price when
no 5-minute one is set."""

from __future__ import annotations

import base64
import math
from decimal import Decimal
from typing import Any

import httpx
import pytest

from tests.conftest import ledger_entry
from tests.integration.test_audio import silent_wav
from tests.support.control import AdminApi, eventually, operator, unique
from tests.support.scripted import SCRIPT, Behaviour

__all__ = ["operator"]

ANTHROPIC = "/v1/messages"


@pytest.fixture
def model(operator: AdminApi, upstream: Any) -> Any:
    created: list[str] = []

    def make(spec: dict[str, Any]) -> str:
        model_id = unique("ops/cache")
        operator.post("/models", {"id": model_id, "display_name": model_id, "owned_by": "ops", **spec})
        created.append(model_id)
        return model_id

    yield make
    for model_id in created:
        operator.call("DELETE", f"/models/{model_id}", expect=200)


def _post(url: str, key: str, path: str, body: dict[str, Any], headers: dict[str, str] | None = None) -> httpx.Response:
    return httpx.post(
        f"{url}{path}", json=body, headers={"Authorization": f"Bearer {key}", **(headers or {})}, timeout=30
    )


def test_web_fetch_under_the_1m_beta_is_held_for_the_extended_window(gateway_url, model, make_tenant):
    """A round of web fetch can read up to the context window the request has: under the long-context
    beta, extended_context_length."""
    tenant = make_tenant("10")
    model_id = model(
        {
            "capabilities": ["chat", "streaming", "tools"],
            "context_length": 1000,
            "extended_context_length": 20000,
            "max_output_tokens": 10,
            "pricing": {
                "input": "1",
                "output": "2",
                "web_fetch": "0",
                "tiers": [{"above_prompt_tokens": 1000, "input": "2", "output": "4"}],
            },
            "providers": [{"provider": "fake-anthropic", "model": "claude-echo"}],
        }
    )
    # Anthropic fetched a 15,000-token page (within the 20,000-token window the beta opened)
    wire = {"input_tokens": 15_000, "output_tokens": 3, "server_tool_use": {"web_fetch_requests": 1}}
    marker = SCRIPT.plan(Behaviour(tokens=3, wire_usage=tuple(wire.items())))
    body = {
        "model": model_id,
        "max_tokens": 10,
        "messages": [{"role": "user", "content": f"[[script:{marker}]] summarise https://example.com/big"}],
        "tools": [{"type": "web_fetch_20250910", "name": "web_fetch", "max_uses": 1}],
    }
    beta = {"anthropic-beta": "context-1m-2025-08-07,web-fetch-2025-09-10"}
    response = eventually(lambda: (r := _post(gateway_url, tenant.key, ANTHROPIC, body, beta)).status_code != 404 and r)
    assert response.status_code == 200, response.text
    entry = ledger_entry(response.headers["x-trace-id"])
    assert entry is not None
    billed = 15_000 * 2 + 3 * 4  # what Anthropic bills, at the long tier
    assert entry["credits"] >= billed, f"charged {entry['credits']} (hold {entry['reserved']}) for {billed} billed"


def _gemini_audio_prompt(gateway_url: str, key: str, model_id: str, audio: int, cached: int, cached_audio: int) -> Any:
    """An audio prompt sent twice, read from Gemini's implicit cache: 100,000 prompt tokens, `audio`
    of them audio, `cached` from the cache, of which `cached_audio` audio (cacheTokensDetails)."""
    wire = {
        "promptTokenCount": 100_000,
        "cachedContentTokenCount": cached,
        "candidatesTokenCount": 3,
        "totalTokenCount": 100_003,
        "promptTokensDetails": [
            {"modality": "AUDIO", "tokenCount": audio},
            {"modality": "TEXT", "tokenCount": 100_000 - audio},
        ],
        "cacheTokensDetails": [
            {"modality": "AUDIO", "tokenCount": cached_audio},
            {"modality": "TEXT", "tokenCount": cached - cached_audio},
        ],
    }
    marker = SCRIPT.plan(Behaviour(tokens=3, wire_usage=tuple(wire.items())))
    body = {
        "contents": [
            {
                "role": "user",
                "parts": [
                    {"inlineData": {"mimeType": "audio/wav", "data": base64.b64encode(silent_wav(0.1)).decode()}},
                    {"text": f"[[script:{marker}]] transcribe"},
                ],
            }
        ],
        "generationConfig": {"maxOutputTokens": 10},
    }
    path = f"/v1beta/models/{model_id}:generateContent"
    response = eventually(lambda: (r := _post(gateway_url, key, path, body)).status_code != 404 and r)
    assert response.status_code == 200, response.text
    entry = ledger_entry(response.headers["x-trace-id"])
    assert entry is not None
    return entry


FLASH_PRICES = {"input": "0.30", "output": "2.50", "cached_input": "0.075", "audio_input": "1.00"}


def test_gemini_audio_read_from_its_cache_is_not_charged_as_cached_text(gateway_url, model, make_tenant):
    """Gemini 2.5 Flash's prices (input 0.30, audio 1.00, cached 0.075): Google bills cached audio above
    its cached text price; without a cached audio price, it pays the audio price."""
    tenant = make_tenant("10")
    model_id = model(
        {
            "capabilities": ["chat", "streaming"],
            "context_length": 200000,
            "max_output_tokens": 10,
            "pricing": FLASH_PRICES,
            "providers": [{"provider": "fake-gemini", "model": "gemini-echo"}],
        }
    )
    entry = _gemini_audio_prompt(gateway_url, tenant.key, model_id, audio=100_000, cached=90_000, cached_audio=90_000)
    google = Decimal(90_000) * Decimal("0.25") + Decimal(10_000) * Decimal("1.00") + 3 * Decimal("2.50")
    assert entry["credits"] >= google, f"charged {entry['credits']} micro-credits; Google bills {google}"
    assert entry["credits"] == 100_000 * 1 + math.ceil(3 * Decimal("2.50"))


def test_gemini_cached_audio_pays_the_cached_audio_price(gateway_url, model, make_tenant):
    """With `cached_audio_input` (Gemini 2.5 Flash: 0.25), the audio Gemini reports read from its cache
    pays that, and the charge is Google's bill: 50,000 audio tokens, 60,000 read from the cache of which
    40,000 audio; so 20,000 cached text, 10,000 fresh audio, 30,000 fresh text."""
    tenant = make_tenant("10")
    model_id = model(
        {
            "capabilities": ["chat", "streaming"],
            "context_length": 200000,
            "max_output_tokens": 10,
            "pricing": {**FLASH_PRICES, "cached_audio_input": "0.25"},
            "providers": [{"provider": "fake-gemini", "model": "gemini-echo"}],
        }
    )
    entry = _gemini_audio_prompt(gateway_url, tenant.key, model_id, audio=50_000, cached=60_000, cached_audio=40_000)
    google = sum(
        count * Decimal(price)
        for count, price in ((20_000, "0.075"), (40_000, "0.25"), (10_000, "1.00"), (30_000, "0.30"), (3, "2.50"))
    )
    assert entry["credits"] == math.ceil(google), f"charged {entry['credits']} micro-credits; Google bills {google}"


def test_a_1h_cache_write_price_without_a_5m_one_is_charged():
    """`cache_write_1h_input` set (2x input), `cache_write_input` left to its default (input)."""
    from gateway.catalog.registry import Pricing

    pricing = Pricing(input=Decimal(3), output=Decimal(15), cache_write_1h_input=Decimal(6))
    cost = pricing.cost(1_000, 0, cached_tokens=0, cache_written=1_000, cache_written_1h=1_000)
    assert pricing.cost_bound(1_000, 0) == 6_000  # the hold counts the 1h price
    assert cost == 6_000, f"1,000 tokens written for an hour charged {cost}, not 1,000 x 6"
