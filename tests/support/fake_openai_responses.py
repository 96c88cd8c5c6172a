"""OpenAI's Responses API and legacy completions as the fake OpenAI upstream serves them, in the real
wire format (a response object, or its typed SSE events with sequence numbers; text completions and
their `data:` chunks).

POST /v1/responses: the last input item decides the answer. A function call's output is answered
"result: <output>"; a request with function tools calls the first with {"city": "Paris"}; anything else
is answered "echo: <last user text>"; model `agent` (a coding agent's) answers "Hi from the fake OpenAI."
whatever tools it is given. Model `responses-reasoning` thinks first (a reasoning item with a
summary, and `encrypted_content` when `include` asks for it); model `responses-search` runs one web
search first. Usage counts words as tokens (the instructions and every input text for the input);
each answer's is kept in the upstream's `usages`.
POST /v1/completions answers "echo: <prompt>", its usage counting words (model `no-usage`: no usage).
"""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse


def _texts(value: Any) -> list[str]:
    """Every text an input (or part of one) holds."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, list):
        return [text for item in value for text in _texts(item)]
    if isinstance(value, dict):
        found = [value["text"]] if isinstance(value.get("text"), str) else []
        if isinstance(value.get("output"), str):
            found.append(value["output"])
        return found + _texts(value.get("content"))
    return []


def _words(texts: list[str]) -> int:
    return sum(len(text.split()) for text in texts)


def _last_user_text(items: list[Any]) -> str:
    for item in reversed(items):
        if isinstance(item, dict) and item.get("role") == "user":
            return " ".join(_texts(item.get("content")))
    return ""


class ResponsesAPI:
    """Mounted on the fake OpenAI upstream; `record(body, request)` keeps what the gateway sent."""

    def __init__(
        self,
        record: Callable[[dict[str, Any], Request], None],
        authorized: Callable[[Request], bool],
        usages: list[dict[str, Any]],
    ) -> None:
        self.record = record
        self.authorized = authorized
        self.usages = usages

    async def responses(self, request: Request) -> Response:
        body = await request.json()
        self.record(body, request)
        if not self.authorized(request):
            return _error(401, "Incorrect API key provided.", "invalid_api_key")
        if body.get("previous_response_id") is not None or body.get("store") is not False:
            return _error(400, "This upstream is only ever asked with store: false.", "invalid_value", "store")
        items = body["input"] if isinstance(body["input"], list) else [{"role": "user", "content": body["input"]}]
        output, reply_words = self._output(body, items)
        input_tokens = _words(_texts(items)) + _words([body.get("instructions") or ""])
        usage = {
            "input_tokens": input_tokens,
            "input_tokens_details": {"cached_tokens": 0},
            "output_tokens": reply_words,
            "output_tokens_details": {"reasoning_tokens": 2 if body["model"] == "responses-reasoning" else 0},
            "total_tokens": input_tokens + reply_words,
        }
        self.usages.append(usage)
        response = {
            "id": "resp_upstream0001",
            "object": "response",
            "created_at": int(time.time()),
            "status": "completed",
            "error": None,
            "incomplete_details": None,
            "instructions": body.get("instructions"),
            "max_output_tokens": body.get("max_output_tokens"),
            "model": body["model"],
            "output": output,
            "parallel_tool_calls": True,
            "previous_response_id": None,
            "store": False,
            "temperature": 1.0,
            "tool_choice": body.get("tool_choice", "auto"),
            "tools": body.get("tools") or [],
            "top_p": 1.0,
            "usage": usage,
            "metadata": body.get("metadata") or {},
        }
        if not body.get("stream"):
            return JSONResponse(response)
        return StreamingResponse(_events(response), media_type="text/event-stream")

    def _output(self, body: dict[str, Any], items: list[Any]) -> tuple[list[dict[str, Any]], int]:
        output: list[dict[str, Any]] = []
        words = 0
        if body["model"] == "responses-reasoning":
            reasoning: dict[str, Any] = {
                "type": "reasoning",
                "id": "rs_upstream0001",
                "summary": [{"type": "summary_text", "text": "Thinking it over."}],
            }
            if "reasoning.encrypted_content" in (body.get("include") or []):
                reasoning["encrypted_content"] = "gAAAA-opaque-upstream-reasoning"
            output.append(reasoning)
        if body["model"] == "responses-search":
            action = {"type": "search", "query": "weather"}
            output.append({"type": "web_search_call", "id": "ws_upstream0001", "status": "completed", "action": action})
        last = items[-1] if items else {}
        functions = [tool for tool in body.get("tools") or [] if tool.get("type") == "function"]
        if body["model"] == "agent":
            text = "Hi from the fake OpenAI."
        elif isinstance(last, dict) and last.get("type") == "function_call_output":
            text = "result: " + " ".join(_texts(last.get("output")))
        elif functions:
            call = {
                "type": "function_call",
                "id": "fc_upstream0001",
                "call_id": "call_upstream0001",
                "name": functions[0]["name"],
                "arguments": '{"city": "Paris"}',
                "status": "completed",
            }
            return [*output, call], 5
        else:
            text = "echo: " + _last_user_text(items)
        words += len(text.split())
        content = [{"type": "output_text", "text": text, "annotations": [], "logprobs": []}]
        message = {
            "type": "message",
            "id": "msg_upstream0001",
            "status": "completed",
            "role": "assistant",
            "content": content,
        }
        return [*output, message], words

    async def completions(self, request: Request) -> Response:
        body = await request.json()
        self.record(body, request)
        if not self.authorized(request):
            return _error(401, "Incorrect API key provided.", "invalid_api_key")
        # As OpenAI answers a batch (a list of strings or of token lists): n choices for each prompt
        prompts = body["prompt"] if _batch(body["prompt"]) else [body["prompt"]]
        replies = [
            "echo: " + (prompt if isinstance(prompt, str) else " ".join(map(str, prompt)))
            for prompt in prompts
            for _ in range(body.get("n") or 1)
        ]
        texts = [prompt if isinstance(prompt, str) else " ".join(map(str, prompt)) for prompt in prompts]
        usage = {
            "prompt_tokens": sum(len(text.split()) for text in texts),
            "completion_tokens": sum(len(reply.split()) for reply in replies),
        }
        usage["total_tokens"] = usage["prompt_tokens"] + usage["completion_tokens"]
        base = {"id": "cmpl-fake", "object": "text_completion", "created": int(time.time()), "model": body["model"]}
        if not body.get("stream"):
            choices = [
                {"text": reply, "index": index, "logprobs": None, "finish_reason": "stop"}
                for index, reply in enumerate(replies)
            ]
            # no-usage: as some compatible servers answer (nothing reported)
            return JSONResponse(
                {**base, "choices": choices, **({} if body["model"] == "no-usage" else {"usage": usage})}
            )

        async def chunks() -> AsyncIterator[bytes]:
            for index, reply in enumerate(replies):
                for word in reply.split(" "):
                    choice = {"text": word + " ", "index": index, "logprobs": None, "finish_reason": None}
                    yield _data({**base, "choices": [choice]})
                done = {"text": "", "index": index, "logprobs": None, "finish_reason": "stop"}
                yield _data({**base, "choices": [done]})
            if (body.get("stream_options") or {}).get("include_usage"):
                yield _data({**base, "choices": [], "usage": usage})
            yield b"data: [DONE]\n\n"

        return StreamingResponse(chunks(), media_type="text/event-stream")


def _batch(prompt: Any) -> bool:
    return isinstance(prompt, list) and bool(prompt) and isinstance(prompt[0], str | list)


async def _events(response: dict[str, Any]) -> AsyncIterator[bytes]:
    """A response as OpenAI streams it: lifecycle events around each item added, its deltas, done."""
    sequence = 0

    def event(kind: str, **fields: Any) -> bytes:
        nonlocal sequence
        payload = {"type": kind, "sequence_number": sequence, **fields}
        sequence += 1
        return f"event: {kind}\ndata: {json.dumps(payload)}\n\n".encode()

    opening = {**response, "status": "in_progress", "output": [], "usage": None}
    yield event("response.created", response=opening)
    yield event("response.in_progress", response=opening)
    for index, item in enumerate(response["output"]):
        if item["type"] == "message":
            text = item["content"][0]["text"]
            yield event(
                "response.output_item.added", output_index=index, item={**item, "status": "in_progress", "content": []}
            )
            empty = {"type": "output_text", "text": "", "annotations": [], "logprobs": []}
            yield event(
                "response.content_part.added", item_id=item["id"], output_index=index, content_index=0, part=empty
            )
            words = text.split(" ")
            for number, word in enumerate(words):
                piece = word + (" " if number < len(words) - 1 else "")
                yield event(
                    "response.output_text.delta",
                    item_id=item["id"],
                    output_index=index,
                    content_index=0,
                    delta=piece,
                    logprobs=[],
                )
            yield event(
                "response.output_text.done",
                item_id=item["id"],
                output_index=index,
                content_index=0,
                text=text,
                logprobs=[],
            )
            yield event(
                "response.content_part.done",
                item_id=item["id"],
                output_index=index,
                content_index=0,
                part=item["content"][0],
            )
        elif item["type"] == "function_call":
            yield event(
                "response.output_item.added",
                output_index=index,
                item={**item, "arguments": "", "status": "in_progress"},
            )
            arguments = item["arguments"]
            for piece in (arguments[:9], arguments[9:]):
                yield event(
                    "response.function_call_arguments.delta", item_id=item["id"], output_index=index, delta=piece
                )
            yield event(
                "response.function_call_arguments.done", item_id=item["id"], output_index=index, arguments=arguments
            )
        elif item["type"] == "reasoning":
            yield event("response.output_item.added", output_index=index, item={**item, "summary": []})
            summary = item["summary"][0]
            yield event(
                "response.reasoning_summary_part.added",
                item_id=item["id"],
                output_index=index,
                summary_index=0,
                part={"type": "summary_text", "text": ""},
            )
            yield event(
                "response.reasoning_summary_text.delta",
                item_id=item["id"],
                output_index=index,
                summary_index=0,
                delta=summary["text"],
            )
            yield event(
                "response.reasoning_summary_text.done",
                item_id=item["id"],
                output_index=index,
                summary_index=0,
                text=summary["text"],
            )
            yield event(
                "response.reasoning_summary_part.done",
                item_id=item["id"],
                output_index=index,
                summary_index=0,
                part=summary,
            )
        else:
            yield event("response.output_item.added", output_index=index, item={**item, "status": "in_progress"})
        yield event("response.output_item.done", output_index=index, item=item)
    yield event("response.completed", response=response)


def _data(payload: dict[str, Any]) -> bytes:
    return f"data: {json.dumps(payload)}\n\n".encode()


def _error(status: int, message: str, code: str, param: str | None = None) -> JSONResponse:
    body = {"error": {"message": message, "type": "invalid_request_error", "param": param, "code": code}}
    return JSONResponse(body, status_code=status)
