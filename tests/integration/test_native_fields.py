"""Fields only a vendor's own API has reach that vendor's upstreams as sent, priced: Anthropic's server
tools (web search, web fetch), `top_k`, `context_management` and the tools Anthropic defines; Gemini's
Google Search grounding, code execution and stricter safety settings. What cannot be priced (code
execution containers, the MCP connector, cached contents, other built-in tools) is a 400 naming the
field, in the endpoint's own envelope, before any credit moves; so is a native field sent to a model
whose upstreams speak another format."""

from __future__ import annotations

import re
from typing import Any

import anthropic
import httpx
import pytest
from google import genai
from google.genai import types

from tests.conftest import balance_of, ledger_entry
from tests.support.pricing import price_micro
from tests.support.scripted import SCRIPT, Behaviour

GRANT = 10_000_000
SEARCH_FEE, GROUNDING_FEE = 10_000, 35_000  # the test catalog's web_search (Claude) and grounding (Gemini)
WEB_SEARCH = {"type": "web_search_20250305", "name": "web_search", "max_uses": 2}
COMPACT = {"edits": [{"type": "compact_20260112", "trigger": {"type": "input_tokens", "value": 50000}}]}


def messages(url: str, key: str, beta: str | None = None, **body: Any) -> httpx.Response:
    payload = {"model": "test/claude", "max_tokens": 100, "messages": [{"role": "user", "content": "weather?"}], **body}
    headers = {"x-api-key": key, **({"anthropic-beta": beta} if beta else {})}
    return httpx.post(f"{url}/v1/messages", json=payload, headers=headers, timeout=20)


def generate(url: str, key: str, model: str = "test/gemini", **body: Any) -> httpx.Response:
    payload = {"contents": [{"role": "user", "parts": [{"text": "weather?"}]}], **body}
    return httpx.post(
        f"{url}/v1beta/models/{model}:generateContent", json=payload, headers={"x-goog-api-key": key}, timeout=20
    )


def refused(response: httpx.Response, param: str, tenant: Any) -> None:
    """A 400 naming `param` in the endpoint's own envelope; no credit moved."""
    assert response.status_code == 400, response.text
    body = response.json()
    if "type" in body:  # Anthropic's: the message names the field
        assert body["type"] == "error"
        assert body["error"]["type"] == "invalid_request_error"
        assert param in body["error"]["message"]
    else:  # Google's: a BadRequest detail names it
        assert body["error"]["status"] == "INVALID_ARGUMENT"
        (detail,) = body["error"]["details"]
        assert detail["fieldViolations"][0]["field"] == param
    assert balance_of(tenant.account_id) == GRANT


# --------------------------------------------------------------- Anthropic


@pytest.mark.parametrize("stream", [False, True])
def test_anthropic_web_search_is_charged_its_tokens_and_its_searches(
    gateway_url, upstream, fake_servers, make_tenant, stream
):
    # Given Claude asked with the web search tool, at most two searches
    tenant = make_tenant("10")
    client = anthropic.Anthropic(base_url=gateway_url, api_key=tenant.key, max_retries=0, timeout=20)
    request = {
        "model": "test/claude",
        "max_tokens": 100,
        "tools": [WEB_SEARCH],
        "messages": [{"role": "user", "content": "weather?"}],
    }
    # When Claude searches once
    if stream:
        with client.messages.stream(**request) as events:  # type: ignore[arg-type]
            message = events.get_final_message()
            trace_id = events.response.headers["x-trace-id"]
    else:
        raw = client.messages.with_raw_response.create(**request)  # type: ignore[arg-type]
        message, trace_id = raw.parse(), raw.headers["x-trace-id"]
    # Then the search and its results reach the client as Anthropic sent them
    kinds = [block.type for block in message.content]
    assert kinds == ["server_tool_use", "web_search_tool_result", "text"]
    assert fake_servers["anthropic"].requests[-1]["tools"] == [WEB_SEARCH]
    # And it is charged its tokens and one search fee, exactly
    entry = ledger_entry(trace_id)
    assert entry is not None
    assert entry["credits"] == price_micro(entry["prompt_tokens"], entry["completion_tokens"]) + SEARCH_FEE
    assert entry["units"] == {"web_searches": 1}
    assert balance_of(tenant.account_id) == GRANT - entry["credits"]


def test_the_hold_covers_every_search_the_request_allows(gateway_url, upstream, make_tenant):
    # Given an account whose balance covers one search's worst case but not a hundred
    tenant = make_tenant("0.1")
    # Then a hundred allowed searches cannot be held (each can read a context window more), one can
    assert messages(gateway_url, tenant.key, tools=[{**WEB_SEARCH, "max_uses": 100}]).status_code == 402
    assert messages(gateway_url, tenant.key, tools=[{**WEB_SEARCH, "max_uses": 1}]).status_code == 200


@pytest.mark.parametrize(
    ("tools", "hidden"),
    [
        ([{"name": "f", "input_schema": {"type": "object"}}], 346),  # Anthropic's tool-use system prompt
        ([{"type": "bash_20250124", "name": "bash"}], 346 + 245),  # ... and a tool Anthropic defines
        ([{"type": "text_editor_20250728", "name": "str_replace_based_edit_tool"}], 346 + 700),
    ],
)
def test_tool_use_tokens_the_request_does_not_show_are_held_and_charged(
    gateway_url, upstream, make_tenant, tools, hidden
):
    # Given a tiny request whose tools Anthropic bills hundreds of input tokens its bytes do not show
    tenant = make_tenant("10")
    marker = SCRIPT.plan(Behaviour(tokens=1, wire_usage=(("input_tokens", hidden + 20), ("output_tokens", 1))))
    body = {"max_tokens": 1, "stream": True, "tools": tools,
            "messages": [{"role": "user", "content": f"hi [[script:{marker}]]"}]}  # fmt: skip
    try:
        with httpx.stream(
            "POST", f"{gateway_url}/v1/messages", json={"model": "test/claude", **body},
            headers={"x-api-key": tenant.key}, timeout=20,
        ) as response:  # fmt: skip
            assert response.status_code == 200
            trace_id = response.headers["x-trace-id"]
            response.read()
    finally:
        SCRIPT.release(marker)
    # Then the hold covered them, and every token Anthropic billed is charged
    entry = ledger_entry(trace_id)
    assert entry is not None
    assert (entry["prompt_tokens"], entry["completion_tokens"]) == (hidden + 20, 1)
    assert entry["credits"] == price_micro(hidden + 20, 1) == GRANT - balance_of(tenant.account_id)


def _with_document(prompt: str) -> dict[str, Any]:
    """A plain-text document's `context` and `title`, which Claude reads and the translation drops."""
    document = {"type": "document", "source": {"type": "text", "media_type": "text/plain", "data": "x"},
                "title": "t", "context": "background " * 6000}  # fmt: skip
    return {"messages": [{"role": "user", "content": [document, {"type": "text", "text": prompt}]}]}


def _with_input_examples(prompt: str) -> dict[str, Any]:
    """A custom tool's `input_examples`, rendered into the prompt and dropped from the canonical tool."""
    tool = {"name": "weather", "input_schema": {"type": "object"},
            "input_examples": [{"city": "Paris " * 50} for _ in range(200)]}  # fmt: skip
    return {"tools": [tool], "messages": [{"role": "user", "content": prompt}]}


@pytest.mark.parametrize(
    ("body_for", "beta"), [(_with_document, None), (_with_input_examples, "advanced-tool-use-2025-11-20")]
)
def test_what_only_anthropic_reads_is_held_and_charged(
    gateway_url, upstream, fake_servers, make_tenant, body_for, beta
):
    # Given ~60 KB of input that the canonical form of the request leaves out but Anthropic is sent
    tenant = make_tenant("10")
    hidden = 6_010
    marker = SCRIPT.plan(Behaviour(tokens=1, wire_usage=(("input_tokens", hidden), ("output_tokens", 1))))
    body = body_for(f"hi [[script:{marker}]]")
    try:
        response = messages(gateway_url, tenant.key, beta=beta, max_tokens=1, **body)
        assert response.status_code == 200, response.text
    finally:
        SCRIPT.release(marker)
    sent = fake_servers["anthropic"].requests[-1]
    assert (sent["messages"], sent.get("tools")) == (body["messages"], body.get("tools"))
    # Then the hold covered it, and every token Anthropic billed is charged
    entry = ledger_entry(response.headers["x-trace-id"])
    assert entry is not None
    assert entry["credits"] == price_micro(hidden, 1) == GRANT - balance_of(tenant.account_id)


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"tools": [{"type": "web_search_20250305", "name": "web_search"}]}, "tools[0].max_uses"),  # unbounded
        ({"tools": [{**WEB_SEARCH, "max_uses": 0}]}, "tools[0].max_uses"),
        ({"tools": [{**WEB_SEARCH, "max_uses": True}]}, "tools[0].max_uses"),
        ({"tools": [{**WEB_SEARCH, "max_uses": 10**9}]}, "tools[0].max_uses"),
        ({"tools": [{"type": "code_execution_20250825", "name": "code_execution"}]}, "tools[0]"),
        ({"tools": [{"type": "some_new_server_tool_20300101", "name": "x"}]}, "tools[0]"),
        ({"container": "container_011"}, "container"),
        ({"mcp_servers": [{"type": "url", "url": "https://example.com/sse", "name": "x"}]}, "mcp_servers"),
        ({"speed": "fast"}, "speed"),  # fast mode: up to 6x the standard price
        ({"inference_geo": "us"}, "inference_geo"),  # US-only inference: 1.1x
        # compaction: a sampling step of its own, billed apart from the answer's usage
        ({"context_management": COMPACT}, "context_management.edits[0]"),
        ({"context_management": {"edits": [{"type": "summarize_20300101"}]}}, "context_management.edits[0]"),
        # Anthropic's own fallbacks: each entry may lift max_tokens, or ask for fast mode
        ({"fallbacks": [{"model": "claude-opus-4-8", "max_tokens": 128000, "speed": "fast"}]}, "fallbacks"),
        ({"fallbacks": "default"}, "fallbacks"),
        # state Anthropic keeps for the operator's organization, shared by every account
        ({"thread": {"type": "create"}}, "thread"),
        ({"thread": {"type": "continue", "previous_message_id": "msg_01Other"}}, "thread"),
        ({"diagnostics": {"previous_message_id": "msg_01Other"}}, "diagnostics"),
        ({"resumption": {"type": "enabled", "token": "rt_01Other"}}, "resumption"),
    ],
)
def test_what_cannot_be_priced_is_a_400_naming_it(gateway_url, upstream, fake_servers, make_tenant, body, param):
    tenant = make_tenant("10")
    response = messages(gateway_url, tenant.key, **body)
    refused(response, param, tenant)
    assert fake_servers["anthropic"].requests == []


@pytest.mark.parametrize("model", ["test/claude", "test/echo"])
@pytest.mark.parametrize("thread", [{"type": "create"}, {"type": "continue", "previous_message_id": "msg_01Prev"}])
def test_a_thread_is_refused_as_claude_code_recognises_it(
    gateway_url, upstream, fake_servers, make_tenant, model, thread
):
    """Claude Code resends the turn whole, and keeps the session stateless, after a 400 whose message
    names the thread field (its pattern, as of 2.1.328: `thread` followed within three characters by
    `field`, `param`, `request`, `type` or a colon)."""
    tenant = make_tenant("10")
    response = messages(gateway_url, tenant.key, model=model, thread=thread)
    refused(response, "thread", tenant)
    assert re.search(r"\bthread\b.{0,3}(param|field|request|type|:)", response.json()["error"]["message"], re.I)
    assert fake_servers["anthropic"].requests == []
    assert upstream.requests == []


def test_a_model_without_a_search_price_cannot_search(gateway_url, upstream, make_tenant):
    tenant = make_tenant("10")
    refused(messages(gateway_url, tenant.key, model="test/claude-cache", tools=[WEB_SEARCH]), "tools[0]", tenant)


CLEAR_TOOL_USES = {"edits": [{"type": "clear_tool_uses_20250919", "trigger": {"type": "input_tokens", "value": 30000}}]}
BASH = {"type": "bash_20250124", "name": "bash"}


@pytest.mark.parametrize(
    ("field", "value"),
    [("context_management", CLEAR_TOOL_USES), ("top_k", 5), ("tools", [BASH])],
)
def test_anthropics_own_fields_reach_claude_as_sent(gateway_url, upstream, fake_servers, make_tenant, field, value):
    tenant = make_tenant("10")
    response = messages(gateway_url, tenant.key, **{field: value})
    assert response.status_code == 200, response.text
    assert fake_servers["anthropic"].requests[-1][field] == value


@pytest.mark.parametrize(
    ("field", "value", "param"),
    [("context_management", CLEAR_TOOL_USES, "context_management"), ("tools", [BASH], "tools[0]")],
)
def test_anthropics_own_fields_for_another_vendors_model_are_a_400(
    gateway_url, upstream, make_tenant, field, value, param
):
    tenant = make_tenant("10")
    response = messages(gateway_url, tenant.key, model="test/echo", **{field: value})
    refused(response, param, tenant)
    assert upstream.requests == []


def test_context_management_that_changes_nothing_is_translated_for_other_vendors(gateway_url, upstream, make_tenant):
    # Claude Code asks to clear thinking while keeping all of it: nothing to do for another vendor
    tenant = make_tenant("10")
    keep_all = {"edits": [{"type": "clear_thinking_20251015", "keep": "all"}]}
    response = messages(gateway_url, tenant.key, model="test/echo", context_management=keep_all)
    assert response.status_code == 200, response.text
    assert "context_management" not in upstream.requests[-1]


# --------------------------------------------------------------- Gemini


@pytest.mark.parametrize("stream", [False, True])
def test_gemini_grounding_is_charged_its_tokens_and_its_fee(gateway_url, upstream, fake_servers, make_tenant, stream):
    tenant = make_tenant("10")
    client = genai.Client(
        api_key=tenant.key, http_options=types.HttpOptions(base_url=gateway_url, api_version="v1beta")
    )
    config = types.GenerateContentConfig(tools=[types.Tool(google_search=types.GoogleSearch())])
    if stream:
        chunks = list(client.models.generate_content_stream(model="test/gemini", contents="weather?", config=config))
        text = "".join(chunk.text or "" for chunk in chunks)
        grounded = [chunk for chunk in chunks if chunk.candidates and chunk.candidates[0].grounding_metadata]
        assert grounded
    else:
        answer = client.models.generate_content(model="test/gemini", contents="weather?", config=config)
        text = answer.text or ""
        assert answer.candidates[0].grounding_metadata.web_search_queries == ["weather"]  # type: ignore[index,union-attr]
    assert text.strip() == "grounded: weather?"
    assert "googleSearch" in fake_servers["gemini"].requests[-1][1]["tools"][0]
    (trace,) = client_traces(gateway_url, tenant.key)
    entry = ledger_entry(trace)
    assert entry is not None
    assert entry["credits"] == price_micro(entry["prompt_tokens"], entry["completion_tokens"]) + GROUNDING_FEE
    assert balance_of(tenant.account_id) == GRANT - entry["credits"]


def client_traces(url: str, key: str) -> list[str]:
    response = httpx.get(f"{url}/api/v1/request-traces", headers={"Authorization": f"Bearer {key}"}, timeout=20)
    return [trace["trace_id"] for trace in response.json()["data"]["items"]]


def test_gemini_code_execution_runs_at_google_for_its_tokens(gateway_url, upstream, fake_servers, make_tenant):
    tenant = make_tenant("10")
    response = generate(gateway_url, tenant.key, tools=[{"codeExecution": {}}])
    assert response.status_code == 200, response.text
    parts = response.json()["candidates"][0]["content"]["parts"]
    assert [next(iter(part)) for part in parts] == ["executableCode", "codeExecutionResult", "text"]
    entry = ledger_entry(response.headers["x-trace-id"])
    assert entry is not None
    assert entry["credits"] == price_micro(entry["prompt_tokens"], entry["completion_tokens"])


def test_stricter_safety_settings_reach_gemini_as_sent(gateway_url, upstream, fake_servers, make_tenant):
    strict = [{"category": "HARM_CATEGORY_HARASSMENT", "threshold": "BLOCK_LOW_AND_ABOVE"}]
    assert generate(gateway_url, make_tenant("10").key, safetySettings=strict).status_code == 200
    assert fake_servers["gemini"].requests[-1][1]["safetySettings"] == strict
    tenant = make_tenant("10")
    refused(generate(gateway_url, tenant.key, model="test/echo", safetySettings=strict), "safetySettings[0]", tenant)


FILES_API = {"fileUri": "https://generativelanguage.googleapis.com/v1beta/files/x", "mimeType": "video/mp4"}


@pytest.mark.parametrize(
    ("body", "model", "param"),
    [
        ({"cachedContent": "cachedContents/abc123"}, "test/gemini", "cachedContent"),  # Google's, under our key
        ({"contents": [{"parts": [{"fileData": FILES_API}]}]}, "test/gemini", "contents[0].parts[0].fileData"),
        ({"tools": [{"urlContext": {}}]}, "test/gemini", "tools[0].urlContext"),  # no price for it
        ({"tools": [{"googleSearch": {}}]}, "test/gemini-agent", "tools[0].googleSearch"),  # no grounding price
        ({"tools": [{"googleSearch": {}}]}, "test/echo", "tools[0].googleSearch"),  # Google's, for OpenAI
        ({"serviceTier": "priority"}, "test/gemini", "serviceTier"),  # the priority tier: up to 2x
        ({"service_tier": "SERVICE_TIER_PRIORITY"}, "test/gemini", "service_tier"),
        ({"generationConfig": {"serviceTier": "priority"}}, "test/gemini", "generationConfig.serviceTier"),
    ],
)
def test_what_gemini_cannot_be_asked_through_the_gateway_is_a_400(
    gateway_url, upstream, fake_servers, make_tenant, body, model, param
):
    tenant = make_tenant("10")
    response = generate(gateway_url, tenant.key, model=model, **body)
    refused(response, param, tenant)
    assert fake_servers["gemini"].requests == []


def test_the_standard_tiers_and_speeds_reach_the_provider_as_sent(gateway_url, upstream, fake_servers, make_tenant):
    """What bills at the catalog's prices (or less) is no premium: it goes through untouched."""
    tenant = make_tenant("10")
    assert messages(gateway_url, tenant.key, speed="standard", inference_geo="global").status_code == 200
    assert generate(gateway_url, tenant.key, serviceTier="flex").status_code == 200
    assert fake_servers["gemini"].requests[-1][1]["serviceTier"] == "flex"
