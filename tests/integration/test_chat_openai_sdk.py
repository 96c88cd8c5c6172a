"""The official openai SDK, pointed at the gateway, against a fake upstream on loopback."""

from __future__ import annotations

import openai
import pytest

from gateway.billing.estimate import request_bytes
from tests.conftest import balance_of, ledger_entry
from tests.support.fake_openai import PROVIDER_KEY
from tests.support.pricing import price_micro

GRANT = 10_000_000  # 10 credits


def sdk(gateway_url: str, key: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{gateway_url}/v1", api_key=key, max_retries=0, timeout=20)


def test_buffered_chat_is_charged_exactly_the_catalog_price(gateway_url, upstream, make_tenant):
    # Given an account with 10 credits
    tenant = make_tenant("10")
    # When it completes a chat through the SDK
    raw = sdk(gateway_url, tenant.key).chat.completions.with_raw_response.create(
        model="test/echo", messages=[{"role": "user", "content": "hello there world"}]
    )
    completion = raw.parse()
    # Then the answer is the upstream's, and the balance dropped by exactly the price of its usage
    assert completion.choices[0].message.content == "echo: hello there world"
    assert completion.usage is not None
    cost = price_micro(completion.usage.prompt_tokens, completion.usage.completion_tokens)
    assert balance_of(tenant.account_id) == GRANT - cost
    # And the ledger entry, keyed by the response's trace id, records it
    entry = ledger_entry(raw.headers["x-trace-id"])
    assert entry is not None
    assert entry["credits"] == cost
    assert entry["status"] == "success"
    assert entry["model"] == "test/echo"
    assert entry["provider"] == "fake"
    assert (entry["prompt_tokens"], entry["completion_tokens"]) == (3, 4)
    assert entry["key_prefix"].startswith("sk-gw-")
    assert tenant.key not in str(entry)
    # And the upstream saw the provider's credential, never the client's key
    assert upstream.headers[-1]["authorization"] == f"Bearer {PROVIDER_KEY}"


def test_streamed_chat_reports_usage_in_the_final_chunk_when_asked(gateway_url, upstream, make_tenant):
    tenant = make_tenant("10")
    stream = sdk(gateway_url, tenant.key).chat.completions.create(
        model="echo",
        messages=[{"role": "user", "content": "stream me please"}],
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = list(stream)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text.strip() == "echo: stream me please"
    # The usage chunk is the last one and the others carry none
    assert chunks[-1].usage is not None
    assert all(c.usage is None for c in chunks[:-1])
    usage = chunks[-1].usage
    assert balance_of(tenant.account_id) == GRANT - price_micro(usage.prompt_tokens, usage.completion_tokens)


def test_streamed_chat_without_usage_request_is_still_metered(gateway_url, upstream, make_tenant):
    # Given a client that does not ask for usage
    tenant = make_tenant("10")
    stream = sdk(gateway_url, tenant.key).chat.completions.create(
        model="test/echo", messages=[{"role": "user", "content": "count these four"}], stream=True
    )
    chunks = list(stream)
    # Then it sees no usage chunk, but the gateway asked the upstream for usage and billed it
    assert all(c.usage is None for c in chunks)
    assert upstream.calls("echo")[-1]["stream_options"] == {"include_usage": True}
    prompt, completion = 3, 4  # words of the prompt, pieces of "echo: count these four"
    assert balance_of(tenant.account_id) == GRANT - price_micro(prompt, completion)


def test_upstream_without_usage_is_billed_on_a_covering_estimate_and_marked(gateway_url, upstream, make_tenant):
    tenant = make_tenant("10")
    messages = [{"role": "user", "content": "abc"}]
    raw = sdk(gateway_url, tenant.key).chat.completions.with_raw_response.create(
        model="test/no-usage", messages=messages
    )
    entry = ledger_entry(raw.headers["x-trace-id"])
    assert entry is not None
    assert entry["usage_estimated"] is True
    # never less than the provider can have billed: a token per byte of the prompt and of the output
    assert entry["prompt_tokens"] == request_bytes({"model": "test/no-usage", "messages": messages})
    assert entry["completion_tokens"] == len(b"echo: abc")
    assert entry["credits"] == price_micro(entry["prompt_tokens"], entry["completion_tokens"])
    assert balance_of(tenant.account_id) == GRANT - entry["credits"]


def test_upstream_failure_is_refunded_in_full_with_an_error_ledger_entry(gateway_url, upstream, make_tenant):
    tenant = make_tenant("10")
    with pytest.raises(openai.APIStatusError) as caught:
        sdk(gateway_url, tenant.key).chat.completions.create(
            model="test/fail-500", messages=[{"role": "user", "content": "hi"}]
        )
    assert caught.value.status_code == 502
    assert caught.value.body["code"] == "provider_error"  # type: ignore[index]
    assert balance_of(tenant.account_id) == GRANT
    entry = ledger_entry(caught.value.response.headers["x-trace-id"])
    assert entry is not None
    assert (entry["status"], entry["error_code"], entry["credits"]) == ("error", "provider_error", 0)


def test_upstream_rejection_reaches_the_client_with_its_status_and_no_charge(gateway_url, upstream, make_tenant):
    tenant = make_tenant("10")
    with pytest.raises(openai.BadRequestError) as caught:
        sdk(gateway_url, tenant.key).chat.completions.create(
            model="test/reject-400", messages=[{"role": "user", "content": "hi"}], temperature=1.5
        )
    assert "temperature" in caught.value.message
    assert caught.value.body["param"] == "temperature"  # type: ignore[index]
    assert balance_of(tenant.account_id) == GRANT


def test_upstream_rate_limit_is_a_429_with_its_retry_after(gateway_url, upstream, make_tenant):
    tenant = make_tenant("10")
    with pytest.raises(openai.RateLimitError) as caught:
        sdk(gateway_url, tenant.key).chat.completions.create(
            model="test/rate-limited", messages=[{"role": "user", "content": "hi"}]
        )
    assert caught.value.response.headers["retry-after"] == "7"
    assert balance_of(tenant.account_id) == GRANT


def test_upstream_timeout_is_a_504_and_refunded(gateway_url, upstream, make_tenant):
    tenant = make_tenant("10")
    with pytest.raises(openai.APIStatusError) as caught:
        sdk(gateway_url, tenant.key).chat.completions.create(
            model="test/slow", messages=[{"role": "user", "content": "hi"}]
        )
    assert caught.value.status_code == 504
    assert caught.value.body["code"] == "provider_timeout"  # type: ignore[index]
    assert balance_of(tenant.account_id) == GRANT


def test_stream_cut_midway_ends_with_an_error_event_and_charges_only_what_was_sent(gateway_url, upstream, make_tenant):
    tenant = make_tenant("10")
    received = []
    messages = [{"role": "user", "content": "one two three four five"}]
    with sdk(gateway_url, tenant.key).chat.completions.with_streaming_response.create(
        model="test/cut-stream", messages=messages, stream=True
    ) as response:
        trace_id = response.headers["x-trace-id"]
        with pytest.raises(openai.APIError) as caught:
            received.extend(chunk.choices[0].delta.content or "" for chunk in response.parse())
    assert "stream broke" in caught.value.message
    # Then the client got the first two pieces and is charged for those (estimated), not for the rest
    assert "".join(received) == "echo: one "
    entry = ledger_entry(trace_id)
    assert entry is not None
    assert (entry["status"], entry["error_code"], entry["usage_estimated"]) == ("error", "provider_error", True)
    assert entry["completion_tokens"] == len(b"echo: one ")  # a token per byte produced: surely covered
    assert entry["prompt_tokens"] >= request_bytes({"model": "test/cut-stream", "messages": messages})
    assert entry["credits"] == price_micro(entry["prompt_tokens"], entry["completion_tokens"]) > 0
    assert balance_of(tenant.account_id) == GRANT - entry["credits"]


def test_models_lists_enabled_public_models_with_prices(gateway_url, make_tenant):
    tenant = make_tenant("1")
    models = sdk(gateway_url, tenant.key).models.list()
    ids = {m.id for m in models.data}
    assert "test/echo" in ids
    assert "test/disabled" not in ids
    assert "test/hidden" not in ids
    echo = sdk(gateway_url, tenant.key).models.retrieve("test/echo")
    assert echo.id == "test/echo"
    extra = echo.model_dump()
    assert extra["pricing"]["input"] == "0.5"
    assert extra["context_length"] == 8192
    # Hidden models can still be called by id, disabled ones are not found
    assert sdk(gateway_url, tenant.key).models.retrieve("test/hidden").id == "test/hidden"
    with pytest.raises(openai.NotFoundError):
        sdk(gateway_url, tenant.key).models.retrieve("test/disabled")
