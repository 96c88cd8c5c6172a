"""A stream charged on an estimate ends with the counts the ledger charged, whatever the upstream's
last usage said: an OpenAI-compatible usage chunk the gateway cannot read, a Responses server's
`response.completed` without usage."""

from __future__ import annotations

import json

import httpx

from tests.conftest import ledger_entry
from tests.support.scripted import SCRIPT, Behaviour


def _chat_stream(gateway_url: str, key: str, model: str, content: str) -> tuple[list[dict], str]:
    body = {
        "model": model,
        "stream": True,
        "stream_options": {"include_usage": True},
        "messages": [{"role": "user", "content": content}],
    }
    with httpx.stream(
        "POST", f"{gateway_url}/v1/chat/completions", json=body, timeout=20, headers={"Authorization": f"Bearer {key}"}
    ) as answer:
        assert answer.status_code == 200
        chunks = [
            json.loads(line[5:])
            for line in answer.iter_lines()
            if line.startswith("data:") and line[5:].strip() != "[DONE]"
        ]
        return chunks, answer.headers["x-trace-id"]


def test_chat_stream_whose_upstream_usage_chunk_is_partial_shows_the_charged_counts(gateway_url, upstream, make_tenant):
    """Its usage chunk lacks completion_tokens: the gateway charges its covering estimate, and says so."""
    tenant = make_tenant("10")
    marker = SCRIPT.plan(Behaviour(tokens=4, wire_usage=(("prompt_tokens", 1),)))
    try:
        chunks, trace_id = _chat_stream(gateway_url, tenant.key, "test/echo", f"hello there [[script:{marker}]]")
    finally:
        SCRIPT.release(marker)
    entry = ledger_entry(trace_id)
    assert entry is not None
    assert entry["usage_estimated"] is True
    usage = chunks[-1]["usage"]
    assert (usage.get("prompt_tokens"), usage.get("completion_tokens")) == (
        entry["prompt_tokens"],
        entry["completion_tokens"],
    ), usage


def _responses_events(usage):  # an OpenAI-compatible Responses server's stream
    from tests.integration.test_agent_flows_across_vendors import sse_stream

    response = {
        "id": "resp_up",
        "object": "response",
        "created_at": 1,
        "model": "echo",
        "status": "in_progress",
        "output": [],
        "usage": None,
    }
    item = {
        "type": "message",
        "id": "msg_up",
        "status": "completed",
        "role": "assistant",
        "content": [{"type": "output_text", "text": "hello world", "annotations": [], "logprobs": []}],
    }
    events = [
        ("response.created", {"type": "response.created", "sequence_number": 0, "response": response}),
        (
            "response.output_item.added",
            {
                "type": "response.output_item.added",
                "sequence_number": 1,
                "output_index": 0,
                "item": {**item, "content": []},
            },
        ),
        (
            "response.output_text.delta",
            {
                "type": "response.output_text.delta",
                "sequence_number": 2,
                "item_id": "msg_up",
                "output_index": 0,
                "content_index": 0,
                "delta": "hello world",
                "logprobs": [],
            },
        ),
        (
            "response.output_item.done",
            {"type": "response.output_item.done", "sequence_number": 3, "output_index": 0, "item": item},
        ),
        (
            "response.completed",
            {
                "type": "response.completed",
                "sequence_number": 4,
                "response": {**response, "status": "completed", "output": [item], "usage": usage},
            },
        ),
    ]
    return sse_stream(events)


def test_native_responses_stream_charged_on_an_estimate_shows_token_counts(gateway_url, upstream, make_tenant):
    """An OpenAI-compatible Responses server that reports no usage (its events pass through)."""
    from tests.integration.test_agent_flows_across_vendors import scripted

    tenant = make_tenant("10")
    with scripted(upstream, "/v1/responses") as script:
        script.answers.append(_responses_events(None))
        body = {"model": "test/responses", "input": "hi", "stream": True}
        with httpx.stream(
            "POST",
            f"{gateway_url}/v1/responses",
            json=body,
            timeout=20,
            headers={"Authorization": f"Bearer {tenant.key}"},
        ) as answer:
            assert answer.status_code == 200
            final = [json.loads(line[5:]) for line in answer.iter_lines() if line.startswith("data:")][-1]
    assert script.requests, "the native Responses path was not taken"
    entry = ledger_entry(answer.headers["x-trace-id"])
    assert entry is not None
    assert entry["usage_estimated"] is True
    assert final["type"] == "response.completed"
    usage = final["response"]["usage"]
    assert (usage.get("input_tokens"), usage.get("output_tokens")) == (
        entry["prompt_tokens"],
        entry["completion_tokens"],
    ), usage
