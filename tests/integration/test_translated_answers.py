"""An upstream of another format answered, and billed its usage; the gateway's translation of that
answer into the client's format is charged whatever becomes of it: an OpenAI-compatible model cut
by its output cap in the middle of a tool call's arguments is answered to an Anthropic client as
Anthropic does (`stop_reason` `max_tokens`), and an answer that cannot be translated is a 502 that
still pays what the provider reported, with no second provider asked."""

from __future__ import annotations

import time
from typing import Any

import httpx
import pytest
from starlette.responses import JSONResponse

from tests.conftest import balance_of, ledger_entry
from tests.support.pricing import price_micro

GRANT = 10_000_000


def _answer_with_arguments(arguments: str, finish_reason: str) -> Any:
    def tool_call(body: dict[str, Any], prompt_tokens: int) -> JSONResponse:
        call = {"id": "call_1", "type": "function",
                "function": {"name": body["tools"][0]["function"]["name"], "arguments": arguments}}  # fmt: skip
        message = {"role": "assistant", "content": None, "tool_calls": [call]}
        return JSONResponse({
            "id": "chatcmpl-cut", "object": "chat.completion", "created": int(time.time()), "model": body["model"],
            "choices": [{"index": 0, "message": message, "finish_reason": finish_reason}],
            "usage": {"prompt_tokens": 5000, "completion_tokens": 5, "total_tokens": 5005},
        })  # fmt: skip

    return tool_call


def _ask(gateway_url: str, key: str) -> httpx.Response:
    body = {"model": "test/echo", "max_tokens": 5, "tools": [{"name": "weather", "input_schema": {"type": "object"}}],
            "messages": [{"role": "user", "content": "weather in Paris? " * 1000}]}  # fmt: skip
    return httpx.post(f"{gateway_url}/v1/messages", json=body, headers={"x-api-key": key}, timeout=20)


def test_a_tool_call_cut_by_the_output_cap_is_answered_as_anthropic_does(
    gateway_url, upstream, make_tenant, monkeypatch
):
    # Given an OpenAI-compatible model that reaches the output cap in the middle of a tool call
    monkeypatch.setattr(upstream, "_tool_call", _answer_with_arguments('{"city": "Par', "length"))
    tenant = make_tenant("10")
    # When an Anthropic client asks it (a small max_tokens: a client can do this on purpose)
    response = _ask(gateway_url, tenant.key)
    # Then it gets Anthropic's answer to a cut tool call, and pays the 5,005 tokens the provider billed
    assert response.status_code == 200, response.text
    message = response.json()
    assert message["stop_reason"] == "max_tokens"
    assert message["content"] == [{"type": "tool_use", "id": "call_1", "name": "weather", "input": {}}]
    entry = ledger_entry(response.headers["x-trace-id"])
    assert entry is not None
    assert entry["credits"] == price_micro(5000, 5) == GRANT - balance_of(tenant.account_id)


@pytest.mark.parametrize("arguments", ['{"city": "Par', "[1, 2]"])
def test_an_answer_the_gateway_cannot_translate_is_a_502_that_pays_the_providers_usage(
    gateway_url, upstream, make_tenant, monkeypatch, arguments
):
    # Given a model whose finished tool call has arguments that are not a JSON object
    monkeypatch.setattr(upstream, "_tool_call", _answer_with_arguments(arguments, "tool_calls"))
    tenant = make_tenant("10")
    response = _ask(gateway_url, tenant.key)
    # Then the client gets a 502 in Anthropic's envelope, the provider is asked once, and its usage is paid
    assert response.status_code == 502, response.text
    assert response.json()["type"] == "error"
    assert len(upstream.requests) == 1
    entry = ledger_entry(response.headers["x-trace-id"])
    assert entry is not None
    assert entry["credits"] == price_micro(5000, 5) == GRANT - balance_of(tenant.account_id)
