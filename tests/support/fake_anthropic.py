"""A fake Anthropic Messages API on loopback, speaking its wire format (JSON and SSE events).

Model `claude-echo` answers "echo: <last user text>", or calls the first tool it is given with
{"city": "Paris"}, or, when the last turn returns a tool's result, answers "result: <its text>";
`claude-overloaded` answers 529 overloaded_error. A request with a web search tool searches once (a
server_tool_use and its web_search_tool_result, then "searched: <last user text>"; its usage counts the
search in server_tool_use). `claude-thinker` thinks first (a signed thinking block), then echoes.
`claude-agent` (a coding agent's model) answers "Hi from the fake Claude." whatever tools it is given.
Usage counts words as tokens; each answer's is kept in `usages`. POST /v1/messages/count_tokens counts
words as tokens.
Requests and headers are recorded, so tests can check what the gateway forwarded. A prompt holding a
marker of tests.support.scripted plays that marker's Behaviour instead, whatever the model.
"""

from __future__ import annotations

import json
import threading
from collections.abc import AsyncIterator
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from tests.support.scripted import SCRIPT, Behaviour, Plan

PROVIDER_KEY = "sk-ant-upstream-test-credential"
CACHE_WRITTEN, CACHE_READ = 4_000, 10_000  # what `claude-cache` reports beside the uncached input


class FakeAnthropic:
    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        self.headers: list[dict[str, str]] = []
        self.usages: list[dict[str, Any]] = []
        self.lock = threading.Lock()
        self.app = Starlette(
            routes=[
                Route("/v1/messages", self.messages, methods=["POST"]),
                Route("/v1/messages/count_tokens", self.count_tokens, methods=["POST"]),
            ]
        )

    def reset(self) -> None:
        with self.lock:
            self.requests.clear()
            self.headers.clear()
            self.usages.clear()

    async def count_tokens(self, request: Request) -> Response:
        body = await request.json()
        with self.lock:
            self.requests.append(body)
            self.headers.append(dict(request.headers))
        if request.headers.get("x-api-key") != PROVIDER_KEY or not request.headers.get("anthropic-version"):
            return _error(401, "authentication_error", "invalid x-api-key")
        if "max_tokens" in body or "stream" in body:
            return _error(400, "invalid_request_error", "max_tokens: Extra inputs are not permitted")
        system = body.get("system")
        words = len(_text(system).split()) if isinstance(system, list) else len(str(system or "").split())
        words += sum(len(_text(m.get("content")).split()) for m in body["messages"])
        return JSONResponse({"input_tokens": words})

    async def messages(self, request: Request) -> Response:
        body = await request.json()
        with self.lock:
            self.requests.append(body)
            self.headers.append(dict(request.headers))
        if request.headers.get("x-api-key") != PROVIDER_KEY or not request.headers.get("anthropic-version"):
            return _error(401, "authentication_error", "invalid x-api-key")
        scripted = SCRIPT.find([body.get("system"), body.get("messages")])
        if scripted is not None:
            return await _scripted(body, *scripted)
        if body["model"] == "claude-overloaded":
            return _error(529, "overloaded_error", "Overloaded")
        input_tokens = sum(len(_text(m.get("content")).split()) for m in body["messages"])
        tools = body.get("tools") or []
        result = _tool_result(body["messages"][-1].get("content"))
        searched = any(str(tool.get("type", "")).startswith("web_search_") for tool in tools)
        if body["model"] == "claude-agent":
            block, stop = {"type": "text", "text": "Hi from the fake Claude."}, "end_turn"
        elif searched:
            block, stop = (
                {"type": "text", "text": "searched: " + _text(body["messages"][-1].get("content"))},
                "end_turn",
            )
        elif result is not None:
            block = {"type": "text", "text": "result: " + result}
            stop = "end_turn"
        elif tools:
            block: dict[str, Any] = {
                "type": "tool_use",
                "id": "toolu_01",
                "name": tools[0]["name"],
                "input": {"city": "Paris"},
            }
            stop = "tool_use"
        else:
            block = {"type": "text", "text": "echo: " + _text(body["messages"][-1].get("content"))}
            stop = "end_turn"
        output_tokens = len(json.dumps(block["input"]).split()) if "input" in block else len(block["text"].split())
        usage = {"input_tokens": input_tokens, "output_tokens": output_tokens}
        if body["model"] == "claude-cache":  # a prompt cache at work: Anthropic counts its parts apart
            usage.update(cache_creation_input_tokens=CACHE_WRITTEN, cache_read_input_tokens=CACHE_READ)
        content = [block]
        if body["model"] == "claude-thinker":
            content = [{"type": "thinking", "thinking": "Let me think.", "signature": "sig-fake-01"}, block]
            usage["output_tokens"] += 3
        if searched:
            usage["server_tool_use"] = {"web_search_requests": 1}
            query = {"type": "server_tool_use", "id": "srvtoolu_01", "name": "web_search", "input": {"query": "q"}}
            found = {"type": "web_search_result", "url": "https://example.com/", "title": "Example",
                     "encrypted_content": "opaque", "page_age": None}  # fmt: skip
            content = [
                query,
                {"type": "web_search_tool_result", "tool_use_id": "srvtoolu_01", "content": [found]},
                block,
            ]
        with self.lock:
            self.usages.append(dict(usage))
        message = {
            "id": "msg_fake01", "type": "message", "role": "assistant", "model": body["model"],
            "content": content, "stop_reason": stop, "stop_sequence": None, "usage": usage,
        }  # fmt: skip
        if not body.get("stream"):
            return JSONResponse(message)
        return StreamingResponse(_events(message), media_type="text/event-stream")


async def _scripted(body: dict[str, Any], marker: str, behaviour: Behaviour) -> Response:
    produced = SCRIPT.start(marker, "anthropic", body, {"max_tokens": body.get("max_tokens")}, 1)
    if behaviour.ending == "timeout":
        await SCRIPT.held(marker)
    if behaviour.ending in ("timeout", "status"):
        produced.status = behaviour.status
        kind = {429: "rate_limit_error", 529: "overloaded_error"}.get(behaviour.status, "api_error")
        return _error(behaviour.status, kind, "Scripted failure.")
    plan = Plan(produced, behaviour)
    text = "".join(produced.word(index) + " " for index in range(plan.rounds))
    usage = plan.usage()
    message: dict[str, Any] = {
        "id": "msg_scripted", "type": "message", "role": "assistant", "model": body["model"],
        "content": [{"type": "text", "text": text}], "stop_reason": "end_turn", "stop_sequence": None,
    }  # fmt: skip
    if usage is not None:
        message["usage"] = {"input_tokens": usage[0], "output_tokens": usage[1]}
    if behaviour.wire_usage is not None:
        message["usage"] = behaviour.wire()
    if body.get("stream"):
        return StreamingResponse(_scripted_events(message, marker, plan), media_type="text/event-stream")
    encoded = json.dumps(message).encode()
    if plan.stop_at is None:
        produced.sent = plan.rounds
        plan.finish(usage)
        return Response(encoded, media_type="application/json")

    async def halves() -> AsyncIterator[bytes]:
        yield encoded[: len(encoded) // 2]
        if behaviour.ending == "cut":
            raise ConnectionResetError("scripted cut")
        await SCRIPT.held(marker)

    return StreamingResponse(halves(), media_type="application/json")


async def _scripted_events(message: dict[str, Any], marker: str, plan: Plan) -> AsyncIterator[bytes]:
    """As Anthropic streams: message_start carries the input tokens (and output 1), message_delta the output."""
    usage = plan.usage()
    opening = {"input_tokens": plan.produced.prompt_tokens, "output_tokens": 1}
    wire = plan.behaviour.wire()
    if wire is not None:  # a hostile upstream: its counts on message_start, output 1 as a placeholder
        opening = {**wire, "output_tokens": 1}
    start = {**message, "content": [], "stop_reason": None, "usage": opening}
    yield _sse("message_start", {"type": "message_start", "message": start})
    block = {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}}
    yield _sse("content_block_start", block)
    for index in range(plan.rounds + 1):
        if index == plan.stop_at:
            if plan.behaviour.ending == "cut":
                raise ConnectionResetError("scripted cut")
            if plan.behaviour.ending == "error_event":
                failure = {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}
                yield _sse("error", failure)
                return
            await SCRIPT.held(marker)
            return
        if index == plan.rounds:
            break
        delta = {"type": "text_delta", "text": plan.produced.word(index) + " "}
        yield _sse("content_block_delta", {"type": "content_block_delta", "index": 0, "delta": delta})
        plan.sent_round()
    yield _sse("content_block_stop", {"type": "content_block_stop", "index": 0})
    ending: dict[str, Any] = {"type": "message_delta", "delta": {"stop_reason": "end_turn", "stop_sequence": None}}
    if usage is not None:
        ending["usage"] = {"output_tokens": usage[1]}
    if wire is not None:
        ending["usage"] = wire
    plan.finish(usage)
    yield _sse("message_delta", ending)
    yield _sse("message_stop", {"type": "message_stop"})


async def _events(message: dict[str, Any]) -> AsyncIterator[bytes]:
    start = {
        **message,
        "content": [],
        "stop_reason": None,
        "usage": {"input_tokens": message["usage"]["input_tokens"], "output_tokens": 1},
    }
    yield _sse("message_start", {"type": "message_start", "message": start})
    yield _sse("ping", {"type": "ping"})
    for index, block in enumerate(message["content"]):
        if block["type"] == "text":
            yield _sse(
                "content_block_start",
                {"type": "content_block_start", "index": index, "content_block": {"type": "text", "text": ""}},
            )
            for piece in _pieces(block["text"]):
                delta = {"type": "text_delta", "text": piece}
                yield _sse("content_block_delta", {"type": "content_block_delta", "index": index, "delta": delta})
        elif block["type"] == "thinking":
            opening = {"type": "thinking", "thinking": "", "signature": ""}
            yield _sse("content_block_start", {"type": "content_block_start", "index": index, "content_block": opening})
            for delta in (
                {"type": "thinking_delta", "thinking": block["thinking"]},
                {"type": "signature_delta", "signature": block["signature"]},
            ):
                yield _sse("content_block_delta", {"type": "content_block_delta", "index": index, "delta": delta})
        elif block["type"] in ("tool_use", "server_tool_use"):
            empty = {**block, "input": {}}
            yield _sse("content_block_start", {"type": "content_block_start", "index": index, "content_block": empty})
            arguments = json.dumps(block["input"])
            for piece in (arguments[:5], arguments[5:]):
                delta = {"type": "input_json_delta", "partial_json": piece}
                yield _sse("content_block_delta", {"type": "content_block_delta", "index": index, "delta": delta})
        else:  # results of server tools come whole
            yield _sse("content_block_start", {"type": "content_block_start", "index": index, "content_block": block})
        yield _sse("content_block_stop", {"type": "content_block_stop", "index": index})
    final = {name: value for name, value in message["usage"].items() if name != "input_tokens"}
    yield _sse(
        "message_delta",
        {
            "type": "message_delta",
            "delta": {"stop_reason": message["stop_reason"], "stop_sequence": None},
            "usage": final,
        },
    )
    yield _sse("message_stop", {"type": "message_stop"})


def _pieces(text: str) -> list[str]:
    words = text.split(" ")
    return [word + (" " if i < len(words) - 1 else "") for i, word in enumerate(words)]


def _sse(event: str, data: dict[str, Any]) -> bytes:
    return f"event: {event}\ndata: {json.dumps(data)}\n\n".encode()


def _error(status: int, error_type: str, message: str) -> JSONResponse:
    return JSONResponse({"type": "error", "error": {"type": error_type, "message": message}}, status_code=status)


def _text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return " ".join(
            part.get("text", "") for part in content if isinstance(part, dict) and part.get("type") == "text"
        )
    return ""


def _tool_result(content: Any) -> str | None:
    """The text of the tool result a user turn returns, if it returns one."""
    for block in content if isinstance(content, list) else []:
        if isinstance(block, dict) and block.get("type") == "tool_result":
            inner = block.get("content")
            return inner if isinstance(inner, str) else _text(inner)
    return None
