"""The official SDKs (openai, anthropic, google-genai) call the gateway in their own formats, and the
gateway reaches each kind of upstream (OpenAI-compatible, Anthropic, Gemini, Bedrock) in theirs:
buffered and streaming, with tools; every answer is charged exactly its usage."""

from __future__ import annotations

import json

import anthropic
import httpx
import pytest
from google import genai
from google.genai import types

from tests.conftest import balance_of, ledger_entry
from tests.support.pricing import price_micro
from tests.support.sdks import anthropic_sdk, gemini_sdk, openai_sdk

GRANT = 10_000_000
WEATHER_OPENAI = [
    {
        "type": "function",
        "function": {
            "name": "get_weather",
            "description": "Weather of a city",
            "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
        },
    }
]
WEATHER_ANTHROPIC = [
    {
        "name": "get_weather",
        "description": "Weather of a city",
        "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
    }
]


def charged_exactly(tenant, trace_id: str) -> dict:  # type: ignore[no-untyped-def]
    entry = ledger_entry(trace_id)
    assert entry is not None
    assert entry["status"] == "success"
    assert entry["usage_estimated"] is False
    assert entry["credits"] == price_micro(entry["prompt_tokens"], entry["completion_tokens"])
    assert balance_of(tenant.account_id) == GRANT - entry["credits"]
    return entry


def bedrock_script(fake, *, stream: bool) -> None:  # type: ignore[no-untyped-def]
    tool_use = {"toolUse": {"toolUseId": "tooluse_1", "name": "get_weather", "input": {"city": "Paris"}}}
    usage = {"inputTokens": 12, "outputTokens": 7, "totalTokens": 19}
    if not stream:
        fake.answer_json(
            {
                "output": {"message": {"role": "assistant", "content": [tool_use]}},
                "stopReason": "tool_use",
                "usage": usage,
                "metrics": {"latencyMs": 10},
            },
            request_id="req-1",
        )
        return
    fake.answer_stream(
        [
            {"messageStart": {"role": "assistant"}},
            {
                "contentBlockStart": {
                    "start": {"toolUse": {"toolUseId": "tooluse_1", "name": "get_weather"}},
                    "contentBlockIndex": 0,
                }
            },
            {"contentBlockDelta": {"delta": {"toolUse": {"input": '{"city": '}}, "contentBlockIndex": 0}},
            {"contentBlockDelta": {"delta": {"toolUse": {"input": '"Paris"}'}}, "contentBlockIndex": 0}},
            {"contentBlockStop": {"contentBlockIndex": 0}},
            {"messageStop": {"stopReason": "tool_use"}},
            {"metadata": {"usage": usage, "metrics": {"latencyMs": 10}}},
        ],
        request_id="req-2",
    )


# --------------------------------------------------------------- OpenAI SDK in


@pytest.mark.parametrize("model", ["test/claude", "test/gemini", "test/bedrock"])
def test_openai_sdk_with_tools_to_each_kind_of_upstream(gateway_url, upstream, fake_servers, make_tenant, model):
    tenant = make_tenant("10")
    if model == "test/bedrock":
        bedrock_script(fake_servers["bedrock"], stream=False)
    raw = openai_sdk(gateway_url, tenant.key).chat.completions.with_raw_response.create(
        model=model, messages=[{"role": "user", "content": "weather in Paris?"}], tools=WEATHER_OPENAI
    )
    completion = raw.parse()
    (call,) = completion.choices[0].message.tool_calls
    assert call.function.name == "get_weather"
    assert json.loads(call.function.arguments) == {"city": "Paris"}
    assert completion.choices[0].finish_reason == "tool_calls"
    entry = charged_exactly(tenant, raw.headers["x-trace-id"])
    assert (entry["prompt_tokens"], entry["completion_tokens"]) == (
        completion.usage.prompt_tokens,
        completion.usage.completion_tokens,
    )


@pytest.mark.parametrize("model", ["test/claude", "test/gemini", "test/bedrock"])
def test_openai_sdk_streams_tools_from_each_kind_of_upstream(gateway_url, upstream, fake_servers, make_tenant, model):
    tenant = make_tenant("10")
    if model == "test/bedrock":
        bedrock_script(fake_servers["bedrock"], stream=True)
    with openai_sdk(gateway_url, tenant.key).chat.completions.with_streaming_response.create(
        model=model,
        messages=[{"role": "user", "content": "weather in Paris?"}],
        tools=WEATHER_OPENAI,
        stream=True,
        stream_options={"include_usage": True},
    ) as response:
        chunks = list(response.parse())
        trace_id = response.headers["x-trace-id"]
    deltas = [call for c in chunks if c.choices for call in (c.choices[0].delta.tool_calls or [])]
    assert deltas[0].function.name == "get_weather"
    assert json.loads("".join(d.function.arguments or "" for d in deltas)) == {"city": "Paris"}
    assert chunks[-1].usage is not None
    entry = charged_exactly(tenant, trace_id)
    assert entry["completion_tokens"] == chunks[-1].usage.completion_tokens


def test_openai_sdk_streams_text_from_anthropic(gateway_url, upstream, make_tenant):
    tenant = make_tenant("10")
    stream = openai_sdk(gateway_url, tenant.key).chat.completions.create(
        model="test/claude", messages=[{"role": "user", "content": "one two three"}], stream=True
    )
    text = "".join(c.choices[0].delta.content or "" for c in stream if c.choices)
    assert text == "echo: one two three"


def test_embeddings_through_the_openai_sdk(gateway_url, upstream, make_tenant):
    tenant = make_tenant("1")
    raw = openai_sdk(gateway_url, tenant.key).embeddings.with_raw_response.create(
        model="test/embed", input=["first text", "second text here"]
    )
    result = raw.parse()
    assert [item.embedding for item in result.data] == [[0.1, 0.2, 0.3]] * 2
    entry = ledger_entry(raw.headers["x-trace-id"])
    assert entry is not None
    assert (entry["endpoint"], entry["prompt_tokens"]) == ("embeddings", 5)
    assert balance_of(tenant.account_id) == 1_000_000 - entry["credits"]
    assert entry["credits"] == 1  # 5 tokens at 0.02 credits per 1M, rounded up to one micro-credit


# --------------------------------------------------------------- Anthropic SDK in


@pytest.mark.parametrize("model", ["test/echo", "test/claude"], ids=["to-openai", "passthrough"])
def test_anthropic_sdk_messages_with_tools(gateway_url, upstream, make_tenant, model):
    tenant = make_tenant("10")
    raw = anthropic_sdk(gateway_url, tenant.key).messages.with_raw_response.create(
        model=model,
        max_tokens=100,
        messages=[{"role": "user", "content": "weather in Paris?"}],
        tools=WEATHER_ANTHROPIC,
    )
    message = raw.parse()
    (block,) = [b for b in message.content if b.type == "tool_use"]
    assert (block.name, block.input) == ("get_weather", {"city": "Paris"})
    assert message.stop_reason == "tool_use"
    entry = charged_exactly(tenant, raw.headers["x-trace-id"])
    assert entry["completion_tokens"] == message.usage.output_tokens


@pytest.mark.parametrize("model", ["test/echo", "test/claude"], ids=["to-openai", "passthrough"])
def test_anthropic_sdk_streams_text(gateway_url, upstream, make_tenant, model):
    tenant = make_tenant("10")
    client = anthropic_sdk(gateway_url, tenant.key)
    with client.messages.stream(
        model=model, max_tokens=100, messages=[{"role": "user", "content": "alpha beta"}]
    ) as stream:
        text = "".join(stream.text_stream)
        final = stream.get_final_message()
    assert text.strip() == "echo: alpha beta"
    assert final.stop_reason == "end_turn"
    assert final.usage.output_tokens > 0
    assert balance_of(tenant.account_id) < GRANT


def test_anthropic_to_anthropic_passes_the_body_through_untouched(gateway_url, upstream, fake_servers, make_tenant):
    tenant = make_tenant("10")
    body = {
        "model": "claude-echo-model",
        "max_tokens": 50,
        "system": [{"type": "text", "text": "be brief", "cache_control": {"type": "ephemeral"}}],
        "messages": [
            {"role": "user", "content": [{"type": "text", "text": "hi", "cache_control": {"type": "ephemeral"}}]}
        ],
        "metadata": {"user_id": "u-1"},
    }
    anthropic_sdk(gateway_url, tenant.key).messages.create(**body)
    forwarded = fake_servers["anthropic"].requests[-1]
    assert forwarded == {**body, "model": "claude-echo"}  # provider-only fields survive


BETAS = ["interleaved-thinking-2025-05-14", "fine-grained-tool-streaming-2025-05-14"]


@pytest.mark.parametrize("stream", [False, True])
def test_anthropic_beta_headers_reach_an_anthropic_upstream(gateway_url, upstream, fake_servers, make_tenant, stream):
    # Given a client using Anthropic beta features (Claude Code sends several names)
    tenant = make_tenant("10")
    client = anthropic_sdk(gateway_url, tenant.key)
    request = {"model": "claude-echo-model", "max_tokens": 50, "messages": [{"role": "user", "content": "hi"}]}
    # When it calls an Anthropic model through the gateway
    if stream:
        with client.beta.messages.stream(betas=BETAS, **request) as events:
            events.get_final_message()
    else:
        client.beta.messages.create(betas=BETAS, **request)
    # Then Anthropic receives the same beta names, beside the gateway's own version and credential
    forwarded = fake_servers["anthropic"].headers[-1]
    assert forwarded["anthropic-beta"] == ",".join(BETAS)
    assert forwarded["x-api-key"] != tenant.key


def test_anthropic_beta_headers_do_not_leak_to_other_upstreams(gateway_url, upstream, make_tenant):
    tenant = make_tenant("10")
    anthropic_sdk(gateway_url, tenant.key).beta.messages.create(
        betas=BETAS, model="echo", max_tokens=50, messages=[{"role": "user", "content": "hi"}]
    )
    assert "anthropic-beta" not in upstream.headers[-1]


def test_a_malformed_anthropic_beta_header_is_a_400_in_anthropics_envelope(gateway_url, upstream, make_tenant):
    tenant = make_tenant("10")
    response = httpx.post(
        f"{gateway_url}/v1/messages",
        json={"model": "claude-echo-model", "max_tokens": 5, "messages": [{"role": "user", "content": "hi"}]},
        headers={"x-api-key": tenant.key, "anthropic-version": "2023-06-01", "anthropic-beta": "a; b=<c>"},
    )
    assert response.status_code == 400
    assert response.json()["type"] == "error"
    assert response.json()["error"]["type"] == "invalid_request_error"
    assert balance_of(tenant.account_id) == GRANT


# --------------------------------------------------------------- Gemini SDK in


@pytest.mark.parametrize("model", ["echo", "gemini-echo-model"], ids=["to-openai", "passthrough"])
def test_gemini_sdk_generate_content_with_tools(gateway_url, upstream, make_tenant, model):
    tenant = make_tenant("10")
    weather = types.Tool(
        function_declarations=[
            types.FunctionDeclaration(
                name="get_weather",
                description="Weather of a city",
                parameters=types.Schema(type="OBJECT", properties={"city": types.Schema(type="STRING")}),
            )
        ]
    )
    client = gemini_sdk(gateway_url, tenant.key)  # keep it: a collected client closes its connections
    response = client.models.generate_content(
        model=model, contents="weather in Paris?", config=types.GenerateContentConfig(tools=[weather])
    )
    (call,) = response.function_calls
    assert (call.name, call.args) == ("get_weather", {"city": "Paris"})
    assert response.usage_metadata.prompt_token_count >= 1
    assert balance_of(tenant.account_id) < GRANT


@pytest.mark.parametrize("model", ["echo", "gemini-echo-model"], ids=["to-openai", "passthrough"])
def test_gemini_sdk_streams_text(gateway_url, upstream, make_tenant, model):
    tenant = make_tenant("10")
    client = gemini_sdk(gateway_url, tenant.key)
    chunks = list(client.models.generate_content_stream(model=model, contents="red green blue"))
    text = "".join(chunk.text or "" for chunk in chunks)
    assert text.strip() == "echo: red green blue"
    assert any(chunk.usage_metadata and chunk.usage_metadata.total_token_count for chunk in chunks)
    assert balance_of(tenant.account_id) < GRANT


# --------------------------------------------------------------- errors in each envelope


def test_each_sdk_raises_its_own_typed_errors(gateway_url, upstream, make_tenant):
    bad = "sk-gw-not-a-key-0000000000000000000000"
    with pytest.raises(anthropic.AuthenticationError) as anthropic_error:
        anthropic_sdk(gateway_url, bad).messages.create(
            model="test/claude", max_tokens=10, messages=[{"role": "user", "content": "hi"}]
        )
    assert anthropic_error.value.body["type"] == "error"  # type: ignore[index]
    gemini = gemini_sdk(gateway_url, bad)
    with pytest.raises(genai.errors.ClientError) as gemini_error:
        gemini.models.generate_content(model="echo", contents="hi")
    assert gemini_error.value.code == 401
    assert gemini_error.value.status == "UNAUTHENTICATED"
    poor = make_tenant("0.000001")
    with pytest.raises(anthropic.APIStatusError) as no_credit:
        anthropic_sdk(gateway_url, poor.key).messages.create(
            model="test/claude", max_tokens=100, messages=[{"role": "user", "content": "hi"}]
        )
    assert no_credit.value.status_code == 402
    assert no_credit.value.body["error"]["type"] == "billing_error"  # type: ignore[index]


def test_a_stream_cut_midway_ends_with_an_error_event_in_each_format(gateway_url, upstream, make_tenant):
    tenant = make_tenant("10")
    claude = anthropic_sdk(gateway_url, tenant.key)  # keep it: a collected client closes its connections
    with (
        pytest.raises(anthropic.APIStatusError),
        claude.messages.stream(
            model="test/cut-stream", max_tokens=50, messages=[{"role": "user", "content": "one two three four"}]
        ) as stream,
    ):
        "".join(stream.text_stream)
    # Gemini: the last SSE event is Google's error envelope (google-genai raises APIError on it)
    with httpx.stream(
        "POST",
        f"{gateway_url}/v1beta/models/test/cut-stream:streamGenerateContent?alt=sse",
        json={"contents": [{"role": "user", "parts": [{"text": "one two three four"}]}]},
        headers={"x-goog-api-key": tenant.key},
        timeout=20,
    ) as response:
        assert response.status_code == 200
        events = [json.loads(line[6:]) for line in response.iter_lines() if line.startswith("data: ")]
    assert events[0]["candidates"][0]["content"]["parts"][0]["text"]
    assert events[-1]["error"]["code"] == 502
    assert events[-1]["error"]["status"] == "UNAVAILABLE"
    charged = GRANT - balance_of(tenant.account_id)
    # twice a prompt of ~150 bytes and a few bytes received, a token per byte: far below the holds
    assert 0 < charged < 2 * price_micro(200, 20)


def test_gemini_sdk_lists_and_gets_models_in_googles_shape(gateway_url, upstream, make_tenant):
    """google-genai's `models.list()` pages through Google's ListModelsResponse (a 307 to a POST-only
    route before); each chat model is named `models/<id>`, reachable by generateContent."""
    client = gemini_sdk(gateway_url, make_tenant("10").key)
    listed = list(client.models.list(config={"page_size": 5}))
    names = [model.name for model in listed]
    assert len(names) == len(set(names)) > 5  # more than one page, none twice
    assert {"models/test/gemini", "models/test/claude", "models/test/echo"} <= set(names)
    assert "models/test/image" not in names  # not a chat model
    gemini = client.models.get(model="test/gemini")
    assert (gemini.name, gemini.display_name) == ("models/test/gemini", "Gemini (fake)")
    assert gemini.supported_actions is not None
    assert {"generateContent", "countTokens"} <= set(gemini.supported_actions)
    assert gemini.input_token_limit
    assert gemini.output_token_limit
    echo = client.models.get(model="gemini-echo-model")  # an alias: the model it names
    assert echo.name == "models/test/gemini"
    answer = client.models.generate_content(model="models/test/echo", contents="hi")  # a listed name is callable
    assert answer.text
    with pytest.raises(genai.errors.ClientError) as missing:
        client.models.get(model="no/such-model")
    assert missing.value.code == 404


def test_googles_model_list_refuses_a_page_token_it_did_not_give(gateway_url, upstream, make_tenant):
    key = make_tenant("1").key
    answer = httpx.get(f"{gateway_url}/v1beta/models", params={"pageToken": "x1"}, headers={"x-goog-api-key": key})
    assert answer.status_code == 400
    assert answer.json()["error"]["status"] == "INVALID_ARGUMENT"
    assert httpx.get(f"{gateway_url}/v1beta/models", params={"key": key}).status_code == 200  # Google's ?key=
