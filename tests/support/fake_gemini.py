"""A fake Gemini API on loopback, speaking its wire format (generateContent JSON and
streamGenerateContent?alt=sse). Model `gemini-echo` (any model without "image" in its name) answers
"echo: <last user text>", or calls the first function declared with {"city": "Paris"}, or, when the last
content returns a function's response, answers "result: <its response>"; a model with "image" in its
name answers an inline PNG; `gemini-agent` (a coding agent's model) answers "Hi from the fake Gemini."
whatever tools it is given. With the googleSearch tool, any model answers "grounded: <last user text>"
with grounding metadata; with codeExecution, it runs code first (executableCode, codeExecutionResult
parts). Usage counts words as tokens; each answer's is kept in `usages`. `:countTokens` counts the
words of `contents` (or of `generateContentRequest.contents`). A prompt holding a marker of
tests.support.scripted plays that marker's Behaviour instead, whatever the model."""

from __future__ import annotations

import base64
import json
import threading
from collections.abc import AsyncIterator
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from tests.support.scripted import SCRIPT, Behaviour, Plan

PROVIDER_KEY = "gemini-upstream-test-credential"


class FakeGemini:
    def __init__(self) -> None:
        self.requests: list[tuple[str, dict[str, Any]]] = []
        self.usages: list[dict[str, Any]] = []
        self.lock = threading.Lock()
        self.app = Starlette(routes=[Route("/v1beta/models/{target}", self.generate, methods=["POST"])])

    def reset(self) -> None:
        with self.lock:
            self.requests.clear()
            self.usages.clear()

    async def generate(self, request: Request) -> Response:
        target = request.path_params["target"]
        body = await request.json()
        with self.lock:
            self.requests.append((target, body))
        if request.headers.get("x-goog-api-key") != PROVIDER_KEY:
            return _error(403, "PERMISSION_DENIED", "API key not valid.")
        model, _, method = target.partition(":")
        if method == "countTokens":
            inner = body.get("generateContentRequest") or body
            if set(body) - {"contents", "generateContentRequest"}:
                return _error(400, "INVALID_ARGUMENT", "Unknown name in countTokens.")
            return JSONResponse({"totalTokens": sum(len(_text(c).split()) for c in inner.get("contents") or [])})
        scripted = SCRIPT.find([body.get("contents"), body.get("systemInstruction")])
        if scripted is not None:
            return await _scripted(body, method == "streamGenerateContent", *scripted)
        contents = body.get("contents") or []
        if "image" in model:  # gemini-image, gemini-3-pro-image-preview (Nano Banana Pro), ...
            from tests.support.fake_images import PNG

            image = {"inlineData": {"mimeType": "image/png", "data": base64.b64encode(PNG).decode()}}
            parts = [{"text": "Here it is."}, image]
            candidate = {"content": {"role": "model", "parts": parts}, "finishReason": "STOP", "index": 0}
            return JSONResponse({"candidates": [candidate], "modelVersion": model})
        prompt = sum(len(_text(c).split()) for c in contents)
        declarations = [d for tool in body.get("tools") or [] for d in tool.get("functionDeclarations") or []]
        returned = [
            part["functionResponse"]
            for part in (contents[-1].get("parts") if contents else None) or []
            if isinstance(part, dict) and isinstance(part.get("functionResponse"), dict)
        ]
        built_in = {key for tool in body.get("tools") or [] for key in tool}
        grounding: dict[str, Any] | None = None
        if model == "gemini-agent":
            reply = "Hi from the fake Gemini."
            parts = [{"text": reply}]
            output = len(reply.split())
        elif "googleSearch" in built_in:
            reply = "grounded: " + (_text(contents[-1]) if contents else "")
            parts = [{"text": reply}]
            output = len(reply.split())
            grounding = {"webSearchQueries": ["weather"], "groundingChunks": [{"web": {"uri": "https://example.com/"}}]}
        elif "codeExecution" in built_in:
            parts = [
                {"executableCode": {"language": "PYTHON", "code": "print(6 * 7)"}},
                {"codeExecutionResult": {"outcome": "OUTCOME_OK", "output": "42"}},
                {"text": "The answer is 42."},
            ]
            output = 12
        elif returned:
            reply = "result: " + json.dumps(returned[0].get("response"))
            parts = [{"text": reply}]
            output = len(reply.split())
        elif declarations:
            parts: list[dict[str, Any]] = [
                {"functionCall": {"name": declarations[0]["name"], "args": {"city": "Paris"}}}
            ]
            output = 2
        else:
            reply = "echo: " + (_text(contents[-1]) if contents else "")
            parts = [{"text": reply}]
            output = len(reply.split())
        usage = {"promptTokenCount": prompt, "candidatesTokenCount": output, "totalTokenCount": prompt + output}
        with self.lock:
            self.usages.append(usage)
        if method == "generateContent":
            candidate = {"content": {"role": "model", "parts": parts}, "finishReason": "STOP", "index": 0}
            if grounding is not None:
                candidate["groundingMetadata"] = grounding
            return JSONResponse(
                {"candidates": [candidate], "usageMetadata": usage, "modelVersion": model, "responseId": "resp-fake"}
            )
        if method == "streamGenerateContent" and request.query_params.get("alt") == "sse":
            return StreamingResponse(_chunks(model, parts, usage, grounding), media_type="text/event-stream")
        return _error(404, "NOT_FOUND", f"unknown method {method}")


async def _chunks(
    model: str, parts: list[dict[str, Any]], usage: dict[str, Any], grounding: dict[str, Any] | None = None
) -> AsyncIterator[bytes]:
    pieces = [{"text": w + " "} for w in parts[0]["text"].split()] if len(parts) == 1 and "text" in parts[0] else parts
    for index, piece in enumerate(pieces):
        last = index == len(pieces) - 1
        candidate: dict[str, Any] = {"content": {"role": "model", "parts": [piece]}, "index": 0}
        chunk: dict[str, Any] = {"candidates": [candidate], "modelVersion": model, "responseId": "resp-fake"}
        if last:
            candidate["finishReason"] = "STOP"
            chunk["usageMetadata"] = usage
            if grounding is not None:
                candidate["groundingMetadata"] = grounding
        yield f"data: {json.dumps(chunk)}\r\n\r\n".encode()


async def _scripted(body: dict[str, Any], stream: bool, marker: str, behaviour: Behaviour) -> Response:
    config = body.get("generationConfig") or body.get("generation_config") or {}
    caps = {name: config[name] for name in ("maxOutputTokens", "max_output_tokens") if name in config}
    count = config.get("candidateCount", config.get("candidate_count", 1))
    produced = SCRIPT.start(marker, "gemini", body, caps, count)
    if behaviour.ending == "timeout":
        await SCRIPT.held(marker)
    if behaviour.ending in ("timeout", "status"):
        produced.status = behaviour.status
        status = {429: "RESOURCE_EXHAUSTED", 503: "UNAVAILABLE"}.get(behaviour.status, "INTERNAL")
        return _error(behaviour.status, status, "Scripted failure.")
    plan = Plan(produced, behaviour)
    usage = plan.usage()
    metadata: dict[str, Any] | None = None
    if usage is not None:
        thoughts = plan.hidden()
        metadata = {"promptTokenCount": usage[0], "candidatesTokenCount": usage[1] - thoughts,
                    "totalTokenCount": usage[0] + usage[1]}  # fmt: skip
        if thoughts:
            metadata["thoughtsTokenCount"] = thoughts
    if behaviour.wire_usage is not None:
        metadata = behaviour.wire()
    if stream:
        return StreamingResponse(_scripted_chunks(body, marker, plan, metadata), media_type="text/event-stream")
    text = "".join(produced.word(index) + " " for index in range(plan.rounds))
    candidates = [
        {"content": {"role": "model", "parts": [{"text": text}]}, "finishReason": "STOP", "index": index}
        for index in range(produced.candidates)
    ]
    answer: dict[str, Any] = {"candidates": candidates, "modelVersion": "scripted", "responseId": "resp-scripted"}
    if metadata is not None:
        answer["usageMetadata"] = metadata
    encoded = json.dumps(answer).encode()
    if plan.stop_at is None:
        produced.sent = plan.rounds * produced.candidates
        plan.finish(usage)
        return Response(encoded, media_type="application/json")

    async def halves() -> AsyncIterator[bytes]:
        yield encoded[: len(encoded) // 2]
        if behaviour.ending == "cut":
            raise ConnectionResetError("scripted cut")
        await SCRIPT.held(marker)

    return StreamingResponse(halves(), media_type="application/json")


async def _scripted_chunks(
    body: dict[str, Any], marker: str, plan: Plan, metadata: dict[str, Any] | None
) -> AsyncIterator[bytes]:
    """A chunk per round (a token for each candidate), then one with finishReason and the usage."""
    produced = plan.produced

    def chunk(text: str, last: bool) -> bytes:
        candidates = [
            {"content": {"role": "model", "parts": [{"text": text}]}, "index": number}
            | ({"finishReason": "STOP"} if last else {})
            for number in range(produced.candidates)
        ]
        payload: dict[str, Any] = {"candidates": candidates, "modelVersion": "scripted", "responseId": "resp-scripted"}
        if last and metadata is not None:
            payload["usageMetadata"] = metadata
        return f"data: {json.dumps(payload)}\r\n\r\n".encode()

    for index in range(plan.rounds + 1):
        if index == plan.stop_at:
            if plan.behaviour.ending == "cut":
                raise ConnectionResetError("scripted cut")
            if plan.behaviour.ending == "error_event":
                failure = {"error": {"code": 500, "message": "Scripted failure mid-stream.", "status": "INTERNAL"}}
                yield f"data: {json.dumps(failure)}\r\n\r\n".encode()
                return
            await SCRIPT.held(marker)
            return
        if index == plan.rounds:
            break
        yield chunk(produced.word(index) + " ", last=False)
        plan.sent_round()
    plan.finish(plan.usage())
    yield chunk("", last=True)


def _text(content: Any) -> str:
    return " ".join(part.get("text", "") for part in (content or {}).get("parts") or [] if isinstance(part, dict))


def _error(code: int, status: str, message: str) -> JSONResponse:
    return JSONResponse({"error": {"code": code, "message": message, "status": status}}, status_code=code)
