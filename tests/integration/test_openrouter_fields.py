"""OpenRouter's request fields on the OpenAI formats: `models` (fallback models, tried in order like
providers), `provider.sort` / `max_price` / `require_parameters`, and `usage.cost` (credits) in every
answer and final stream chunk, equal to what the ledger charged; `user` and `metadata` kept on the
request's trace."""

from __future__ import annotations

from decimal import Decimal

import httpx
import openai
import pytest

from gateway.providers import health
from tests.conftest import balance_of, ledger_entry

GRANT = 10_000_000
HELLO = [{"role": "user", "content": "hello there"}]


def sdk(url: str, key: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{url}/v1", api_key=key, max_retries=0, timeout=20)


def micro(cost: float) -> Decimal:
    return Decimal(str(cost)) * 1_000_000


def test_usage_cost_is_what_the_ledger_charged(gateway_url, upstream, make_tenant):
    tenant = make_tenant("10")
    raw = sdk(gateway_url, tenant.key).chat.completions.with_raw_response.create(model="test/echo", messages=HELLO)
    completion = raw.parse()
    entry = ledger_entry(raw.headers["x-trace-id"])
    assert entry is not None
    assert micro(completion.usage.model_extra["cost"]) == entry["credits"] > 0  # type: ignore[union-attr]


@pytest.mark.parametrize("model", ["test/echo", "test/claude", "test/no-usage"])
def test_the_final_stream_chunk_carries_the_cost(gateway_url, upstream, make_tenant, model):
    # Given a stream whose client asked for its usage (from an upstream that reports it or not)
    tenant = make_tenant("10")
    chunks = list(
        sdk(gateway_url, tenant.key).chat.completions.create(
            model=model, messages=HELLO, stream=True, stream_options={"include_usage": True}
        )
    )
    # Then its last chunk says what was charged, exactly, and no other chunk has usage
    assert chunks[-1].usage is not None
    assert all(chunk.usage is None for chunk in chunks[:-1])
    assert micro(chunks[-1].usage.model_extra["cost"]) == GRANT - balance_of(tenant.account_id)


def test_fallback_models_answer_when_the_first_fails_and_are_charged_their_own_price(
    gateway_url, upstream, make_tenant
):
    tenant = make_tenant("10")
    raw = sdk(gateway_url, tenant.key).chat.completions.with_raw_response.create(
        model="test/fail-500", messages=HELLO, extra_body={"models": ["test/dearer-echo"]}
    )
    completion = raw.parse()
    assert completion.choices[0].message.content == "echo: hello there"
    entry = ledger_entry(raw.headers["x-trace-id"])
    assert entry is not None
    assert (entry["model"], entry["status"]) == ("test/dearer-echo", "success")
    assert [attempt["upstream_model"] for attempt in entry["attempts"]] == ["fail-500", "echo"]
    assert entry["credits"] == entry["prompt_tokens"] * 2 + entry["completion_tokens"] * 3  # its catalog prices
    assert balance_of(tenant.account_id) == GRANT - entry["credits"]


def test_the_hold_covers_the_dearest_fallback(gateway_url, upstream, make_tenant):
    # Given an account that can pay for test/echo's worst case but not test/pricey's (1,500 a 1M output)
    tenant = make_tenant("1")
    client = sdk(gateway_url, tenant.key)
    with pytest.raises(openai.APIStatusError) as caught:
        client.chat.completions.create(model="test/echo", messages=HELLO, extra_body={"models": ["test/pricey"]})
    assert caught.value.status_code == 402
    assert client.chat.completions.create(model="test/echo", messages=HELLO).choices


def test_max_price_leaves_out_dearer_models(gateway_url, upstream, make_tenant):
    tenant = make_tenant("10")
    client = sdk(gateway_url, tenant.key)
    # test/dearer-echo costs 2 credits a 1M prompt tokens (a credit is a dollar here): over the limit
    within = {"provider": {"max_price": {"prompt": 1}}, "models": ["test/echo"]}
    raw = client.chat.completions.with_raw_response.create(model="test/dearer-echo", messages=HELLO, extra_body=within)
    assert ledger_entry(raw.headers["x-trace-id"])["model"] == "test/echo"  # type: ignore[index]
    with pytest.raises(openai.BadRequestError) as caught:
        client.chat.completions.create(
            model="test/dearer-echo", messages=HELLO, extra_body={"provider": {"max_price": {"prompt": 1}}}
        )
    assert caught.value.body["param"] == "provider.max_price"  # type: ignore[index]


def test_sort_by_latency_tries_the_fastest_provider_first(gateway_url, upstream, make_tenant):
    # Given test/multi's two providers, the second measured faster in this process
    tenant = make_tenant("10")
    health.answered_in("fake", 5.0)
    health.answered_in("fake-anthropic", 0.001)
    client = sdk(gateway_url, tenant.key)
    ranked = client.chat.completions.with_raw_response.create(
        model="test/multi", messages=HELLO, extra_body={"provider": {"sort": "latency"}}
    )
    plain = client.chat.completions.with_raw_response.create(model="test/multi", messages=HELLO)
    assert ledger_entry(ranked.headers["x-trace-id"])["provider"] == "fake-anthropic"  # type: ignore[index]
    assert ledger_entry(plain.headers["x-trace-id"])["provider"] == "fake"  # type: ignore[index]


def test_require_parameters_passes_over_providers_that_cannot_take_one(gateway_url, upstream, make_tenant):
    # Given test/multi tried Anthropic first, which cannot take logit_bias
    tenant = make_tenant("10")
    client = sdk(gateway_url, tenant.key)
    body = {"model": "test/multi", "messages": HELLO, "logit_bias": {"50256": -100}}
    first = {"order": ["fake-anthropic", "fake"]}
    # Then without require_parameters the request is refused, naming the parameter
    with pytest.raises(openai.BadRequestError) as caught:
        client.chat.completions.create(**body, extra_body={"provider": first})  # type: ignore[call-overload]
    assert caught.value.body["param"] == "logit_bias"  # type: ignore[index]
    # And with it, the provider that can take it answers
    raw = client.chat.completions.with_raw_response.create(
        **body,
        extra_body={"provider": {**first, "require_parameters": True}},  # type: ignore[call-overload]
    )
    assert ledger_entry(raw.headers["x-trace-id"])["provider"] == "fake"  # type: ignore[index]


def test_user_and_metadata_are_kept_on_the_trace(gateway_url, upstream, make_tenant):
    tenant = make_tenant("10")
    raw = sdk(gateway_url, tenant.key).chat.completions.with_raw_response.create(
        model="test/echo", messages=HELLO, user="end-user-42", metadata={"team": "search", "run": "7"}
    )
    trace = httpx.get(
        f"{gateway_url}/api/v1/request-traces/{raw.headers['x-trace-id']}",
        headers={"Authorization": f"Bearer {tenant.key}"},
    ).json()["data"]
    assert (trace["user"], trace["metadata"]) == ("end-user-42", {"team": "search", "run": "7"})


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("metadata", {f"k{i}": "v" for i in range(17)}),
        ("metadata", {"k": "v" * 513}),
        ("user", "u" * 513),
        ("models", ["test/echo"] * 9),
    ],
)
def test_oversized_tags_are_a_400(gateway_url, upstream, make_tenant, field, value):
    tenant = make_tenant("10")
    with pytest.raises(openai.BadRequestError):
        sdk(gateway_url, tenant.key).chat.completions.create(
            model="test/echo", messages=HELLO, extra_body={field: value}
        )
    assert balance_of(tenant.account_id) == GRANT
