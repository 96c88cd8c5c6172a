"""An OpenAI upstream's Responses stream that ends with `response.failed` (OpenAI's own terminal event
for a response that failed mid-way) is charged the usage that event reports, which is what OpenAI
bills: nothing when it reports none, not the prompt's bound."""

from __future__ import annotations

import json
from typing import Any

import httpx

from tests.conftest import balance_of, settled_entry
from tests.integration.test_agent_flows_across_vendors import scripted, sse_stream
from tests.support.pricing import price_micro

GRANT = 10_000_000
OPENING = {"id": "resp_up", "object": "response", "created_at": 1, "status": "in_progress", "model": "echo",
           "output": [], "usage": None}  # fmt: skip


def failed_stream(usage: dict[str, Any] | None, with_text: bool) -> list[tuple[str, dict[str, Any]]]:
    item = {"type": "message", "id": "msg_up", "status": "in_progress", "role": "assistant", "content": []}
    part = {"type": "output_text", "text": "", "annotations": []}
    failed = {**OPENING, "status": "failed", "error": {"code": "server_error", "message": "The model failed."},
              "usage": usage}  # fmt: skip
    events: list[dict[str, Any]] = [
        {"type": "response.created", "response": OPENING},
        {"type": "response.in_progress", "response": OPENING},
    ]
    if with_text:
        events += [
            {"type": "response.output_item.added", "output_index": 0, "item": item},
            {"type": "response.content_part.added", "item_id": "msg_up", "output_index": 0, "content_index": 0,
             "part": part},
            {"type": "response.output_text.delta", "item_id": "msg_up", "output_index": 0, "content_index": 0,
             "delta": "Hel"},
        ]  # fmt: skip
    events.append({"type": "response.failed", "response": failed})
    return [(event["type"], {**event, "sequence_number": n}) for n, event in enumerate(events)]


def usage_of(prompt: int, completion: int) -> dict[str, Any]:
    return {"input_tokens": prompt, "input_tokens_details": {"cached_tokens": 0}, "output_tokens": completion,
            "output_tokens_details": {"reasoning_tokens": 0}, "total_tokens": prompt + completion}  # fmt: skip


def stream_through(gateway_url: str, key: str, events: list) -> tuple[str, list[dict[str, Any]]]:  # type: ignore[type-arg]
    body = {"model": "test/responses", "input": "hi", "stream": True, "store": False}
    with httpx.stream("POST", f"{gateway_url}/v1/responses", json=body, timeout=20,
                      headers={"Authorization": f"Bearer {key}"}) as answer:  # fmt: skip
        trace_id = answer.headers["x-trace-id"]
        received = [json.loads(line[5:]) for line in answer.iter_lines() if line.startswith("data:")]
    return trace_id, received


def test_a_response_failed_mid_stream_is_charged_the_usage_openai_reported(gateway_url, upstream, make_tenant):
    # Given OpenAI's stream: some text, then response.failed reporting 7 input and 3 output tokens
    tenant = make_tenant("10")
    with scripted(upstream, "/v1/responses") as gpt:
        gpt.answers.append(sse_stream(failed_stream(usage_of(7, 3), with_text=True)))
        trace_id, _ = stream_through(gateway_url, tenant.key, [])
    entry = settled_entry(trace_id)
    # Then the turn is charged what the upstream reported
    assert (entry["prompt_tokens"], entry["completion_tokens"]) == (7, 3), entry
    assert entry["credits"] == price_micro(7, 3)
    assert balance_of(tenant.account_id) == GRANT - price_micro(7, 3)


def test_a_response_that_failed_before_any_output_is_not_charged_the_prompt_bound(gateway_url, upstream, make_tenant):
    # Given OpenAI's stream that fails at once (created, in_progress, failed with zero usage)
    tenant = make_tenant("10")
    with scripted(upstream, "/v1/responses") as gpt:
        gpt.answers.append(sse_stream(failed_stream(usage_of(0, 0), with_text=False)))
        trace_id, _ = stream_through(gateway_url, tenant.key, [])
    entry = settled_entry(trace_id)
    # Then nothing is charged: the upstream produced nothing and billed nothing
    assert entry["credits"] == 0, entry
    assert balance_of(tenant.account_id) == GRANT
