"""Streams whose upstream does not end as its format ends, and their money: the usage the provider
reported before a break is charged (not the prompt bound); a body that ends before its last event,
an error event (OpenAI's or text-generation-inference's), or an event of the wrong shape ends the
client's stream with its format's error event; a stream with no event at all is no answer.

Each test puts a route in front of a fake upstream's own (`scripted_route`) that answers only
requests holding the test's marker, in that provider's wire format."""

from __future__ import annotations

import asyncio
import json
import secrets
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from typing import Any

import anthropic
import httpx
import openai
import pytest
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route

from tests.conftest import balance_of, settled_entry
from tests.support.pricing import price_micro
from tests.support.sdks import anthropic_sdk, openai_sdk

GRANT = 10_000_000
ANTHROPIC_HEADERS = {"anthropic-version": "2023-06-01"}
PADDED = "padding " * 200  # ~1.6 KB of prompt: its bound is ~1,700 'tokens', far above what is reported
Frames = list[bytes] | Callable[[], AsyncIterator[bytes]]


# ---------------------------------------------------------------- upstreams the shared fakes do not script


@contextmanager
def scripted_route(app: Any, path: str, marker: str, frames: Frames) -> Iterator[None]:
    """`frames` as the answer (text/event-stream) to the requests holding `marker`."""
    original = next(route for route in app.router.routes if getattr(route, "path", None) == path)

    async def endpoint(request: Request) -> Response:
        if marker.encode() not in await request.body():
            return await original.endpoint(request)
        return StreamingResponse(frames() if callable(frames) else _each(frames), media_type="text/event-stream")

    route = Route(path, endpoint, methods=["POST"])
    app.router.routes.insert(0, route)
    try:
        yield
    finally:
        app.router.routes.remove(route)


async def _each(frames: list[bytes]) -> AsyncIterator[bytes]:
    for frame in frames:
        yield frame


def cut_after(frames: list[bytes], count: int) -> Callable[[], AsyncIterator[bytes]]:
    """The first `count` frames, then the connection breaks."""

    async def body() -> AsyncIterator[bytes]:
        for frame in frames[:count]:
            yield frame
        raise ConnectionResetError("the upstream's connection broke")

    return body


def new_marker() -> str:
    return "zzmark" + secrets.token_hex(6)


def data(payload: Any) -> bytes:
    return f"data: {json.dumps(payload)}\n\n".encode()


def event(name: str, payload: Any) -> bytes:
    return f"event: {name}\ndata: {json.dumps(payload)}\n\n".encode()


def openai_chunk(delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
    choice = {"index": 0, "delta": delta, "finish_reason": finish}
    return {"id": "chatcmpl-x", "object": "chat.completion.chunk", "created": 1, "model": "echo", "choices": [choice]}


def text_delta(text: str) -> bytes:
    delta = {"type": "text_delta", "text": text}
    return event("content_block_delta", {"type": "content_block_delta", "index": 0, "delta": delta})


def anthropic_frames(*, input_tokens: int = 7, output_tokens: int = 2) -> list[bytes]:
    """A whole Anthropic stream: input on message_start, the final output on message_delta, message_stop."""
    usage = {"input_tokens": input_tokens, "output_tokens": 1}
    start = {"id": "msg_1", "type": "message", "role": "assistant", "model": "claude-echo", "content": [],
             "stop_reason": None, "stop_sequence": None, "usage": usage}  # fmt: skip
    block = {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}}
    ending = {"type": "message_delta", "delta": {"stop_reason": "end_turn", "stop_sequence": None},
              "usage": {"output_tokens": output_tokens}}  # fmt: skip
    return [
        event("message_start", {"type": "message_start", "message": start}),
        event("content_block_start", block),
        text_delta("hello "),
        text_delta("world"),
        event("content_block_stop", {"type": "content_block_stop", "index": 0}),
        event("message_delta", ending),
        event("message_stop", {"type": "message_stop"}),
    ]


def gemini_frames(*, prompt: int = 7, output: int = 2, every_chunk: bool = False) -> list[bytes]:
    """A whole Gemini stream: the last chunk carries finishReason and the final usageMetadata (with
    `every_chunk`, each chunk carries the usage so far, as Gemini's API does)."""

    def chunk(text: str, produced: int, last: bool) -> bytes:
        candidate: dict[str, Any] = {"content": {"role": "model", "parts": [{"text": text}]}, "index": 0}
        payload: dict[str, Any] = {"candidates": [candidate], "modelVersion": "gemini-echo", "responseId": "r1"}
        if last:
            candidate["finishReason"] = "STOP"
        if last or every_chunk:
            payload["usageMetadata"] = {"promptTokenCount": prompt, "candidatesTokenCount": produced,
                                        "totalTokenCount": prompt + produced}  # fmt: skip
        return f"data: {json.dumps(payload)}\r\n\r\n".encode()

    return [chunk("hello ", 1, False), chunk("world", output, True)]


def stream_raw(url: str, path: str, body: dict[str, Any], headers: dict[str, str]) -> tuple[int, str, str]:
    """(status, what the client read, trace id); a broken connection is part of what it read."""
    with httpx.stream("POST", f"{url}{path}", json=body, headers=headers, timeout=20) as response:
        trace_id = response.headers["x-trace-id"]
        try:
            raw = response.read().decode()
        except httpx.HTTPError as error:
            raw = f"<transport error: {type(error).__name__}>"
    return response.status_code, raw, trace_id


def chat_body(model: str, text: str) -> dict[str, Any]:
    return {"model": model, "stream": True, **sdk_arguments(model, text)}


def sdk_arguments(model: str, text: str) -> dict[str, Any]:
    return {"model": model, "max_tokens": 100, "messages": [{"role": "user", "content": text}]}


def ask(url: str, client_format: str, key: str, body: dict[str, Any]) -> tuple[int, str, str]:
    if client_format == "anthropic":
        return stream_raw(url, "/v1/messages", body, {"x-api-key": key, **ANTHROPIC_HEADERS})
    return stream_raw(url, "/v1/chat/completions", body, {"Authorization": f"Bearer {key}"})


# ---------------------------------------------------------------- the usage reported before a break


@pytest.mark.parametrize("client_format", ["anthropic", "openai"])
def test_anthropic_usage_reported_on_message_delta_is_charged_when_the_stream_breaks_before_message_stop(
    gateway_url, upstream, fake_servers, make_tenant, client_format
):
    tenant, marker = make_tenant("10"), new_marker()
    with scripted_route(fake_servers["anthropic"].app, "/v1/messages", marker, cut_after(anthropic_frames(), 6)):
        status, raw, trace_id = ask(gateway_url, client_format, tenant.key, chat_body("test/claude", marker + PADDED))
    entry = settled_entry(trace_id)
    assert status == 200
    assert "world" in raw
    assert '"error"' in raw.strip().splitlines()[-1]
    assert (entry["prompt_tokens"], entry["completion_tokens"], entry["usage_estimated"]) == (7, 2, False), entry
    assert entry["status"] == "error"
    assert entry["credits"] == price_micro(7, 2)
    assert balance_of(tenant.account_id) == GRANT - price_micro(7, 2)


def test_an_anthropic_stream_broken_before_message_delta_is_charged_its_reported_prompt_and_the_output_estimate(
    gateway_url, upstream, fake_servers, make_tenant
):
    # Given a stream that reported its input (7) on message_start, sent "hello world", then broke
    tenant, marker = make_tenant("10"), new_marker()
    with scripted_route(fake_servers["anthropic"].app, "/v1/messages", marker, cut_after(anthropic_frames(), 4)):
        status, raw, trace_id = ask(gateway_url, "openai", tenant.key, chat_body("test/claude", marker + PADDED))
    entry = settled_entry(trace_id)
    # Then the prompt is charged as reported, the output on the covering estimate (a token a byte)
    assert status == 200
    assert "world" in raw
    assert (entry["prompt_tokens"], entry["completion_tokens"], entry["usage_estimated"]) == (7, 11, True), entry
    assert entry["credits"] == price_micro(7, 11)


@pytest.mark.parametrize("every_chunk", [False, True], ids=["usage-at-the-end", "usage-on-every-chunk"])
def test_gemini_usage_metadata_is_charged_when_the_stream_breaks(
    gateway_url, upstream, fake_servers, make_tenant, every_chunk
):
    # Given a Gemini stream that broke after its last chunk (final usage 7 + 2), or after its first
    # (usage so far: 7 + 1, for "hello ": 6 bytes)
    tenant, marker = make_tenant("10"), new_marker()
    sent = 2 if not every_chunk else 1
    frames = cut_after(gemini_frames(every_chunk=every_chunk), sent)
    body = {"contents": [{"role": "user", "parts": [{"text": marker + PADDED}]}]}
    with scripted_route(fake_servers["gemini"].app, "/v1beta/models/{target}", marker, frames):
        status, raw, trace_id = stream_raw(
            gateway_url, "/v1beta/models/test/gemini:streamGenerateContent?alt=sse", body,
            {"x-goog-api-key": tenant.key},
        )  # fmt: skip
    entry = settled_entry(trace_id)
    assert status == 200
    assert '"error"' in raw.strip().splitlines()[-1]
    expected = (7, 2, False) if not every_chunk else (7, len(b"hello "), True)  # the output no less than sent
    assert (entry["prompt_tokens"], entry["completion_tokens"], entry["usage_estimated"]) == expected, entry
    assert entry["credits"] == price_micro(*expected[:2])


def test_a_client_that_stops_an_anthropic_stream_early_pays_the_reported_prompt_not_the_prompt_bound(
    gateway_url, upstream, fake_servers, make_tenant
):
    # Given an Anthropic upstream that reports 7 input tokens on message_start, then writes slowly for
    # longer than the gateway's drain grace (DISCONNECT_DRAIN_SECONDS)
    tenant, marker = make_tenant("10"), new_marker()
    frames = anthropic_frames(output_tokens=40)

    async def slow() -> AsyncIterator[bytes]:
        for frame in frames[:2]:
            yield frame
        for index in range(40):
            yield text_delta(f"w{index} ")
            await asyncio.sleep(0.2)
        for frame in frames[4:]:
            yield frame

    with scripted_route(fake_servers["anthropic"].app, "/v1/messages", marker, slow):
        headers = {"x-api-key": tenant.key, **ANTHROPIC_HEADERS}
        body = chat_body("test/claude", marker + PADDED)
        with httpx.stream("POST", f"{gateway_url}/v1/messages", json=body, headers=headers, timeout=20) as response:
            trace_id = response.headers["x-trace-id"]
            for line in response.iter_lines():
                if "text_delta" in line:
                    break  # the user pressed stop
        entry = settled_entry(trace_id, timeout=15)
    assert (entry["error_code"], entry["prompt_tokens"], entry["usage_estimated"]) == ("client_disconnected", 7, True)
    assert entry["completion_tokens"] >= len(b"w0 ")


# ---------------------------------------------------------------- streams that do not end as their format ends


@pytest.mark.parametrize("upstream_kind", ["openai", "anthropic", "bedrock"])
def test_an_upstream_stream_with_no_event_at_all_is_neither_a_success_nor_charged(
    gateway_url, upstream, fake_servers, make_tenant, upstream_kind
):
    tenant, marker = make_tenant("10"), new_marker()
    model = {"openai": "test/echo", "anthropic": "test/claude", "bedrock": "test/bedrock"}[upstream_kind]
    route: AbstractContextManager[None] = nullcontext()
    if upstream_kind == "bedrock":
        fake_servers["bedrock"].answer_stream([], "req-empty")  # ConverseStream with no event
    else:
        app, path = (upstream.app, "/v1/chat/completions") if upstream_kind == "openai" else (
            fake_servers["anthropic"].app, "/v1/messages")  # fmt: skip
        route = scripted_route(app, path, marker, [b": nothing here\n\n"])
    with route:
        status, raw, trace_id = ask(gateway_url, "openai", tenant.key, chat_body(model, f"hi {marker}"))
    assert status >= 500, raw
    assert "[DONE]" not in raw
    assert settled_entry(trace_id)["credits"] == 0
    assert balance_of(tenant.account_id) == GRANT


def test_an_anthropic_stream_ended_before_message_delta_gets_no_forged_message_stop(
    gateway_url, upstream, fake_servers, make_tenant
):
    tenant, marker = make_tenant("10"), new_marker()
    with scripted_route(fake_servers["anthropic"].app, "/v1/messages", marker, anthropic_frames()[:4]):
        _status, raw, trace_id = ask(gateway_url, "anthropic", tenant.key, chat_body("test/claude", f"hi {marker}"))
        raised: Exception | None = None
        try:
            claude = anthropic_sdk(gateway_url, tenant.key)
            with claude.messages.stream(**sdk_arguments("test/claude", f"hi {marker}")) as stream:
                stream.get_final_message()
        except anthropic.APIError as error:
            raised = error
    entry = settled_entry(trace_id)
    assert "event: message_delta" not in raw, raw[-400:]
    assert "event: message_stop" not in raw, raw[-400:]
    assert raw.rstrip().endswith("}")
    assert "event: error" in raw
    assert raised is not None, "the anthropic SDK took a truncated stream for a whole message"
    # charged for what was produced: the prompt as reported, "hello world" on the estimate
    assert (entry["status"], entry["prompt_tokens"], entry["completion_tokens"]) == ("error", 7, 11), entry


@pytest.mark.parametrize("upstream_kind", ["openai", "anthropic", "gemini", "bedrock"])
def test_a_stream_the_upstream_ended_early_is_an_error_for_the_openai_sdk(
    gateway_url, upstream, fake_servers, make_tenant, upstream_kind
):
    # Given an upstream whose body ends after some text, before its own end (OpenAI: no finish_reason
    # nor [DONE]; Anthropic: no message_delta/message_stop; Gemini: no finishReason; Bedrock: no messageStop)
    tenant, marker = make_tenant("10"), new_marker()
    model = {"openai": "test/echo", "anthropic": "test/claude", "gemini": "test/gemini", "bedrock": "test/bedrock"}
    routes = {
        "openai": (upstream.app, "/v1/chat/completions", [data(openai_chunk({"role": "assistant", "content": "hi"}))]),
        "anthropic": (fake_servers["anthropic"].app, "/v1/messages", anthropic_frames()[:4]),
        "gemini": (fake_servers["gemini"].app, "/v1beta/models/{target}", gemini_frames()[:1]),
    }
    if upstream_kind == "bedrock":
        fake_servers["bedrock"].answer_stream(
            [{"messageStart": {"role": "assistant"}},
             {"contentBlockDelta": {"contentBlockIndex": 0, "delta": {"text": "hello "}}}],
            "req-truncated",
        )  # fmt: skip
    route: AbstractContextManager[None] = nullcontext()
    if upstream_kind in routes:
        app, path, frames = routes[upstream_kind]
        route = scripted_route(app, path, marker, frames)
    with route:
        stream = openai_sdk(gateway_url, tenant.key).chat.completions.create(
            model=model[upstream_kind], messages=[{"role": "user", "content": f"hi {marker}"}], stream=True
        )
        with pytest.raises(openai.APIError):
            list(stream)


def test_an_openai_compatible_upstreams_text_error_event_is_an_error(gateway_url, upstream, make_tenant):
    # Given text-generation-inference's mid-stream failure: `data: {"error": "<text>", "error_type": ...}`
    tenant, marker = make_tenant("10"), new_marker()
    frames = [
        data(openai_chunk({"role": "assistant", "content": "hello "})),
        data({"error": "Request failed during generation: CUDA out of memory", "error_type": "generation"}),
    ]
    with scripted_route(upstream.app, "/v1/chat/completions", marker, frames):
        claude = anthropic_sdk(gateway_url, tenant.key)
        with (
            claude.messages.stream(**sdk_arguments("test/echo", f"hi {marker}")) as stream,
            pytest.raises(anthropic.APIError, match="CUDA out of memory"),
        ):
            stream.get_final_message()


@pytest.mark.parametrize(
    "bad",
    [
        {"id": "x", "object": "chat.completion.chunk", "choices": 5},
        {"id": "x", "object": "chat.completion.chunk", "choices": [{"index": 0, "delta": {"tool_calls": 7}}]},
        {"type": "content_block_delta", "index": 0, "delta": "hello"},  # Anthropic: a delta that is not an object
    ],
    ids=["openai-choices-not-a-list", "openai-tool_calls-not-a-list", "anthropic-delta-not-an-object"],
)
@pytest.mark.parametrize("client_format", ["openai", "anthropic"])
def test_a_malformed_upstream_event_ends_the_stream_with_an_error_event_and_charges_what_was_produced(
    gateway_url, upstream, fake_servers, make_tenant, bad, client_format
):
    tenant, marker = make_tenant("10"), new_marker()
    if "type" in bad:
        frames = anthropic_frames()
        app, path, model = fake_servers["anthropic"].app, "/v1/messages", "test/claude"
        frames = [*frames[:3], event("content_block_delta", bad), *frames[3:]]
    else:
        app, path, model = upstream.app, "/v1/chat/completions", "test/echo"
        frames = [data(openai_chunk({"role": "assistant", "content": "hello "})), data(bad),
                  data(openai_chunk({}, "stop")), b"data: [DONE]\n\n"]  # fmt: skip
    with scripted_route(app, path, marker, frames):
        _status, raw, trace_id = ask(gateway_url, client_format, tenant.key, chat_body(model, f"hi {marker}"))
    entry = settled_entry(trace_id)
    # Then the client got "hello " and its format's error event, not a connection dropped mid-body
    assert "<transport error" not in raw, raw[-300:]
    assert "hello" in raw
    assert "malformed event" in raw.strip().splitlines()[-1]
    assert (entry["status"], entry["error_code"]) == ("error", "provider_error"), entry
    assert entry["credits"] > 0
    assert balance_of(tenant.account_id) == GRANT - entry["credits"]


@pytest.mark.parametrize("client_format", ["openai", "anthropic"])
def test_a_malformed_first_event_produced_nothing_and_costs_nothing(gateway_url, upstream, make_tenant, client_format):
    tenant, marker = make_tenant("10"), new_marker()
    frames = [data({"choices": 5}), data(openai_chunk({}, "stop")), b"data: [DONE]\n\n"]
    with scripted_route(upstream.app, "/v1/chat/completions", marker, frames):
        _status, raw, trace_id = ask(gateway_url, client_format, tenant.key, chat_body("test/echo", f"hi {marker}"))
    assert "malformed event" in raw.strip().splitlines()[-1]
    assert "[DONE]" not in raw
    assert settled_entry(trace_id)["credits"] == 0
    assert balance_of(tenant.account_id) == GRANT
