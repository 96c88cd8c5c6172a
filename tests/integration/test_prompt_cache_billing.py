"""A provider's prompt cache is billed part by part: cache reads at `cached_input`, cache writes at
`cache_write_input`, the rest at `input` (Anthropic reports the parts apart, on the real wire)."""

from __future__ import annotations

import anthropic
import openai
import pytest

from tests.conftest import balance_of, ledger_entry
from tests.support.fake_anthropic import CACHE_READ, CACHE_WRITTEN

GRANT = 10_000_000
SYSTEM = "You answer briefly. " * 3_000  # a long cacheable prefix (and a reservation bound to match)


def expected_credits(fresh_input: int, output: int) -> int:
    # catalog test/claude-cache: input 1, cached_input 0.1, cache_write_input 1.25, output 2 (per 1M tokens)
    return fresh_input * 1 + CACHE_READ // 10 + CACHE_WRITTEN * 5 // 4 + output * 2


@pytest.mark.parametrize("stream", [False, True])
def test_anthropic_cache_reads_and_writes_are_priced_apart(gateway_url, upstream, make_tenant, stream) -> None:
    tenant = make_tenant("10")
    client = anthropic.Anthropic(base_url=gateway_url, api_key=tenant.key, max_retries=0, timeout=20)
    request = {
        "model": "test/claude-cache",
        "max_tokens": 100,
        "system": [{"type": "text", "text": SYSTEM, "cache_control": {"type": "ephemeral"}}],
        "messages": [{"role": "user", "content": "Say hi"}],
    }
    if stream:
        with client.messages.stream(**request) as events:
            message = events.get_final_message()
            trace_id = events.response.headers["x-trace-id"]
    else:
        raw = client.messages.with_raw_response.create(**request)
        message, trace_id = raw.parse(), raw.headers["x-trace-id"]

    # The client sees Anthropic's own usage, parts apart
    assert message.usage.cache_creation_input_tokens == CACHE_WRITTEN
    assert message.usage.cache_read_input_tokens == CACHE_READ
    # and is charged for each part at its own price
    entry = ledger_entry(trace_id)
    assert entry is not None
    fresh = message.usage.input_tokens
    assert entry["prompt_tokens"] == fresh + CACHE_WRITTEN + CACHE_READ
    assert entry["credits"] == expected_credits(fresh, message.usage.output_tokens)
    assert balance_of(tenant.account_id) == GRANT - entry["credits"]


def test_the_same_upstream_through_the_openai_format_is_charged_the_same(gateway_url, upstream, make_tenant) -> None:
    tenant = make_tenant("10")
    client = openai.OpenAI(base_url=f"{gateway_url}/v1", api_key=tenant.key, max_retries=0, timeout=20)
    raw = client.chat.completions.with_raw_response.create(
        model="test/claude-cache",
        max_tokens=100,
        messages=[{"role": "system", "content": SYSTEM}, {"role": "user", "content": "Say hi"}],
    )
    completion = raw.parse()
    assert completion.usage is not None
    assert completion.usage.prompt_tokens_details is not None
    assert completion.usage.prompt_tokens_details.cached_tokens == CACHE_READ
    entry = ledger_entry(raw.headers["x-trace-id"])
    assert entry is not None
    fresh = completion.usage.prompt_tokens - CACHE_READ - CACHE_WRITTEN
    assert entry["credits"] == expected_credits(fresh, completion.usage.completion_tokens)
