"""A funded key sends hostile numbers: every numeric field of every format is refused at the
boundary with a 400 in that format's envelope, and no credit moves. And what the upstream receives
is the output cap the hold priced, whatever the client asked."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from gateway.billing.estimate import request_bytes
from tests.conftest import balance_of, ledger_entry

GRANT = 10_000_000
HOSTILE = [-2_000_000_000, 0, -1, 10**12, 1.5, True, "100", None]

GEMINI = "/v1beta/models/test/echo:generateContent"
OPENAI = "/v1/chat/completions"
ANTHROPIC = "/v1/messages"
RESPONSES = "/v1/responses"
COMPLETIONS = "/v1/completions"
COUNT = "/v1/messages/count_tokens"


def post(gateway_url: str, key: str, path: str, body: dict[str, Any]) -> httpx.Response:
    headers = {"x-goog-api-key": key} if path.startswith("/v1beta") else {"Authorization": f"Bearer {key}"}
    return httpx.post(f"{gateway_url}{path}", json=body, headers=headers, timeout=20)


def gemini(config: dict[str, Any]) -> dict[str, Any]:
    return {"contents": [{"role": "user", "parts": [{"text": "hi"}]}], "generationConfig": config}


def openai(**fields: Any) -> dict[str, Any]:
    return {"model": "test/echo", "messages": [{"role": "user", "content": "hi"}], **fields}


def anthropic(**fields: Any) -> dict[str, Any]:
    return {"model": "test/echo", "max_tokens": 50, "messages": [{"role": "user", "content": "hi"}], **fields}


def test_the_reported_exploit_is_a_gemini_400_and_the_balance_is_unchanged(gateway_url, upstream, make_tenant):
    # Given a funded key, When a negative maxOutputTokens is sent (it once raised the balance 50x)
    tenant = make_tenant("100")
    response = post(gateway_url, tenant.key, GEMINI, gemini({"maxOutputTokens": -2_000_000_000}))
    # Then Gemini's envelope says what is wrong, and nothing moved nor reached the upstream
    assert response.status_code == 400
    error = response.json()["error"]
    assert (error["code"], error["status"]) == (400, "INVALID_ARGUMENT")
    assert "maxOutputTokens" in error["message"]
    assert balance_of(tenant.account_id) == 100_000_000
    assert upstream.calls("echo") == []


CASES: list[tuple[str, str, Any]] = [
    *[(OPENAI, name, lambda v, n=name: openai(**{n: v})) for name in ("max_tokens", "max_completion_tokens", "n")],
    (OPENAI, "top_logprobs", lambda v: openai(logprobs=True, top_logprobs=v)),
    (OPENAI, "reasoning.max_tokens", lambda v: openai(reasoning={"max_tokens": v})),
    (ANTHROPIC, "max_tokens", lambda v: anthropic(max_tokens=v)),
    (ANTHROPIC, "thinking.budget_tokens", lambda v: anthropic(thinking={"type": "enabled", "budget_tokens": v})),
    (ANTHROPIC, "top_k", lambda v: anthropic(top_k=v)),
    (GEMINI, "maxOutputTokens", lambda v: gemini({"maxOutputTokens": v})),
    (GEMINI, "max_output_tokens", lambda v: gemini({"max_output_tokens": v})),
    (GEMINI, "candidateCount", lambda v: gemini({"candidateCount": v})),
    (GEMINI, "thinkingBudget", lambda v: gemini({"thinkingConfig": {"thinkingBudget": v}})),
    ("/v1/embeddings", "dimensions", lambda v: {"model": "test/embed", "input": "hi", "dimensions": v}),
    ("/v1/images/generations", "n", lambda v: {"model": "test/image", "prompt": "a fox", "n": v}),
    ("/v1/audio/speech", "speed", lambda v: {"model": "test/tts", "input": "hi", "voice": "alloy", "speed": v}),
    *[
        (RESPONSES, name, lambda v, n=name: {"model": "test/responses", "input": "hi", n: v})
        for name in ("max_output_tokens", "max_tool_calls", "top_logprobs")
    ],
    (
        RESPONSES,
        "max_tool_calls with web_search",
        lambda v: {"model": "test/responses", "input": "hi", "tools": [{"type": "web_search"}], "max_tool_calls": v},
    ),
    *[
        (COMPLETIONS, name, lambda v, n=name: {"model": "test/instruct", "prompt": "hi", n: v})
        for name in ("max_tokens", "n", "best_of", "logprobs")
    ],
    (
        ANTHROPIC,
        "tools[0].max_uses",
        lambda v: anthropic(tools=[{"type": "web_search_20250305", "name": "web_search", "max_uses": v}]),
    ),
    (OPENAI, "provider.max_price.prompt", lambda v: openai(provider={"max_price": {"prompt": v}})),
    (
        COUNT,
        "thinking.budget_tokens",
        lambda v: {**anthropic(thinking={"type": "enabled", "budget_tokens": v}), "max_tokens": None},
    ),
]
# values a field may legitimately take although they look hostile elsewhere
ALLOWED = {
    ("thinkingBudget", 0), ("thinkingBudget", -1), ("top_k", 0), ("top_logprobs", 0), ("speed", 1.5),
    ("logprobs", 0), ("provider.max_price.prompt", 0), ("provider.max_price.prompt", 1.5),
}  # fmt: skip


@pytest.mark.parametrize(("path", "name", "build"), CASES, ids=[f"{p}:{n}" for p, n, _ in CASES])
@pytest.mark.parametrize("value", HOSTILE, ids=repr)
def test_every_hostile_number_is_a_400_in_the_format_envelope(
    gateway_url, upstream, make_tenant, path, name, build, value
):
    if (name, value) in ALLOWED or (value is None and (path, name) != (ANTHROPIC, "max_tokens")):
        pytest.skip("a valid value for this field (null: as if not sent)")
    tenant = make_tenant("10")
    body = {field: inner for field, inner in build(value).items() if inner is not None or field != "max_tokens"}
    response = post(gateway_url, tenant.key, path, body)
    assert response.status_code == 400, response.text
    body = response.json()
    if path in (ANTHROPIC, COUNT):
        assert (body["type"], body["error"]["type"]) == ("error", "invalid_request_error")
    elif path == GEMINI:
        assert body["error"]["status"] == "INVALID_ARGUMENT"
    else:
        assert body["error"]["type"] == "invalid_request_error"
    assert balance_of(tenant.account_id) == GRANT


@pytest.mark.parametrize(
    ("fields", "sent"),
    [
        ({}, {"max_completion_tokens": 1000}),  # nothing asked: the model's cap, which the hold priced
        ({"max_tokens": 20}, {"max_tokens": 20}),  # the client's own field, kept for older servers
        ({"max_completion_tokens": 30}, {"max_completion_tokens": 30}),
        ({"max_tokens": 20, "max_completion_tokens": 900}, {"max_completion_tokens": 900}),  # the one held
        ({"max_tokens": 50_000}, {"max_tokens": 1000}),  # above the model's cap: the cap
    ],
)
def test_an_openai_upstream_receives_the_cap_the_hold_priced(gateway_url, upstream, make_tenant, fields, sent):
    tenant = make_tenant("10")
    response = post(gateway_url, tenant.key, OPENAI, openai(**fields))
    assert response.status_code == 200, response.text
    received = upstream.calls("echo")[-1]
    assert {name: received.get(name) for name in ("max_tokens", "max_completion_tokens") if name in received} == sent


def test_every_upstream_kind_receives_the_cap_in_its_own_field(gateway_url, upstream, fake_servers, make_tenant):
    tenant = make_tenant("10")
    # OpenAI format to an Anthropic upstream, no cap asked: Anthropic's max_tokens is the model's cap
    assert post(gateway_url, tenant.key, OPENAI, {**openai(), "model": "test/claude"}).status_code == 200
    assert fake_servers["anthropic"].requests[-1]["max_tokens"] == 1000
    # Anthropic to Anthropic (passed through untouched but for this): a max_tokens above the cap is capped
    assert (
        post(gateway_url, tenant.key, ANTHROPIC, {**anthropic(max_tokens=90_000), "model": "test/claude"}).status_code
        == 200
    )
    assert fake_servers["anthropic"].requests[-1]["max_tokens"] == 1000
    # Gemini to Gemini, nothing asked: maxOutputTokens is set
    gemini_path = "/v1beta/models/test/gemini:generateContent"
    assert post(gateway_url, tenant.key, gemini_path, gemini({"temperature": 0.5})).status_code == 200
    _, body = fake_servers["gemini"].requests[-1]
    assert body["generationConfig"] == {"temperature": 0.5, "maxOutputTokens": 1000}
    # Gemini format to an OpenAI upstream
    assert post(gateway_url, tenant.key, GEMINI, gemini({"maxOutputTokens": 40})).status_code == 200
    assert upstream.calls("echo")[-1]["max_completion_tokens"] == 40


def test_a_beta_header_cannot_unlock_an_unpriced_long_context_tier(gateway_url, upstream, fake_servers, make_tenant):
    tenant = make_tenant("10")
    response = httpx.post(
        f"{gateway_url}{ANTHROPIC}",
        json={**anthropic(), "model": "test/claude"},
        headers={"Authorization": f"Bearer {tenant.key}", "anthropic-beta": "context-1m-2025-08-07"},
        timeout=20,
    )
    assert response.status_code == 400
    assert response.json()["error"]["type"] == "invalid_request_error"
    assert "long-context" in response.json()["error"]["message"]
    assert balance_of(tenant.account_id) == GRANT
    assert fake_servers["anthropic"].requests == []


def test_the_hold_is_priced_at_the_tier_the_prompt_can_reach_and_the_charge_at_the_tier_it_did(
    gateway_url, upstream, fake_servers, make_tenant
):
    # Given a model whose prompts above 100 tokens cost 3/4 instead of 1/2, and the long-context beta
    tenant = make_tenant("10")
    body = {**anthropic(max_tokens=10), "model": "test/claude-long"}
    body["messages"] = [{"role": "user", "content": "x " * 60}]  # 120 bytes: it could pass 100 tokens
    response = httpx.post(
        f"{gateway_url}{ANTHROPIC}",
        json=body,
        headers={"Authorization": f"Bearer {tenant.key}", "anthropic-beta": "context-1m-2025-08-07"},
        timeout=20,
    )
    assert response.status_code == 200, response.text
    assert fake_servers["anthropic"].requests[-1]["max_tokens"] == 10
    entry = ledger_entry(response.headers["x-trace-id"])
    assert entry is not None
    # Then the hold priced every bound token (a token per byte of the body, which Anthropic is sent
    # as the client sent it) at the long tier, and the charge the real (short) prompt
    assert entry["reserved"] == request_bytes(body) * 3 + 10 * 4
    assert entry["prompt_tokens"] < 100
    assert entry["credits"] == entry["prompt_tokens"] * 1 + entry["completion_tokens"] * 2
