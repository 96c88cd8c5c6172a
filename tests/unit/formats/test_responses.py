"""The Responses API format: requests to canonical (and what only OpenAI takes), canonical answers
and stream chunks back as responses and typed events, an OpenAI upstream's own events made the
gateway's."""

from __future__ import annotations

import json
from typing import Any

import pytest

from gateway.canonical import Usage
from gateway.errors import InvalidRequest
from gateway.formats import responses
from gateway.formats.responses import ResponseContext, ResponsesRequest
from gateway.formats.responses_answers import FORMAT
from gateway.formats.responses_stream import ResponsesEncoder
from gateway.formats.responses_thinking import decoded_thinking, encoded_thinking


def context(**echo: Any) -> ResponseContext:
    return ResponseContext(id="resp_gw1", created_at=1, echo=echo, store=True, input_items=[])


def exchange(body: dict[str, Any], history: list[dict[str, Any]] | None = None):  # type: ignore[no-untyped-def]
    request = ResponsesRequest.model_validate({"model": "m", **body})
    ctx = context()
    ctx.input_items = responses.input_items(request.input)
    ctx.history = history or []
    return responses.exchange(request, ctx)


def test_a_conversation_with_a_tool_round_trip_is_canonical_chat() -> None:
    items = [
        {"role": "user", "content": [{"type": "input_text", "text": "weather?"}]},
        {"type": "function_call", "call_id": "call_1", "name": "get_weather", "arguments": '{"city":"Paris"}'},
        {"type": "function_call_output", "call_id": "call_1", "output": "sunny"},
    ]
    canonical, native_only = responses.to_openai(
        {"model": "m", "instructions": "Be brief.", "max_output_tokens": 50, "tools": [
            {"type": "function", "name": "get_weather", "parameters": {"type": "object"}}
        ]},
        items,
    )  # fmt: skip
    assert native_only == ()
    assert canonical["messages"] == [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": [{"type": "text", "text": "weather?"}]},
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "id": "call_1",
                    "type": "function",
                    "function": {"name": "get_weather", "arguments": '{"city":"Paris"}'},
                }
            ],
        },
        {"role": "tool", "tool_call_id": "call_1", "content": "sunny"},
    ]
    assert canonical["max_completion_tokens"] == 50
    assert canonical["tools"] == [
        {"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object"}}}
    ]


def test_what_only_openai_takes_is_named_and_left_out() -> None:
    canonical, native_only = responses.to_openai(
        {"model": "m", "tools": [{"type": "custom", "name": "apply_patch"}], "include": ["file_search_call.results"]},
        [{"type": "local_shell_call", "id": "lsh_1"}, {"role": "user", "content": "hi"}],
    )
    assert [part.param for part in native_only] == ["input[0]", "tools[0]", "include"]
    assert canonical["messages"] == [{"role": "user", "content": "hi"}]
    assert "tools" not in canonical


def test_another_vendors_thinking_travels_as_encrypted_content_and_back() -> None:
    blocks = [{"type": "thinking", "thinking": "hmm", "signature": "sig"}, {"type": "redacted_thinking", "data": "x"}]
    content = encoded_thinking(blocks)
    assert decoded_thinking(content) == blocks
    assert decoded_thinking("gAAAA-openai-opaque") == []
    with pytest.raises(InvalidRequest):
        decoded_thinking("gw1.@@@")
    canonical, _ = responses.to_openai(
        {"model": "m"},
        [
            {"role": "user", "content": "q"},
            {"type": "reasoning", "id": "rs_1", "summary": [], "encrypted_content": content},
            {"type": "message", "role": "assistant", "content": [{"type": "output_text", "text": "a"}]},
        ],
    )
    assert canonical["messages"][1] == {"role": "assistant", "content": "a", "thinking_blocks": blocks}


def test_geminis_thought_signatures_travel_in_a_reasoning_item_back_to_their_calls() -> None:
    signed = {"google": {"thought_signature": "c2lnLTE="}}
    answer = {"choices": [{"index": 0, "finish_reason": "tool_calls", "message": {
        "role": "assistant", "content": None, "tool_calls": [
            {"id": "call_a", "type": "function", "function": {"name": "f", "arguments": "{}"}, "extra_content": signed},
            {"id": "call_b", "type": "function", "function": {"name": "f", "arguments": "{}"}},
        ]}}]}  # fmt: skip
    output = FORMAT.respond(answer, exchange({"input": "q"}))["output"]  # type: ignore[arg-type]
    assert [item["type"] for item in output] == ["reasoning", "function_call", "function_call"]
    assert decoded_thinking(output[0]["encrypted_content"]) == [
        {"type": "thought_signature", "call_id": "call_a", "signature": "c2lnLTE="}
    ]
    canonical, _ = responses.to_openai(
        {"model": "m"},
        [{"role": "user", "content": "q"}, *output,
         *({"type": "function_call_output", "call_id": c, "output": "ok"} for c in ("call_a", "call_b"))],
    )  # fmt: skip
    assistant = canonical["messages"][1]
    assert "thinking_blocks" not in assistant  # Claude is never given a Gemini signature as thinking
    assert [call.get("extra_content") for call in assistant["tool_calls"]] == [signed, None]


def test_a_streamed_gemini_signature_opens_a_reasoning_item_before_its_call() -> None:
    made = exchange({"input": "q"})
    encoder = ResponsesEncoder(made)
    signed = {"google": {"thought_signature": "c2lnLTE="}}
    raw = b"".join(
        encoder.feed(c)  # type: ignore[arg-type]
        for c in (
            chunk({"reasoning_content": "plan"}),
            chunk({"tool_calls": [{"index": 0, "id": "call_a", "function": {"name": "f"}, "extra_content": signed}]}),
            chunk({"tool_calls": [{"index": 1, "id": "call_b", "function": {"name": "f", "arguments": "{}"}}]}),
            chunk({}, "tool_calls"),
        )
    )
    final = events(raw + encoder.finish(Usage(10, 4), native=False, cost=1))[-1]["response"]
    assert [item["type"] for item in final["output"]] == ["reasoning", "function_call", "function_call"]
    assert final["output"][0]["summary"] == [{"type": "summary_text", "text": "plan"}]
    assert decoded_thinking(final["output"][0]["encrypted_content"]) == [
        {"type": "thought_signature", "call_id": "call_a", "signature": "c2lnLTE="}
    ]


def test_the_native_body_replays_the_conversation_and_keeps_nothing_upstream() -> None:
    history = [
        {"type": "message", "role": "user", "content": "first"},
        {"type": "reasoning", "id": "rs_1", "summary": [], "encrypted_content": encoded_thinking([])},
        {"type": "message", "id": "msg_1", "role": "assistant", "content": [{"type": "output_text", "text": "one"}]},
    ]
    sent = exchange({"input": "second", "previous_response_id": "resp_0", "store": True}, history).native
    assert sent["store"] is False
    assert "previous_response_id" not in sent
    assert [item.get("role") for item in sent["input"]] == ["user", "assistant", "user"]  # gateway reasoning left out


def test_hosted_web_search_is_held_for_the_calls_it_may_make() -> None:
    made = exchange({"input": "q", "tools": [{"type": "web_search"}], "max_tool_calls": 3})
    assert (made.server_tools.web_searches, made.server_tools.rounds) == (3, 3)
    assert made.native["max_tool_calls"] == 3
    assert exchange({"input": "q", "tools": [{"type": "web_search"}]}).native["max_tool_calls"] == 8
    with pytest.raises(InvalidRequest) as refused:
        exchange({"input": "q", "tools": [{"type": "function", "name": "f"}, {"type": "code_interpreter"}]})
    assert refused.value.param == "tools[1]"


def test_a_file_by_id_is_refused_for_every_upstream() -> None:
    with pytest.raises(InvalidRequest) as refused:
        exchange({"input": [{"role": "user", "content": [{"type": "input_file", "file_id": "file-1"}]}]})
    assert refused.value.param == "input"


def chunk(delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
    return {
        "id": "c",
        "object": "chat.completion.chunk",
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
    }


def events(raw: bytes) -> list[dict[str, Any]]:
    found = []
    for block in raw.decode().split("\n\n"):
        lines = dict(line.split(": ", 1) for line in block.splitlines() if ": " in line)
        if lines:
            payload = json.loads(lines["data"])
            assert lines["event"] == payload["type"]
            found.append(payload)
    return found


def test_canonical_chunks_stream_as_the_responses_events_in_order() -> None:
    made = exchange({"input": "q"})
    encoder = ResponsesEncoder(made)
    raw = b"".join(
        encoder.feed(c)  # type: ignore[arg-type]
        for c in (
            chunk({"reasoning_content": "hmm"}),
            chunk({"thinking_blocks": [{"type": "thinking", "signature": "sig"}]}),
            chunk({"content": "Hel"}),
            chunk({"content": "lo"}),
            chunk({"tool_calls": [{"index": 0, "id": "call_1", "function": {"name": "f", "arguments": "{}"}}]}),
            chunk({}, "tool_calls"),
        )
    )
    raw += encoder.finish(Usage(10, 4), native=False, cost=123)
    sent = events(raw)
    assert [event["type"] for event in sent] == [
        "response.created", "response.in_progress",
        "response.output_item.added", "response.reasoning_summary_part.added", "response.reasoning_summary_text.delta",
        "response.reasoning_summary_text.done", "response.reasoning_summary_part.done", "response.output_item.done",
        "response.output_item.added", "response.content_part.added", "response.output_text.delta",
        "response.output_text.delta", "response.output_text.done", "response.content_part.done",
        "response.output_item.done",
        "response.output_item.added", "response.function_call_arguments.delta",
        "response.function_call_arguments.done", "response.output_item.done",
        "response.completed",
    ]  # fmt: skip
    assert [event["sequence_number"] for event in sent] == list(range(len(sent)))
    final = sent[-1]["response"]
    assert [item["type"] for item in final["output"]] == ["reasoning", "message", "function_call"]
    assert decoded_thinking(final["output"][0]["encrypted_content"]) == [
        {"type": "thinking", "thinking": "hmm", "signature": "sig"}
    ]
    assert final["output"][1]["content"][0]["text"] == "Hello"
    assert final["usage"] == {
        "input_tokens": 10, "input_tokens_details": {"cached_tokens": 0}, "output_tokens": 4,
        "output_tokens_details": {"reasoning_tokens": 0}, "total_tokens": 14, "cost": 0.000123,
    }  # fmt: skip
    assert made.context.final == final


def test_an_openai_upstreams_events_pass_through_made_the_gateways() -> None:
    made = exchange({"input": "q", "store": True})
    encoder = ResponsesEncoder(made)
    upstream = {"id": "resp_upstream", "store": False, "status": "in_progress", "output": []}

    def raw(kind: str, **fields: Any) -> Any:
        from gateway.canonical import StreamEvent

        payload = {"type": kind, "sequence_number": 0, **fields}
        return StreamEvent(raw=f"event: {kind}\ndata: {json.dumps(payload)}\n\n".encode())

    created = events(encoder.passthrough(raw("response.created", response=upstream)))
    delta = encoder.passthrough(raw("response.output_text.delta", delta="hi"))
    held = encoder.passthrough(
        raw("response.completed", response={**upstream, "status": "completed", "usage": {"input_tokens": 1}})
    )
    assert (created[0]["response"]["id"], created[0]["response"]["store"]) == ("resp_gw1", True)
    assert events(delta)[0]["delta"] == "hi"
    assert held == b""  # until the request is settled
    (completed,) = events(encoder.finish(None, native=True, cost=5))
    assert completed["response"]["id"] == "resp_gw1"
    assert completed["response"]["usage"] == {"input_tokens": 1, "cost": 0.000005}


def test_an_error_ending_an_openai_upstreams_stream_is_numbered_after_its_events() -> None:
    """The stream cut after the upstream's events 0 to 4: the gateway's error event is 5, not 0."""
    from gateway.canonical import StreamEvent
    from gateway.errors import ProviderError

    for ending in ("error", "finish"):
        encoder = ResponsesEncoder(exchange({"input": "q"}))
        for number in range(5):
            payload = {"type": "response.output_text.delta", "delta": "x", "sequence_number": number}
            encoder.passthrough(StreamEvent(raw=f"data: {json.dumps(payload)}\n\n".encode()))
        last = encoder.error(ProviderError("cut")) if ending == "error" else encoder.finish(None, native=True, cost=0)
        assert events(last)[0]["sequence_number"] == 5


def test_a_whole_answer_from_another_vendor_is_a_response() -> None:
    made = exchange({"input": "q"})
    canonical = {
        "id": "x", "object": "chat.completion", "created": 1, "model": "m",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": "hi"}, "finish_reason": "length"}],
        "usage": {"prompt_tokens": 3, "completion_tokens": 2},
    }  # fmt: skip
    answer = FORMAT.priced(FORMAT.respond(canonical, made), 7, made)  # type: ignore[arg-type]
    assert (answer["status"], answer["incomplete_details"]) == ("incomplete", {"reason": "max_output_tokens"})
    assert answer["output"][0]["content"][0]["text"] == "hi"
    assert answer["usage"]["cost"] == 0.000007
    assert made.context.final == answer
