"""Tools in the Responses API: a hosted shell (an OpenAI container, billed per session) is refused as
the code interpreter is, a shell the client runs is served; a tool call without arguments is JSON
(`{}`) whichever vendor streamed it; and a server that speaks only chat still answers Responses."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.conftest import balance_of, ledger_entry
from tests.integration.test_agent_flows_across_vendors import scripted, sse_stream
from tests.integration.test_runtime_catalog import model_spec
from tests.support.control import eventually, operator, unique
from tests.support.sdks import openai_sdk

__all__ = ["operator"]

GRANT = 10_000_000


def respond(gateway_url: str, key: str, tools: list[dict[str, Any]]) -> httpx.Response:
    return httpx.post(
        f"{gateway_url}/v1/responses",
        json={"model": "test/responses", "input": "run the tests", "tools": tools},
        headers={"Authorization": f"Bearer {key}"},
        timeout=20,
    )


@pytest.mark.parametrize(
    "environment",
    [
        {"type": "container_auto", "memory_limit": "64g"},
        {"type": "container_reference", "container_id": "cntr_someone_elses"},
        {"type": "container_auto", "file_ids": ["file-operators-own"]},
    ],
    ids=["container-auto", "container-reference", "operators-files"],
)
def test_a_hosted_shell_is_refused_as_unpriceable_and_reaches_no_upstream(
    gateway_url, upstream, make_tenant, environment
):
    tenant = make_tenant("10")
    refused = respond(gateway_url, tenant.key, [{"type": "shell", "environment": environment}])
    assert refused.status_code == 400, refused.text
    assert refused.json()["error"]["param"] == "tools[0]"
    assert [tool for request in upstream.requests for tool in request.get("tools") or []] == []
    assert balance_of(tenant.account_id) == GRANT


@pytest.mark.parametrize("tool", [{"type": "shell"}, {"type": "shell", "environment": {"type": "local"}}])
def test_a_shell_the_client_runs_is_served(gateway_url, upstream, make_tenant, tool):
    tenant = make_tenant("10")
    assert respond(gateway_url, tenant.key, [tool]).status_code == 200


def claude_calls_a_tool_without_arguments() -> list[tuple[str, dict[str, Any]]]:
    """Anthropic's stream of a tool_use whose input is {}: one empty input_json_delta, as Anthropic sends it."""
    start = {"id": "msg_s", "type": "message", "role": "assistant", "model": "c", "content": [],
             "stop_reason": None, "stop_sequence": None, "usage": {"input_tokens": 10, "output_tokens": 1}}  # fmt: skip
    block = {"type": "tool_use", "id": "toolu_1", "name": "list_files", "input": {}}
    return [
        ("message_start", {"type": "message_start", "message": start}),
        ("content_block_start", {"type": "content_block_start", "index": 0, "content_block": block}),
        (
            "content_block_delta",
            {"type": "content_block_delta", "index": 0, "delta": {"type": "input_json_delta", "partial_json": ""}},
        ),
        ("content_block_stop", {"type": "content_block_stop", "index": 0}),
        (
            "message_delta",
            {
                "type": "message_delta",
                "delta": {"stop_reason": "tool_use", "stop_sequence": None},
                "usage": {"output_tokens": 5},
            },
        ),
        ("message_stop", {"type": "message_stop"}),
    ]


def test_a_streamed_tool_call_without_arguments_has_json_arguments(gateway_url, upstream, fake_servers, make_tenant):
    tenant = make_tenant("10")
    client = openai_sdk(gateway_url, tenant.key)
    tools = [{"type": "function", "name": "list_files", "parameters": {"type": "object", "properties": {}}}]
    with scripted(fake_servers["anthropic"], "/v1/messages") as claude:
        claude.answers.append(sse_stream(claude_calls_a_tool_without_arguments()))
        with client.responses.stream(model="test/claude", input="list the files", tools=tools) as stream:
            final = stream.get_final_response()
    (call,) = [item for item in final.output if item.type == "function_call"]
    assert call.arguments == "{}"  # as unstreamed, and as OpenAI sends it: json.loads takes it
    stored = client.responses.retrieve(final.id)
    assert [item.arguments for item in stored.output if item.type == "function_call"] == ["{}"]


@contextlib.contextmanager
def chat_only_model(operator: Any, upstream_model: str) -> Iterator[str]:
    """A model of an OpenAI-compatible server without /v1/responses (DeepSeek's API): its provider lists
    no other native format."""
    provider, model_id = unique("chat-only"), unique("test/chat-only")
    operator.put(f"/providers/{provider}", {"kind": "openai", "api_key_env": "FAKE_OPENAI_API_KEY",
                                            "base_url_env": "FAKE_OPENAI_BASE_URL", "default_base_url": "http://127.0.0.1:9/v1",
                                            "native_formats": []})  # fmt: skip
    operator.post("/models", {**model_spec(model_id), "providers": [{"provider": provider, "model": upstream_model}]})
    try:
        yield model_id
    finally:
        operator.http.delete(f"/api/admin/models/{model_id}")
        operator.http.delete(f"/api/admin/providers/{provider}")


def test_a_responses_client_reaches_a_server_that_speaks_only_chat(gateway_url, upstream, make_tenant, operator):
    """A Responses request for a chat-only server's model is translated to chat completions, as for any
    other vendor."""
    with chat_only_model(operator, "echo") as model_id:
        tenant = make_tenant("10")
        client = openai_sdk(gateway_url, tenant.key)
        eventually(lambda: any(model.id == model_id for model in client.models.list()))  # the catalog reached it
        answer = client.responses.create(model=model_id, input="hi")
        assert answer.output_text == "echo: hi"
        assert [body for body in upstream.requests if "input" in body] == []  # no Responses call reached it
        assert balance_of(tenant.account_id) < GRANT


def test_a_stream_charged_on_an_estimate_ends_with_the_counts_it_was_charged(
    gateway_url, upstream, make_tenant, operator
):
    """A server that reports no usage is charged a covering estimate; the stream's final response still
    carries whole token counts (Codex reads `usage.input_tokens` and `output_tokens` from it): those the
    ledger charged."""
    with chat_only_model(operator, "no-usage") as model_id:
        tenant = make_tenant("10")
        client = openai_sdk(gateway_url, tenant.key)
        eventually(lambda: any(model.id == model_id for model in client.models.list()))
        body = {"model": model_id, "input": "hi", "stream": True}
        with httpx.stream("POST", f"{gateway_url}/v1/responses", json=body, timeout=20,
                          headers={"Authorization": f"Bearer {tenant.key}"}) as answer:  # fmt: skip
            final = [json.loads(line[5:]) for line in answer.iter_lines() if line.startswith("data:")][-1]
        assert final["type"] == "response.completed"
        entry = ledger_entry(answer.headers["x-trace-id"])
        assert entry is not None
        assert entry["usage_estimated"] is True
        usage = final["response"]["usage"]
        assert (usage["input_tokens"], usage["output_tokens"]) == (entry["prompt_tokens"], entry["completion_tokens"])
        assert usage["total_tokens"] == usage["input_tokens"] + usage["output_tokens"]
