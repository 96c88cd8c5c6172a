"""The Responses API's stream of typed events, from canonical chunks (a translated upstream) or an
OpenAI upstream's own events, settled before its terminal event goes out. Pure."""

from __future__ import annotations

import json
from typing import Any

from gateway.canonical import ChatChunk, StreamEvent, Usage
from gateway.dialects.anthropic import ThinkingBlocks
from gateway.dialects.gemini import call_signature
from gateway.errors import GatewayError
from gateway.formats.inbound import Exchange
from gateway.formats.responses import ResponseContext
from gateway.formats.responses_objects import (
    INCOMPLETE,
    LIFECYCLE,
    TERMINAL,
    call_item,
    message_item,
    new_id,
    own,
    reasoning_item,
    reasoning_tokens,
    response_object,
    sse,
    usage_object,
)
from gateway.formats.responses_thinking import signature_block
from gateway.money import display


def _obj(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


class ResponsesEncoder:
    """Canonical chunks as the Responses API's stream events, in its order: response.created and
    response.in_progress, each output item added, its deltas, done; then the terminal event once
    the stream is settled. An OpenAI upstream's own events pass through (its lifecycle events made the
    gateway's, its terminal event held back until settlement)."""

    def __init__(self, exchange: Exchange) -> None:
        self.context: ResponseContext = exchange.context
        self.model = exchange.model
        self.sequence = 0
        self.output: list[dict[str, Any]] = []
        self.open: dict[str, Any] | None = None  # the item being streamed
        self.key: Any = None  # what the open item is: "message", "reasoning" or ("call", index)
        self.text = ""  # the open item's text (or arguments)
        self.thinking = ThinkingBlocks()  # signed thinking of the open reasoning item
        self.finish_reason: str | None = None
        self.reasoning_tokens = 0
        self.held: dict[str, Any] | None = None  # an OpenAI upstream's terminal event
        self.started = False

    # ------------------------------------------------------------ translated streams

    def feed(self, chunk: ChatChunk) -> bytes:
        events = self._start()
        self.reasoning_tokens = reasoning_tokens(chunk.get("usage")) or self.reasoning_tokens
        choices: list[Any] = list(chunk.get("choices") or [])
        choice = _obj(choices[0] if choices else None)
        delta = _obj(choice.get("delta"))
        reasoning = delta.get("reasoning_content") or delta.get("reasoning")
        if isinstance(reasoning, str) and reasoning:
            events += self._switch("reasoning")
            events += self._reasoning_delta(reasoning)
        if delta.get("thinking_blocks"):  # a block's signature closes the open reasoning item's text
            events += self._switch("reasoning")
        self.thinking.feed(delta)
        text = delta.get("content") or delta.get("refusal")
        if isinstance(text, str) and text:
            events += self._switch("message")
            events.append(self._text_delta(text))
        for call in map(_obj, delta.get("tool_calls") or []):
            function = _obj(call.get("function"))
            key = ("call", call.get("index", 0))
            if key != self.key and (signature := call_signature(call)):  # Gemini's, kept in a reasoning item
                events += self._switch("reasoning")
                self.thinking.blocks.append(signature_block(str(call.get("id")), signature))
            if key != self.key:
                events += self._switch(key, call.get("id"), function.get("name"))
            if function.get("arguments"):
                events.append(self._arguments_delta(str(function["arguments"])))
        if choice.get("finish_reason"):
            self.finish_reason = str(choice["finish_reason"])
        return b"".join(map(sse, events))

    def _start(self) -> list[dict[str, Any]]:
        if self.started:
            return []
        self.started = True
        opening = response_object(self.context, self.model, "in_progress", [])
        return [
            self._event("response.created", response=opening),
            self._event("response.in_progress", response=opening),
        ]

    def _event(self, kind: str, **fields: Any) -> dict[str, Any]:
        event = {"type": kind, **fields, "sequence_number": self.sequence}
        self.sequence += 1
        return event

    def _switch(self, key: Any, call_id: Any = None, name: Any = None) -> list[dict[str, Any]]:
        """Closes the open item unless it is `key`; opens `key`'s item."""
        if key == self.key:
            return []
        events = self._close()
        self.key, self.text, self.thinking = key, "", ThinkingBlocks()
        index = len(self.output)
        if key == "message":
            self.open = message_item(new_id("msg"), "", "in_progress")
            part = {"type": "output_text", "text": "", "annotations": [], "logprobs": []}
            events.append(self._event("response.output_item.added", output_index=index, item=self.open))
            events.append(
                self._event(
                    "response.content_part.added",
                    item_id=self.open["id"],
                    output_index=index,
                    content_index=0,
                    part=part,
                )
            )
        elif key == "reasoning":
            self.open = reasoning_item(new_id("rs"), "", [])
            events.append(self._event("response.output_item.added", output_index=index, item=self.open))
        else:
            self.open = call_item(new_id("fc"), call_id, name, "", "in_progress")
            events.append(self._event("response.output_item.added", output_index=index, item=dict(self.open)))
        return events

    def _reasoning_delta(self, delta: str) -> list[dict[str, Any]]:
        assert self.open is not None
        item_id, index, events = self.open["id"], len(self.output), []
        if not self.text:  # the summary part opens with its first text
            part = {"type": "summary_text", "text": ""}
            events.append(
                self._event(
                    "response.reasoning_summary_part.added",
                    item_id=item_id,
                    output_index=index,
                    summary_index=0,
                    part=part,
                )
            )
        self.text += delta
        events.append(
            self._event(
                "response.reasoning_summary_text.delta",
                item_id=item_id,
                output_index=index,
                summary_index=0,
                delta=delta,
            )
        )
        return events

    def _text_delta(self, delta: str) -> dict[str, Any]:
        assert self.open is not None
        self.text += delta
        return self._event(
            "response.output_text.delta",
            item_id=self.open["id"],
            output_index=len(self.output),
            content_index=0,
            delta=delta,
            logprobs=[],
        )

    def _arguments_delta(self, delta: str) -> dict[str, Any]:
        assert self.open is not None
        self.text += delta
        return self._event(
            "response.function_call_arguments.delta",
            item_id=self.open["id"],
            output_index=len(self.output),
            delta=delta,
        )

    def _close(self) -> list[dict[str, Any]]:
        if self.open is None:
            return []
        item, index, events = self.open, len(self.output), []
        if self.key == "message":
            done = message_item(item["id"], self.text)
            part = {"type": "output_text", "text": self.text, "annotations": [], "logprobs": []}
            events.append(
                self._event(
                    "response.output_text.done",
                    item_id=item["id"],
                    output_index=index,
                    content_index=0,
                    text=self.text,
                    logprobs=[],
                )
            )
            events.append(
                self._event(
                    "response.content_part.done", item_id=item["id"], output_index=index, content_index=0, part=part
                )
            )
        elif self.key == "reasoning":
            done = reasoning_item(item["id"], self.text, self.thinking.blocks)
            if self.text:
                summary = {"type": "summary_text", "text": self.text}
                events.append(
                    self._event(
                        "response.reasoning_summary_text.done",
                        item_id=item["id"],
                        output_index=index,
                        summary_index=0,
                        text=self.text,
                    )
                )
                events.append(
                    self._event(
                        "response.reasoning_summary_part.done",
                        item_id=item["id"],
                        output_index=index,
                        summary_index=0,
                        part=summary,
                    )
                )
        else:
            arguments = self.text or "{}"  # a call without arguments (Claude streams none): still JSON
            done = call_item(item["id"], item["call_id"], item["name"], arguments)
            events.append(
                self._event(
                    "response.function_call_arguments.done",
                    item_id=item["id"],
                    output_index=index,
                    name=item["name"],
                    arguments=arguments,
                )
            )
        events.append(self._event("response.output_item.done", output_index=index, item=done))
        self.output.append(done)
        self.open, self.key, self.text, self.thinking = None, None, "", ThinkingBlocks()
        return events

    # ------------------------------------------------------------ an OpenAI upstream's own stream

    def passthrough(self, event: StreamEvent) -> bytes:
        payload = _data(event.raw or b"")
        kind = payload.get("type") if payload is not None else None
        number = payload.get("sequence_number") if payload is not None else None
        if isinstance(number, int) and not isinstance(number, bool):  # an error of ours comes after it
            self.sequence = max(self.sequence, number + 1)
        if payload is None or kind not in LIFECYCLE:
            return event.raw or b""
        self.started = True
        if kind in TERMINAL:
            self.held = payload  # sent once the stream is settled, with its cost
            return b""
        return sse({**payload, "response": own(_obj(payload.get("response")), self.context)})

    # ------------------------------------------------------------ the end

    def finish(self, usage: Usage | None, *, native: bool, cost: int) -> bytes:
        if native:
            return self._finish_native(cost, usage)
        events = self._start() + self._close()
        incomplete = INCOMPLETE.get(str(self.finish_reason))
        status = "incomplete" if incomplete else "completed"
        counts = usage_object(usage, self.reasoning_tokens) or {}
        response = response_object(
            self.context, self.model, status, self.output, {**counts, "cost": display(cost)}, incomplete
        )
        self.context.final = response
        events.append(self._event(f"response.{status}", response=response))
        return b"".join(map(sse, events))

    def _finish_native(self, cost: int, usage: Usage | None) -> bytes:
        if self.held is None:  # the upstream ended without a terminal event
            failure = {
                "type": "error",
                "code": "interrupted",
                "message": "The provider's stream ended early.",
                "param": None,
            }
            return sse({**failure, "sequence_number": self.sequence})
        response = own(_obj(self.held.get("response")), self.context)
        sent = _obj(response.get("usage"))
        if usage is not None and not isinstance(sent.get("input_tokens"), int):  # none it sent: the charge's
            sent = {**sent, **(usage_object(usage) or {})}
        response["usage"] = {**sent, "cost": display(cost)}
        if self.held.get("type") != "response.failed":
            self.context.final = response
        return sse({**self.held, "response": response})

    def error(self, error: GatewayError) -> bytes:
        return sse(self._event("error", code=error.code, message=error.message, param=error.param))


def _data(raw: bytes) -> dict[str, Any] | None:
    """The JSON of one SSE event's `data:` line."""
    for line in raw.decode("utf-8", errors="replace").splitlines():
        if line.startswith("data:"):
            try:
                payload = json.loads(line[5:].strip())
            except (ValueError, RecursionError):
                return None
            return payload if isinstance(payload, dict) else None
    return None
