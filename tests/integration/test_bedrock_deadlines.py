"""Bedrock (boto3 in a worker thread) keeps the request's time limits as the httpx providers do: a
buffered Converse or a stream that opens late ends at the deadline (boto3 cannot be interrupted; the
request is left to its thread), a call that timed out reading is not sent to Bedrock again (a second
generation the operator would pay for), and a translator's input it cannot read is the client's 400."""

from __future__ import annotations

import asyncio
import json
import secrets
import time
from typing import Any

import httpx
import pytest
from starlette.requests import Request
from starlette.responses import StreamingResponse
from starlette.routing import Route

from tests.conftest import balance_of, holds_of, settled_entry
from tests.support.fake_bedrock import event_frame

ESSAY = "a long essay " * 50
ANSWER = {
    "output": {"message": {"role": "assistant", "content": [{"text": ESSAY}]}},
    "stopReason": "end_turn",
    "usage": {"inputTokens": 9, "outputTokens": 150},
}


def lambda_context(seconds_left: float) -> dict[str, str]:
    """The invocation's deadline, as the Web Adapter forwards it (10 s of it kept for the settlement)."""
    deadline = int((time.time() + 10 + seconds_left) * 1000)
    return {"x-amzn-lambda-context": json.dumps({"request_id": "r-1", "deadline": deadline})}


def ask(gateway_url: str, key: str, body: dict[str, Any], headers: dict[str, str] | None = None) -> Any:
    started = time.monotonic()
    response = httpx.post(
        f"{gateway_url}/v1/chat/completions",
        json=body,
        headers={"Authorization": f"Bearer {key}", **(headers or {})},
        timeout=30,
    )
    return response, time.monotonic() - started


def prompt(**extra: Any) -> dict[str, Any]:
    marker = "zz" + secrets.token_hex(6)
    return {"model": "test/bedrock", "messages": [{"role": "user", "content": f"write {marker}"}], **extra}


def test_a_buffered_call_ends_at_its_deadline(gateway_url, upstream, fake_servers, make_tenant):
    tenant = make_tenant("10")
    fake_servers["bedrock"].answer_json(ANSWER, "req-slow", delay=2.5)
    response, elapsed = ask(gateway_url, tenant.key, prompt(), lambda_context(1.0))
    assert elapsed < 2.2, f"answered after {elapsed:.1f} s, past its 1 s deadline"
    assert response.status_code == 504
    entry = settled_entry(response.headers["x-trace-id"])
    assert (entry["error_code"], entry["credits"]) == ("deadline_exceeded", 0)


def test_a_buffered_call_ends_before_api_gateway_drops_a_silent_answer(
    gateway_url, upstream, fake_servers, make_tenant, monkeypatch
):
    from gateway.config import get_settings
    from gateway.services import chat

    quick = get_settings().model_copy(update={"buffered_answer_seconds": 1.0})
    monkeypatch.setattr(chat, "get_settings", lambda: quick)
    tenant = make_tenant("10")
    fake_servers["bedrock"].answer_json(ANSWER, "req-slow", delay=2.5)
    response, elapsed = ask(gateway_url, tenant.key, prompt())
    assert elapsed < 2.2, f"answered {response.status_code} after {elapsed:.1f} s (API Gateway hung up at 1 s)"
    assert response.status_code == 504


def test_a_stream_that_opens_late_ends_at_its_deadline(gateway_url, upstream, fake_servers, make_tenant):
    tenant = make_tenant("10")
    fake = fake_servers["bedrock"]
    events = [
        {"messageStart": {"role": "assistant"}},
        {"contentBlockDelta": {"contentBlockIndex": 0, "delta": {"text": "hello"}}},
        {"messageStop": {"stopReason": "end_turn"}},
        {"metadata": {"usage": {"inputTokens": 3, "outputTokens": 1}, "metrics": {"latencyMs": 5}}},
    ]

    async def slow_headers(request: Request) -> StreamingResponse:
        await request.body()
        await asyncio.sleep(2.5)

        async def frames() -> Any:
            for event in events:
                yield event_frame(event)

        return StreamingResponse(frames(), media_type="application/vnd.amazon.eventstream")

    route = Route("/model/{model_id:path}/converse-stream", slow_headers, methods=["POST"])
    fake.app.router.routes.insert(0, route)
    try:
        response, elapsed = ask(gateway_url, tenant.key, prompt(stream=True), lambda_context(1.0))
    finally:
        fake.app.router.routes.remove(route)
    assert elapsed < 2.2, f"the stream's {response.status_code} came after {elapsed:.1f} s (deadline: 1 s)"
    assert response.status_code == 504


def test_a_call_that_timed_out_is_not_sent_to_bedrock_again(gateway_url, upstream, fake_servers, make_tenant):
    """Bedrock generating past UPSTREAM_TIMEOUT_SECONDS (3 s in the tests): the client pays nothing
    for the timeout, so Bedrock is asked once (each call is a generation the operator pays for)."""
    tenant = make_tenant("10")
    fake = fake_servers["bedrock"]
    fake.answer_json(ANSWER, "req-slow-1", delay=3.6)
    fake.answer_json(ANSWER, "req-slow-2", delay=3.6)
    response, _ = ask(gateway_url, tenant.key, prompt())
    assert response.status_code == 504
    assert settled_entry(response.headers["x-trace-id"])["credits"] == 0
    assert len(fake.seen) == 1, f"Bedrock was asked {len(fake.seen)} times for one unpaid request"


@pytest.mark.parametrize("stream", [False, True])
def test_modalities_of_the_wrong_type_is_the_clients_400(gateway_url, upstream, fake_servers, make_tenant, stream):
    tenant = make_tenant("10")
    before = balance_of(tenant.account_id)
    response, _ = ask(gateway_url, tenant.key, prompt(stream=stream, modalities=5))
    assert response.status_code == 400, response.text
    assert response.json()["error"]["param"] == "modalities"
    assert (balance_of(tenant.account_id), holds_of(tenant.account_id)) == (before, 0)


def test_a_thinking_budget_refusal_names_no_field_the_client_did_not_send(gateway_url, upstream, make_tenant):
    """An Anthropic client's max_tokens 2000 and a 1,024-token budget, on a model that outputs at most
    1,000 tokens: the refusal says so, without OpenAI's field names."""
    tenant = make_tenant("10")
    body = {
        "model": "test/bedrock",
        "max_tokens": 2000,
        "thinking": {"type": "enabled", "budget_tokens": 1024},
        "messages": [{"role": "user", "content": "hi"}],
    }
    response = httpx.post(
        f"{gateway_url}/v1/messages",
        json=body,
        headers={"x-api-key": tenant.key, "anthropic-version": "2023-06-01"},
        timeout=30,
    )
    assert response.status_code == 400
    message = response.json()["error"]["message"]
    assert "max_completion_tokens" not in message
    assert "1024" in message
