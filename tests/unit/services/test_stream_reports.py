"""The counts a provider reports before a stream's final usage, each format's ending, and what the
relay makes of them: a stream that ends without its final usage is charged on the counts reported so
far (its output no less than the estimate of what was produced); an event the gateway cannot read
ends the stream with an error event after what was read before it; Gemini streams get their own
heartbeat; `:streamGenerateContent` is served as SSE only."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from decimal import Decimal
from types import SimpleNamespace
from typing import Any

import pytest

from gateway.billing.charges import Charge
from gateway.canonical import ServerTools, StreamEvent, Usage
from gateway.catalog.registry import Pricing
from gateway.errors import InvalidRequest
from gateway.formats.gemini_answers import GeminiEncoder
from gateway.providers.anthropic.response import StreamTranslator as AnthropicTranslator
from gateway.providers.errors import UpstreamFailure
from gateway.providers.gemini.response import StreamTranslator as GeminiTranslator
from gateway.providers.openai import response as openai_response
from gateway.providers.streams import MALFORMED, Reported, ReportingEvents
from gateway.services.chat import ChatCall
from gateway.services.relay import HEARTBEAT, relay
from gateway.services.routing import parse_gemini_target

# ---------------------------------------------------------------- what each provider's stream reports


def test_anthropic_reports_message_starts_counts_then_the_final_ones_and_ends_at_message_stop() -> None:
    translator = AnthropicTranslator("claude")
    assert translator.reported() is None
    usage = {"input_tokens": 7, "output_tokens": 1, "cache_read_input_tokens": 3}
    translator.feed("message_start", {"type": "message_start", "message": {"id": "msg_1", "usage": usage}})
    assert translator.reported() == Reported(Usage(10, 1, cached_tokens=3), final=False)
    translator.feed("message_delta", {"type": "message_delta", "delta": {}, "usage": {"output_tokens": 2}})
    assert translator.reported() == Reported(Usage(10, 2, cached_tokens=3), final=True)
    assert not translator.ended
    translator.feed("message_stop", {"type": "message_stop"})
    assert translator.ended


def test_gemini_reports_its_last_usage_metadata_final_once_every_candidate_finished() -> None:
    translator = GeminiTranslator("gemini")

    def chunk(text: str, produced: int, finish: str | None = None) -> dict[str, Any]:
        candidate: dict[str, Any] = {"content": {"parts": [{"text": text}]}, "index": 0}
        if finish:
            candidate["finishReason"] = finish
        return {"candidates": [candidate], "usageMetadata": {"promptTokenCount": 7, "candidatesTokenCount": produced}}

    translator.feed(chunk("hello ", 1))
    assert (translator.reported(), translator.ended) == (Reported(Usage(7, 1), final=False), False)
    translator.feed(chunk("world", 2, "STOP"))
    assert (translator.reported(), translator.ended) == (Reported(Usage(7, 2), final=True), True)


def test_an_openai_compatible_error_event_is_a_failure_whether_an_object_or_a_text() -> None:
    with pytest.raises(UpstreamFailure, match="out of memory"):
        openai_response.stream_event(json.dumps({"error": "CUDA out of memory", "error_type": "generation"}))
    with pytest.raises(UpstreamFailure, match="overloaded"):
        openai_response.stream_event(json.dumps({"error": {"message": "overloaded"}}))
    assert openai_response.stream_event(json.dumps({"error": None, "choices": []})).chunks


def test_an_openai_stream_ends_at_done_or_a_finish_reason() -> None:
    def chunk(finish: str | None) -> str:
        return json.dumps({"choices": [{"index": 0, "delta": {}, "finish_reason": finish}]})

    assert openai_response.ends(openai_response.stream_event("[DONE]"))
    assert openai_response.ends(openai_response.stream_event(chunk("stop")))
    assert not openai_response.ends(openai_response.stream_event(chunk(None)))
    assert not openai_response.ends(openai_response.stream_event(json.dumps({"choices": 5})))
    _, last = openai_response.responses_stream_event("response.completed", json.dumps({"response": {}}))
    assert last
    assert not openai_response.responses_stream_event("", json.dumps({"type": "response.created"}))[1]


# ---------------------------------------------------------------- the charge on reported counts


def call_for(tools: ServerTools = ServerTools()) -> ChatCall:  # noqa: B008 - frozen
    pricing = Pricing(input=Decimal(1), output=Decimal(2))
    leg = SimpleNamespace(entry=SimpleNamespace(pricing=pricing), prompt_bound=1_000, output_cap=100)
    plan: Any = SimpleNamespace(leg=lambda candidate: leg)
    exchange = SimpleNamespace(server_tools=tools, unseen_completions=0)
    return ChatCall(exchange, plan, SimpleNamespace())  # type: ignore[arg-type]


def test_reported_counts_charge_the_prompt_as_reported_and_the_output_no_less_than_the_estimate() -> None:
    call = call_for()
    charge = call.charge_reported(None, Usage(7, 1, cached_tokens=0), produced_bytes=11)  # type: ignore[arg-type]
    assert (charge.prompt_tokens, charge.completion_tokens, charge.estimated) == (7, 11, True)
    more = call.charge_reported(None, Usage(7, 40), produced_bytes=11)  # type: ignore[arg-type]
    assert (more.prompt_tokens, more.completion_tokens) == (7, 40)
    assert charge.cost == call.charge(None, Usage(7, 11), 11).cost  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("tools", "reported"),
    [(ServerTools(web_searches=2), Usage(7, 1)), (ServerTools(rounds=1), Usage(7, 1)), (ServerTools(), Usage(0, 1))],
    ids=["web-search", "code-execution", "no-prompt-count"],
)
def test_reported_counts_that_may_not_cover_the_prompt_charge_the_bound(tools: ServerTools, reported: Usage) -> None:
    charge = call_for(tools).charge_reported(None, reported, produced_bytes=11)  # type: ignore[arg-type]
    assert (charge.prompt_tokens, charge.completion_tokens, charge.estimated) == (1_000, 11, True)


# ---------------------------------------------------------------- the relay


class Encoder:
    def passthrough(self, event: StreamEvent) -> bytes:
        if event.raw == b"bad":
            raise TypeError("'int' object is not iterable")
        return event.raw or b""

    def finish(self, usage: Any, *, native: bool, cost: int) -> bytes:
        return b"end"

    def error(self, error: Any) -> bytes:
        return f"error:{error.message}".encode()


def run(events: AsyncIterator[StreamEvent], encoder: Any = Encoder) -> tuple[list[bytes], list[Any]]:
    settled: list[Any] = []

    async def settle(outcome: Any) -> int:
        settled.append(outcome)
        return 0

    meter = SimpleNamespace(
        deadline=None,
        settle=settle,
        served=lambda candidate, started, charge, *, error_code, first_at: (charge.units["as"], error_code),
        failed=lambda failure: ("failed", failure.code),
    )
    call = SimpleNamespace(
        exchange=SimpleNamespace(encoder=encoder),
        meter=meter,
        # charges that say how they were asked for
        charge=lambda candidate, usage, produced: Charge(
            0, units={"as": ("reported" if usage else "estimated", usage, produced)}
        ),
        charge_reported=lambda candidate, usage, produced: Charge(0, units={"as": ("partial", usage, produced)}),
    )
    stream = SimpleNamespace(candidate=None, native=True, events=events, stack=AsyncExitStack(), started=0.0)

    async def scenario() -> list[bytes]:
        return [out async for out in relay(call, stream)]  # type: ignore[arg-type]

    return asyncio.run(scenario()), settled


def text(value: str) -> StreamEvent:
    return StreamEvent(chunks=[{"choices": [{"index": 0, "delta": {"content": value}}]}], raw=value.encode())


def broken(report: Reported | None) -> ReportingEvents:
    async def events() -> AsyncIterator[StreamEvent]:
        yield text("hello")
        raise UpstreamFailure("the provider's stream broke")

    return ReportingEvents(events(), lambda: report)


def test_a_stream_broken_before_its_final_usage_is_charged_on_the_counts_reported() -> None:
    sent, settled = run(broken(Reported(Usage(7, 1), final=False)))
    assert sent[0] == b"hello"
    assert sent[-1].startswith(b"error:")
    assert settled == [(("partial", Usage(7, 1), 5), "provider_error")]


def test_a_stream_broken_after_its_final_counts_is_charged_on_them() -> None:
    _, settled = run(broken(Reported(Usage(7, 2), final=True)))
    assert settled == [(("reported", Usage(7, 2), 5), "provider_error")]


def test_a_stream_that_reported_nothing_is_charged_on_the_estimate() -> None:
    _, settled = run(broken(None))
    assert settled == [(("estimated", None, 5), "provider_error")]


def test_an_event_that_cannot_be_read_ends_the_stream_after_those_read_before_it() -> None:
    async def events() -> AsyncIterator[StreamEvent]:
        yield text("hello")  # read in one batch with the next: still delivered
        yield StreamEvent(raw=b"bad")
        yield text("never")

    sent, settled = run(events())
    assert b"".join(sent) == b"hello" + f"error:The provider failed to answer: {MALFORMED}".encode()
    assert settled == [(("estimated", None, 5), "provider_error")]


def test_an_upstream_reader_that_breaks_on_an_event_is_a_malformed_event() -> None:
    async def events() -> AsyncIterator[StreamEvent]:
        yield text("hello")
        raise AttributeError("'str' object has no attribute 'get'")

    sent, settled = run(events())
    assert sent[-1] == f"error:The provider failed to answer: {MALFORMED}".encode()
    assert settled == [(("estimated", None, 5), "provider_error")]


def test_a_gemini_stream_heartbeat_is_an_empty_line(monkeypatch: pytest.MonkeyPatch) -> None:
    from gateway.services import relay as relaying

    settings = SimpleNamespace(heartbeat_seconds=0.05, disconnect_drain_seconds=1.0)
    monkeypatch.setattr(relaying, "get_settings", lambda: settings)

    async def slow() -> AsyncIterator[StreamEvent]:
        yield text("hello")
        await asyncio.sleep(0.2)
        yield StreamEvent(raw=b"done")

    class Gemini(Encoder):
        heartbeat = GeminiEncoder.heartbeat

    gemini, _ = run(slow(), Gemini)
    assert GeminiEncoder.heartbeat == b"\r\n"
    assert b"\r\n" in gemini
    assert HEARTBEAT not in gemini
    others, _ = run(slow())
    assert HEARTBEAT in others


# ---------------------------------------------------------------- Gemini's `alt`


def test_stream_generate_content_is_served_as_sse_only() -> None:
    assert parse_gemini_target("gemini-2.5-flash:streamGenerateContent", "sse") == ("gemini-2.5-flash", True)
    assert parse_gemini_target("gemini-2.5-flash:generateContent", None) == ("gemini-2.5-flash", False)
    for alt in (None, "json", "proto"):
        with pytest.raises(InvalidRequest) as refused:
            parse_gemini_target("gemini-2.5-flash:streamGenerateContent", alt)
        assert refused.value.param == "alt"
