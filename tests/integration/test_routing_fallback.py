"""Routing and fallback: a failing first provider hands over to the next before any byte reaches the
client, each attempt is recorded, only the answering one is charged; pins and preferences hold."""

from __future__ import annotations

import json

import httpx
import pytest

from gateway.providers import health
from tests.conftest import balance_of, ledger_entry
from tests.support.pricing import price_micro

GRANT = 10_000_000


def chat(
    url: str, key: str, model: str, *, stream: bool = False, headers: dict | None = None, **extra
) -> httpx.Response:  # type: ignore[no-untyped-def]
    return httpx.post(
        f"{url}/v1/chat/completions",
        json={"model": model, "messages": [{"role": "user", "content": "fall back please"}], "stream": stream, **extra},
        headers={"Authorization": f"Bearer {key}", **(headers or {})},
        timeout=30,
    )


@pytest.mark.parametrize(
    ("model", "first_status", "first_code"),
    [
        ("test/fallback-5xx", 502, "provider_error"),
        ("test/fallback-timeout", 504, "provider_timeout"),
        ("test/fallback-refused", 502, "provider_error"),
    ],
    ids=["503", "timeout", "connection-refused"],
)
@pytest.mark.parametrize("stream", [False, True], ids=["buffered", "stream"])
def test_the_second_provider_answers_and_only_it_is_charged(
    gateway_url, upstream, fake_servers, make_tenant, model, first_status, first_code, stream
):
    tenant = make_tenant("10")
    response = chat(gateway_url, tenant.key, model, stream=stream)
    assert response.status_code == 200, response.text
    if stream:
        chunks = [json.loads(line[6:]) for line in response.text.splitlines() if line.startswith("data: {")]
        text = "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks if c["choices"])
        assert text == "echo: fall back please"
        assert response.text.rstrip().endswith("data: [DONE]")
    else:
        assert response.json()["choices"][0]["message"]["content"] == "echo: fall back please"
    entry = ledger_entry(response.headers["x-trace-id"])
    assert entry is not None
    assert entry["provider"] == "fake-anthropic"
    first, second = entry["attempts"]
    assert (first["http_status"], first["error_code"]) == (first_status, first_code)
    assert (second["provider"], second["http_status"], second["error_code"]) == ("fake-anthropic", 200, None)
    assert entry["credits"] == price_micro(entry["prompt_tokens"], entry["completion_tokens"])
    assert balance_of(tenant.account_id) == GRANT - entry["credits"]
    assert len(fake_servers["anthropic"].requests) == 1


@pytest.mark.parametrize("stream", [False, True], ids=["buffered", "stream"])
def test_when_every_candidate_fails_the_client_gets_502_and_no_charge(gateway_url, upstream, make_tenant, stream):
    tenant = make_tenant("10")
    response = chat(gateway_url, tenant.key, "test/all-fail", stream=stream)
    assert response.status_code == 502
    assert response.json()["error"]["code"] == "provider_error"
    assert balance_of(tenant.account_id) == GRANT
    entry = ledger_entry(response.headers["x-trace-id"])
    assert entry is not None
    assert [a["provider"] for a in entry["attempts"]] == ["fake", "fake-anthropic"]
    assert entry["credits"] == 0


def test_the_vendor_header_pins_a_provider_without_fallback(gateway_url, upstream, fake_servers, make_tenant):
    tenant = make_tenant("10")
    pinned = chat(gateway_url, tenant.key, "test/multi", headers={"vendor": "fake-anthropic"})
    assert pinned.status_code == 200
    assert ledger_entry(pinned.headers["x-trace-id"])["provider"] == "fake-anthropic"  # type: ignore[index]
    no_fallback = chat(gateway_url, tenant.key, "test/fallback-5xx", headers={"vendor": "fake"})
    assert no_fallback.status_code == 502
    unknown = chat(gateway_url, tenant.key, "test/multi", headers={"vendor": "elsewhere"})
    assert unknown.status_code == 400
    assert unknown.json()["error"]["param"] == "provider"


@pytest.mark.parametrize("vendor", ["auto", "AUTO", "Auto"])
def test_vendor_auto_routes_automatically(gateway_url, upstream, make_tenant, vendor):
    """YouRouter documents `vendor: auto` as automatic routing, the same as no header: the catalog's
    order, with fallback."""
    tenant = make_tenant("10")
    routed = chat(gateway_url, tenant.key, "test/fallback-5xx", headers={"vendor": vendor})
    assert routed.status_code == 200, routed.text
    entry = ledger_entry(routed.headers["x-trace-id"])
    assert entry is not None
    assert [a["provider"] for a in entry["attempts"]] == ["fake", "fake-anthropic"]


def test_vendor_names_a_provider_by_its_alias(gateway_url, upstream, make_tenant):
    """`vendor: google` pins the provider whose alias is `google` (the shipped `gemini`), any case."""
    tenant = make_tenant("10")
    pinned = chat(gateway_url, tenant.key, "test/gemini", headers={"vendor": "Google"})
    assert pinned.status_code == 200, pinned.text
    assert ledger_entry(pinned.headers["x-trace-id"])["provider"] == "fake-gemini"  # type: ignore[index]
    by_alias = chat(gateway_url, tenant.key, "test/multi", headers={"vendor": "anthropic"})
    assert ledger_entry(by_alias.headers["x-trace-id"])["provider"] == "fake-anthropic"  # type: ignore[index]
    elsewhere = chat(gateway_url, tenant.key, "test/echo", headers={"vendor": "google"})
    assert elsewhere.status_code == 400
    assert "not served by `fake-gemini`" in elsewhere.json()["error"]["message"]


def test_provider_preferences_order_ignore_and_allow_fallbacks(gateway_url, upstream, make_tenant):
    tenant = make_tenant("10")
    ordered = chat(gateway_url, tenant.key, "test/multi", provider={"order": ["fake-anthropic", "fake"]})
    assert ledger_entry(ordered.headers["x-trace-id"])["provider"] == "fake-anthropic"  # type: ignore[index]
    ignored = chat(gateway_url, tenant.key, "test/multi", provider={"ignore": ["fake"]})
    assert ledger_entry(ignored.headers["x-trace-id"])["provider"] == "fake-anthropic"  # type: ignore[index]
    strict = chat(gateway_url, tenant.key, "test/fallback-5xx", provider={"allow_fallbacks": False})
    assert strict.status_code == 502
    bad = chat(gateway_url, tenant.key, "test/multi", provider={"order": "fake"})
    assert bad.status_code == 400
    assert bad.json()["error"]["param"] == "provider.order"
    # the preferences never reach the upstream
    assert all("provider" not in body for body in upstream.requests)


def test_a_provider_that_keeps_failing_is_tried_last_for_a_while(gateway_url, upstream, fake_upstream, make_tenant):
    tenant = make_tenant("10")
    for _ in range(health.FAILURES_TO_COOL):
        assert chat(gateway_url, tenant.key, "test/fallback-5xx").status_code == 200
    assert health.cooling("fake")
    calls_before = len(fake_upstream.calls("fail-500"))
    response = chat(gateway_url, tenant.key, "test/fallback-5xx")
    assert response.status_code == 200
    (only,) = ledger_entry(response.headers["x-trace-id"])["attempts"]  # type: ignore[index]
    assert only["provider"] == "fake-anthropic"
    assert len(fake_upstream.calls("fail-500")) == calls_before


def test_an_unsupported_parameter_for_the_upstream_is_a_400_naming_it(gateway_url, upstream, make_tenant):
    tenant = make_tenant("10")
    response = chat(gateway_url, tenant.key, "test/claude", logit_bias={"50256": -100})
    assert response.status_code == 400
    assert response.json()["error"]["param"] == "logit_bias"
    assert balance_of(tenant.account_id) == GRANT
