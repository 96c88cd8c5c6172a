"""Every way a request can end is paid for: the Lambda deadline comes first (streams end with an
error event and are charged for what was produced; buffered calls end with a 504 and are charged
what the provider reported), a client walks away mid-stream (the upstream's usage is still read and
charged), and an idle stream keeps API Gateway's idle timeout away with SSE comments."""

from __future__ import annotations

import json
import threading
import time
from typing import Any

import httpx
import openai
import pytest

from gateway.billing.estimate import request_bytes
from tests.conftest import balance_of, settled_entry
from tests.support.pricing import price_micro
from tests.support.scripted import SCRIPT, Behaviour

GRANT = 10_000_000


def lambda_context(seconds_left: float) -> dict[str, str]:
    """The header the Lambda Web Adapter adds: the invocation's deadline, in epoch milliseconds."""
    return {
        "x-amzn-lambda-context": json.dumps({"request_id": "r-1", "deadline": int((time.time() + seconds_left) * 1000)})
    }


def data_events(lines: list[str]) -> list[dict[str, Any]]:
    return [json.loads(line[6:]) for line in lines if line.startswith("data: ") and line != "data: [DONE]"]


def test_a_stream_ends_with_an_error_event_before_the_lambda_deadline_and_is_charged(
    gateway_url, upstream, make_tenant
):
    # Given an invocation with 1.5 s left after the settlement's margin, and a slow stream of 9 pieces
    tenant = make_tenant("10")
    body = {"model": "test/drip", "stream": True, "messages": [{"role": "user", "content": "a b c d e f g h"}]}
    headers = {"Authorization": f"Bearer {tenant.key}", **lambda_context(10 + 1.5)}
    with httpx.stream("POST", f"{gateway_url}/v1/chat/completions", json=body, headers=headers, timeout=20) as r:
        trace_id = r.headers["x-trace-id"]
        lines = list(r.iter_lines())
    # Then it ends, before the upstream did, with an error event; no [DONE]
    events = data_events(lines)
    assert events[-1]["error"]["code"] == "deadline_exceeded"
    assert "data: [DONE]" not in lines
    received = "".join(e["choices"][0]["delta"].get("content") or "" for e in events[:-1] if e.get("choices"))
    assert received.startswith("echo: ")
    assert received != "echo: a b c d e f g h "
    # And what was produced is charged (no usage came: the covering estimate), the rest refunded
    entry = settled_entry(trace_id)
    assert (entry["status"], entry["error_code"], entry["usage_estimated"]) == ("error", "deadline_exceeded", True)
    assert entry["completion_tokens"] >= len(received.encode())
    assert entry["credits"] == price_micro(entry["prompt_tokens"], entry["completion_tokens"]) > 0
    assert balance_of(tenant.account_id) == GRANT - entry["credits"]


def test_a_buffered_call_that_cannot_finish_in_time_is_a_504_and_charges_nothing_unreported(
    gateway_url, upstream, make_tenant
):
    tenant = make_tenant("10")
    body = {"model": "test/hold", "messages": [{"role": "user", "content": "wait"}]}
    headers = {"Authorization": f"Bearer {tenant.key}", **lambda_context(10 + 1.0)}
    started = time.monotonic()
    response = httpx.post(f"{gateway_url}/v1/chat/completions", json=body, headers=headers, timeout=20)
    # Then it ends at the deadline, not when the upstream would have answered
    assert time.monotonic() - started < 5
    assert response.status_code == 504
    assert response.json()["error"]["code"] == "deadline_exceeded"
    entry = settled_entry(response.headers["x-trace-id"])
    assert (entry["status"], entry["error_code"], entry["credits"]) == ("error", "deadline_exceeded", 0)
    assert balance_of(tenant.account_id) == GRANT


@pytest.mark.parametrize(
    "options",
    [
        {"include_usage": True},  # the usage at the stream's end
        # vLLM's continuous usage stats: the usage so far with every chunk; read on to the end, not to
        # the first report
        {"include_usage": True, "continuous_usage_stats": True},
    ],
)
def test_a_client_that_walks_away_pays_the_usage_the_upstream_reports_after_it_left(
    gateway_url, upstream, make_tenant, options
):
    tenant = make_tenant("10")
    body = {"model": "test/drip", "stream": True, "stream_options": options,
            "messages": [{"role": "user", "content": "a b c"}]}  # fmt: skip
    with httpx.stream(
        "POST", f"{gateway_url}/v1/chat/completions", json=body,
        headers={"Authorization": f"Bearer {tenant.key}"}, timeout=20,
    ) as response:  # fmt: skip
        trace_id = response.headers["x-trace-id"]
        next(response.iter_lines())  # the first event, then the client is gone
    entry = settled_entry(trace_id)
    # Then the usage the upstream reported at its end (3 prompt words, 4 pieces) is what was charged
    assert (entry["error_code"], entry["usage_estimated"]) == ("client_disconnected", False)
    assert (entry["prompt_tokens"], entry["completion_tokens"]) == (3, 4)
    assert entry["credits"] == price_micro(3, 4)
    assert balance_of(tenant.account_id) == GRANT - price_micro(3, 4)


def test_a_client_that_walks_away_from_an_upstream_without_usage_pays_a_covering_estimate(
    gateway_url, upstream, make_tenant
):
    tenant = make_tenant("10")
    body = {"model": "test/drip-no-usage", "stream": True, "messages": [{"role": "user", "content": "a b c"}]}
    with httpx.stream(
        "POST", f"{gateway_url}/v1/chat/completions", json=body,
        headers={"Authorization": f"Bearer {tenant.key}"}, timeout=20,
    ) as response:  # fmt: skip
        trace_id = response.headers["x-trace-id"]
        next(response.iter_lines())
    entry = settled_entry(trace_id)
    # Then every byte the upstream produced (sent or not) and the whole prompt bound are charged
    assert (entry["error_code"], entry["usage_estimated"]) == ("client_disconnected", True)
    assert entry["completion_tokens"] == len(b"echo: a b c ")
    assert entry["prompt_tokens"] == request_bytes(body)
    assert balance_of(tenant.account_id) == GRANT - entry["credits"]


def test_a_client_that_walks_away_before_its_format_showed_it_anything_still_pays_the_prompt(
    gateway_url, upstream, make_tenant
):
    # Given an upstream that sends its first event (OpenAI's role chunk: the prompt was taken), then
    # works on silently, as a reasoning model does; a Gemini client has been sent nothing for it
    tenant = make_tenant("10")
    marker = SCRIPT.plan(Behaviour(tokens=5, ending="stall", after=0))
    body = {"contents": [{"role": "user", "parts": [{"text": f"think this over [[script:{marker}]]"}]}]}
    try:
        with httpx.stream(
            "POST", f"{gateway_url}/v1beta/models/test/echo:streamGenerateContent?alt=sse", json=body,
            headers={"x-goog-api-key": tenant.key}, timeout=20,
        ) as response:  # fmt: skip
            assert response.status_code == 200
            trace_id = response.headers["x-trace-id"]
        # When it leaves, then the upstream had its request, and the client pays its prompt's bound
        entry = settled_entry(trace_id)
    finally:
        SCRIPT.release(marker)
    assert len(SCRIPT.records(marker)) == 1
    assert (entry["error_code"], entry["usage_estimated"]) == ("client_disconnected", True)
    assert entry["prompt_tokens"] > 0
    assert entry["credits"] > 0
    assert balance_of(tenant.account_id) == GRANT - entry["credits"]


def test_an_idle_stream_sends_heartbeats_that_every_client_skips(gateway_url, upstream, make_tenant):
    tenant = make_tenant("10")
    body = {"model": "test/gated-stream", "stream": True, "messages": [{"role": "user", "content": "one two"}]}
    with httpx.stream(
        "POST", f"{gateway_url}/v1/chat/completions", json=body,
        headers={"Authorization": f"Bearer {tenant.key}"}, timeout=20,
    ) as response:  # fmt: skip
        lines = response.iter_lines()
        assert next(lines).startswith("data: ")
        # While the upstream is silent (HEARTBEAT_SECONDS is 1 in the tests), comments keep the line busy
        seen = [next(lines) for _ in range(4)]
        assert ": keep-alive" in seen
        upstream.gate.set()
        rest = list(lines)
    assert rest[-2:] == ["data: [DONE]", ""] or rest[-1] == "data: [DONE]"
    # And the openai SDK reads such a stream as if the comments were not there
    upstream.gate.clear()
    threading.Timer(2.5, upstream.gate.set).start()
    client = openai.OpenAI(base_url=f"{gateway_url}/v1", api_key=tenant.key, max_retries=0, timeout=20)
    stream = client.chat.completions.create(
        model="test/gated-stream", messages=[{"role": "user", "content": "one two"}], stream=True
    )
    assert "".join(chunk.choices[0].delta.content or "" for chunk in stream if chunk.choices) == "echo: one two "


def test_a_buffered_call_ends_before_api_gateway_would_drop_its_silent_response(
    gateway_url, upstream, make_tenant, monkeypatch
):
    # Given API Gateway's idle limit for a response (5 minutes; 1 s here), and no Lambda deadline
    from gateway.config import get_settings
    from gateway.services import chat

    quick = get_settings().model_copy(update={"buffered_answer_seconds": 1.0})
    monkeypatch.setattr(chat, "get_settings", lambda: quick)
    tenant = make_tenant("10")
    response = httpx.post(
        f"{gateway_url}/v1/chat/completions",
        json={"model": "test/hold", "messages": [{"role": "user", "content": "wait"}]},
        headers={"Authorization": f"Bearer {tenant.key}"},
        timeout=20,
    )
    # Then the client hears a 504 it can act on, rather than a dropped connection after a charge
    assert response.status_code == 504
    assert response.json()["error"]["code"] == "deadline_exceeded"
    assert balance_of(tenant.account_id) == GRANT
