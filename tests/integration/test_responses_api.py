"""The openai SDK's Responses API (`client.responses`: create, stream, tools round trip,
previous_response_id, retrieve, delete, input items) through the gateway to every kind of upstream,
each a fake on loopback speaking its real wire protocol; every answer charged exactly its usage, and
`usage.cost` what the ledger charged."""

from __future__ import annotations

import json
from decimal import Decimal

import openai
import pytest

from tests.conftest import balance_of, ledger_entry
from tests.support.fake_openai import PROVIDER_KEY
from tests.support.pricing import price_micro

GRANT = 10_000_000
KINDS = ["test/responses", "test/claude", "test/gemini", "test/bedrock"]  # OpenAI, Anthropic, Gemini, Bedrock
WEATHER = [
    {
        "type": "function",
        "name": "get_weather",
        "description": "Weather of a city",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
    }
]


def sdk(url: str, key: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{url}/v1", api_key=key, max_retries=0, timeout=20)


def script_bedrock(fake, *answers: str, stream: bool = False) -> None:  # type: ignore[no-untyped-def]
    """Bedrock's next answers (the fake answers as scripted): text, or `tool` for a get_weather call."""
    for number, answer in enumerate(answers):
        if answer == "tool":
            content = [{"toolUse": {"toolUseId": "tooluse_1", "name": "get_weather", "input": {"city": "Paris"}}}]
            stop = "tool_use"
        else:
            content, stop = [{"text": answer}], "end_turn"
        usage = {"inputTokens": 12 + number, "outputTokens": 7, "totalTokens": 19 + number}
        if not stream:
            message = {"output": {"message": {"role": "assistant", "content": content}}, "stopReason": stop}
            fake.answer_json({**message, "usage": usage, "metrics": {"latencyMs": 5}}, request_id=f"req-{number}")
            continue
        fake.answer_stream(
            [
                {"messageStart": {"role": "assistant"}},
                {"contentBlockDelta": {"delta": {"text": answer}, "contentBlockIndex": 0}},
                {"contentBlockStop": {"contentBlockIndex": 0}},
                {"messageStop": {"stopReason": stop}},
                {"metadata": {"usage": usage, "metrics": {"latencyMs": 5}}},
            ],
            request_id=f"req-{number}",
        )


def charged(tenant, trace_id: str, cost: float | None) -> dict:  # type: ignore[no-untyped-def]
    """The request was charged exactly the catalog price of its usage, and told so in usage.cost."""
    entry = ledger_entry(trace_id)
    assert entry is not None
    assert (entry["status"], entry["endpoint"], entry["usage_estimated"]) == ("success", "responses", False)
    assert entry["credits"] == price_micro(entry["prompt_tokens"], entry["completion_tokens"])
    assert cost is not None
    assert Decimal(str(cost)) * 1_000_000 == entry["credits"]
    return entry


@pytest.mark.parametrize("model", KINDS)
def test_create_answers_a_response_and_charges_its_usage(gateway_url, upstream, fake_servers, make_tenant, model):
    # Given an account with 10 credits
    tenant = make_tenant("10")
    script_bedrock(fake_servers["bedrock"], "echo: hello there")
    # When it creates a response through the SDK
    raw = sdk(gateway_url, tenant.key).responses.with_raw_response.create(
        model=model, input="hello there", instructions="Be brief."
    )
    response = raw.parse()
    # Then the answer is the model's, in the Responses shape, with the gateway's id
    assert response.output_text == "echo: hello there"
    assert response.id.startswith("resp_")
    assert (response.status, response.object, response.instructions) == ("completed", "response", "Be brief.")
    assert response.usage is not None
    # And it was charged exactly its usage, which usage.cost states
    entry = charged(tenant, raw.headers["x-trace-id"], response.usage.model_extra["cost"])
    assert (entry["prompt_tokens"], entry["completion_tokens"]) == (
        response.usage.input_tokens,
        response.usage.output_tokens,
    )
    assert balance_of(tenant.account_id) == GRANT - entry["credits"]


@pytest.mark.parametrize("model", KINDS)
def test_stream_emits_the_responses_events_and_charges_its_usage(
    gateway_url, upstream, fake_servers, make_tenant, model
):
    tenant = make_tenant("10")
    script_bedrock(fake_servers["bedrock"], "echo: stream me", stream=True)
    with sdk(gateway_url, tenant.key).responses.with_streaming_response.create(
        model=model, input="stream me", stream=True
    ) as raw:
        events = list(raw.parse())
        trace_id = raw.headers["x-trace-id"]
    kinds = [event.type for event in events]
    assert kinds[:2] == ["response.created", "response.in_progress"]
    assert kinds[-1] == "response.completed"
    assert "response.output_text.delta" in kinds
    assert [event.sequence_number for event in events] == sorted(event.sequence_number for event in events)
    text = "".join(event.delta for event in events if event.type == "response.output_text.delta")
    final = events[-1].response
    assert text.strip() == final.output_text.strip() == "echo: stream me"
    assert final.id == events[0].response.id
    entry = charged(tenant, trace_id, final.usage.model_extra["cost"])
    assert entry["completion_tokens"] == final.usage.output_tokens


@pytest.mark.parametrize("model", KINDS)
def test_the_sdks_stream_helper_gives_the_final_response(gateway_url, upstream, fake_servers, make_tenant, model):
    tenant = make_tenant("10")
    script_bedrock(fake_servers["bedrock"], "echo: helper please", stream=True)
    with sdk(gateway_url, tenant.key).responses.stream(model=model, input="helper please") as stream:
        deltas = [event.delta for event in stream if event.type == "response.output_text.delta"]
        final = stream.get_final_response()
    assert "".join(deltas).strip() == final.output_text.strip() == "echo: helper please"
    assert final.usage.model_extra["cost"] > 0


@pytest.mark.parametrize("model", KINDS)
@pytest.mark.parametrize("stream", [False, True])
def test_a_tool_call_round_trip_continues_the_stored_response(
    gateway_url, upstream, fake_servers, make_tenant, model, stream
):
    # Given a response that called the get_weather tool
    tenant = make_tenant("10")
    script_bedrock(fake_servers["bedrock"], "tool")
    script_bedrock(fake_servers["bedrock"], "result: sunny", stream=stream)
    client = sdk(gateway_url, tenant.key)
    first = client.responses.create(model=model, input="weather in Paris?", tools=WEATHER)
    (call,) = [item for item in first.output if item.type == "function_call"]
    assert (call.name, json.loads(call.arguments)) == ("get_weather", {"city": "Paris"})
    # When the tool's output is sent on, continuing that response by its id
    follow_up = {
        "model": model,
        "previous_response_id": first.id,
        "input": [{"type": "function_call_output", "call_id": call.call_id, "output": "sunny"}],
        "tools": WEATHER,
    }
    if stream:
        with client.responses.stream(**follow_up) as events:
            second = events.get_final_response()
    else:
        second = client.responses.create(**follow_up)
    # Then the model answered on the whole conversation: its question, its call and the tool's output
    assert "sunny" in second.output_text
    assert second.previous_response_id == first.id
    seen = upstream_request(upstream, fake_servers, model)
    assert all(text in seen for text in ("weather in Paris?", "get_weather", "sunny"))
    # And both were charged: the balance fell by exactly the two charges
    spent = GRANT - balance_of(tenant.account_id)
    assert Decimal(str(first.usage.model_extra["cost"])) + Decimal(str(second.usage.model_extra["cost"])) == (
        Decimal(spent) / 1_000_000
    )


def upstream_request(upstream, fake_servers, model: str) -> str:  # type: ignore[no-untyped-def]
    """The last request the model's upstream received, as text."""
    if model == "test/responses":
        return json.dumps(upstream.requests[-1])
    if model == "test/claude":
        return json.dumps(fake_servers["anthropic"].requests[-1])
    if model == "test/gemini":
        return json.dumps(fake_servers["gemini"].requests[-1][1])
    return json.dumps(fake_servers["bedrock"].seen[-1].body)


@pytest.mark.parametrize("model", KINDS)
def test_retrieve_list_input_items_and_delete_a_stored_response(
    gateway_url, upstream, fake_servers, make_tenant, model
):
    tenant = make_tenant("10")
    script_bedrock(fake_servers["bedrock"], "echo: keep this")
    client = sdk(gateway_url, tenant.key)
    created = client.responses.create(model=model, input=[{"role": "user", "content": "keep this"}])
    # Retrieve: the same response, usage and cost included
    retrieved = client.responses.retrieve(created.id)
    assert retrieved.id == created.id
    assert retrieved.output_text == created.output_text == "echo: keep this"
    assert retrieved.usage.model_extra["cost"] == created.usage.model_extra["cost"]
    # Input items: the request's own input, typed and with ids
    items = client.responses.input_items.list(created.id)
    (item,) = items.data
    assert (item.type, item.role, item.content[0].text) == ("message", "user", "keep this")
    assert item.id
    # Delete: gone for good
    deleted = client.responses.delete(created.id)
    assert deleted is None or getattr(deleted, "deleted", True)
    with pytest.raises(openai.NotFoundError):
        client.responses.retrieve(created.id)


def test_a_response_is_only_its_accounts(gateway_url, upstream, make_tenant):
    # Given a stored response of one account
    owner, stranger = make_tenant("10"), make_tenant("10")
    created = sdk(gateway_url, owner.key).responses.create(model="test/responses", input="private")
    other = sdk(gateway_url, stranger.key)
    # Then another account can neither read, list, delete nor continue it, and is charged nothing
    for attempt in (
        lambda: other.responses.retrieve(created.id),
        lambda: other.responses.input_items.list(created.id),
        lambda: other.responses.delete(created.id),
        lambda: other.responses.create(model="test/responses", input="more", previous_response_id=created.id),
    ):
        with pytest.raises(openai.NotFoundError) as caught:
            attempt()
        assert caught.value.body["code"] == "not_found"  # type: ignore[index]
    assert balance_of(stranger.account_id) == GRANT
    assert sdk(gateway_url, owner.key).responses.retrieve(created.id).output_text == "echo: private"


def test_store_false_keeps_nothing_and_the_upstream_never_stores(gateway_url, upstream, make_tenant):
    tenant = make_tenant("10")
    client = sdk(gateway_url, tenant.key)
    created = client.responses.create(model="test/responses", input="forget me", store=False)
    assert created.store is False
    with pytest.raises(openai.NotFoundError):
        client.responses.retrieve(created.id)
    # the upstream is never asked to keep a response, nor to continue one it kept
    sent = upstream.requests[-1]
    assert sent["store"] is False
    assert "previous_response_id" not in sent
    assert upstream.headers[-1]["authorization"] == f"Bearer {PROVIDER_KEY}"


@pytest.mark.parametrize(("asked", "held"), [(None, 1000), (50, 50), (5000, 1000)])
def test_the_upstream_gets_the_output_cap_the_hold_priced(gateway_url, upstream, make_tenant, asked, held):
    tenant = make_tenant("10")
    extra = {} if asked is None else {"max_output_tokens": asked}
    sdk(gateway_url, tenant.key).responses.create(model="test/responses", input="cap me", **extra)
    assert upstream.requests[-1]["max_output_tokens"] == held  # the test model's cap is 1000


def test_a_large_response_is_kept_in_the_bucket(gateway_url, upstream, make_tenant, aws_local):
    import base64
    import os

    import boto3

    tenant = make_tenant("10")
    noise = base64.b64encode(os.urandom(300_000)).decode()  # does not compress below an item's size
    client = sdk(gateway_url, tenant.key)
    created = client.responses.create(model="test/responses", input=noise)
    s3 = boto3.client(
        "s3", endpoint_url=aws_local["AWS_ENDPOINT_URL_S3"], region_name="us-east-1",
        aws_access_key_id="test", aws_secret_access_key="test",
    )  # fmt: skip
    key = f"responses/{tenant.account_id}/{created.id}.json.z"
    assert s3.head_object(Bucket=aws_local["RESPONSES_BUCKET"], Key=key)["ContentLength"] > 300_000
    assert client.responses.retrieve(created.id).output_text == created.output_text
    follow = client.responses.create(model="test/responses", input="and then?", previous_response_id=created.id)
    assert noise[:100] in json.dumps(upstream.requests[-1]["input"])
    assert follow.output_text == "echo: and then?"
    client.responses.delete(created.id)
    with pytest.raises(s3.exceptions.ClientError):
        s3.head_object(Bucket=aws_local["RESPONSES_BUCKET"], Key=key)


def test_web_search_is_held_per_allowed_call_and_charged_per_call_made(gateway_url, upstream, make_tenant):
    # Given a model whose upstream runs one web search, priced 0.01 credits a search
    tenant = make_tenant("10")
    raw = sdk(gateway_url, tenant.key).responses.with_raw_response.create(
        model="test/responses-search", input="weather?", tools=[{"type": "web_search"}], max_tool_calls=3
    )
    response = raw.parse()
    # Then the upstream was allowed the calls the hold covered, and the search was charged
    assert upstream.requests[-1]["max_tool_calls"] == 3
    entry = ledger_entry(raw.headers["x-trace-id"])
    assert entry is not None
    tokens = entry["prompt_tokens"] * Decimal("0.5") + entry["completion_tokens"] * Decimal("1.5")
    assert entry["credits"] == int(tokens + 10_000) + (tokens % 1 > 0)
    assert entry["units"] == {"web_searches": 1}
    assert Decimal(str(response.usage.model_extra["cost"])) * 1_000_000 == entry["credits"]


@pytest.mark.parametrize(
    ("model", "tools", "param"),
    [
        ("test/echo", [{"type": "web_search"}], "tools[0]"),  # the model has no web search price
        ("test/responses", [{"type": "file_search", "vector_store_ids": ["vs_1"]}], "tools[0]"),  # cannot be priced
        ("test/claude", [{"type": "custom", "name": "apply_patch"}], "tools[0]"),  # OpenAI's own
    ],
)
def test_tools_that_cannot_be_served_are_a_400_naming_them(gateway_url, upstream, make_tenant, model, tools, param):
    tenant = make_tenant("10")
    with pytest.raises(openai.BadRequestError) as caught:
        sdk(gateway_url, tenant.key).responses.create(model=model, input="hi", tools=tools)
    assert caught.value.body["param"] == param  # type: ignore[index]
    assert balance_of(tenant.account_id) == GRANT


@pytest.mark.parametrize("value", [-1, 0, 1.5, True, "100", 10**12])
def test_a_hostile_max_output_tokens_is_a_400_that_moves_no_credit(gateway_url, upstream, make_tenant, value):
    tenant = make_tenant("10")
    with pytest.raises(openai.BadRequestError) as caught:
        sdk(gateway_url, tenant.key).responses.create(model="test/responses", input="hi", max_output_tokens=value)
    assert caught.value.body["param"] == "max_output_tokens"  # type: ignore[index]
    assert balance_of(tenant.account_id) == GRANT
    assert upstream.requests == []


MALFORMED = [
    {"input": [{"type": "function_call_output", "call_id": 5, "output": {"x": 1}}]},
    {"input": [{"type": "message", "role": "robot", "content": "hi"}]},
    {"input": [{"role": "user", "content": 7}]},
    {"input": [{"role": "user", "content": [{"type": "input_image"}]}]},
    {"input": [{"role": "assistant", "content": [{"type": "input_image", "image_url": "x"}]}]},
    {"input": [{"type": "reasoning", "encrypted_content": "gw1.!!not-base64!!"}, {"role": "user", "content": "hi"}]},
    {"input": [{"type": "reasoning", "encrypted_content": "gw1.e30="}, {"role": "user", "content": "hi"}]},
    {"input": [{"type": "item_reference", "id": "msg_nowhere"}]},
    {"input": [{"role": "user", "content": [{"type": "input_file", "file_id": "file-123"}]}]},
    {"input": "hi", "tools": [{"type": "function"}]},
    {"input": "hi", "tools": [{"type": "function", "name": "f", "parameters": "not a schema"}]},
    {"input": "hi", "tool_choice": {"type": "function"}},
    {"input": "hi", "text": {"format": "json"}},
    {"input": "hi", "reasoning": {"effort": "enormous"}},
    {"input": "hi", "background": True},
    {"input": "hi", "conversation": "conv_1"},
    {"input": "hi", "previous_response_id": "resp_does_not_exist"},
    {"input": [{"type": "function_call", "call_id": "c1", "name": "f", "arguments": "{not json"}]},
]


@pytest.mark.parametrize("model", ["test/responses", "test/claude", "test/gemini"])
@pytest.mark.parametrize("fields", MALFORMED, ids=[json.dumps(case)[:60] for case in MALFORMED])
def test_malformed_input_is_a_4xx_in_openais_envelope_never_a_5xx(gateway_url, upstream, make_tenant, model, fields):
    import httpx

    tenant = make_tenant("10")
    response = httpx.post(
        f"{gateway_url}/v1/responses",
        json={"model": model, **fields},
        headers={"Authorization": f"Bearer {tenant.key}"},
        timeout=20,
    )
    assert response.status_code < 500, response.text
    if response.status_code >= 400:
        error = response.json()["error"]
        assert error["message"]
        assert error["type"] in ("invalid_request_error", "not_found_error")
        assert balance_of(tenant.account_id) == GRANT


@pytest.mark.parametrize("stream", [False, True])
def test_a_conversation_moves_between_vendors_with_claudes_thinking_kept(
    gateway_url, upstream, fake_servers, make_tenant, stream
):
    # Given a response from Claude that thought first (its signed thinking as a reasoning item)
    tenant = make_tenant("10")
    client = sdk(gateway_url, tenant.key)
    if stream:
        with client.responses.stream(model="test/claude-thinker", input="think about it") as events:
            first = events.get_final_response()
    else:
        first = client.responses.create(model="test/claude-thinker", input="think about it")
    (reasoning,) = [item for item in first.output if item.type == "reasoning"]
    assert reasoning.summary[0].text == "Let me think."
    assert reasoning.encrypted_content.startswith("gw1.")  # type: ignore[union-attr]
    # When an OpenAI model continues it: Claude's thinking, which OpenAI cannot read, is left out
    client.responses.create(model="test/responses", input="and then?", previous_response_id=first.id)
    sent = upstream.requests[-1]["input"]
    assert [item.get("type") for item in sent if item.get("type") == "reasoning"] == []
    assert "think about it" in json.dumps(sent)
    # And when Claude continues it, its thinking goes back to it signed, as Anthropic requires
    client.responses.create(model="test/claude-thinker", input="and then?", previous_response_id=first.id)
    assistant = fake_servers["anthropic"].requests[-1]["messages"][1]
    assert assistant["role"] == "assistant"
    assert assistant["content"][0] == {"type": "thinking", "thinking": "Let me think.", "signature": "sig-fake-01"}


@pytest.mark.parametrize("path", ["/v1/responses", "/v1/chat/completions"])
def test_a_service_tier_billed_above_list_prices_is_refused(gateway_url, upstream, make_tenant, path):
    # OpenAI bills `priority` above its list prices, which the catalog's prices are: it cannot be held for
    import httpx

    tenant = make_tenant("10")
    body = {"model": "test/responses", "service_tier": "priority"}
    body |= {"input": "hi"} if path == "/v1/responses" else {"messages": [{"role": "user", "content": "hi"}]}
    response = httpx.post(f"{gateway_url}{path}", json=body, headers={"Authorization": f"Bearer {tenant.key}"})
    assert response.status_code == 400
    assert response.json()["error"]["param"] == "service_tier"
    assert balance_of(tenant.account_id) == GRANT
    flex = httpx.post(
        f"{gateway_url}{path}", json={**body, "service_tier": "flex"}, headers={"Authorization": f"Bearer {tenant.key}"}
    )
    assert flex.status_code == 200, flex.text
