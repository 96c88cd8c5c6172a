"""A fake OpenAI-compatible upstream speaking the real wire format (JSON and SSE) over HTTP.

Its behaviour is chosen by the upstream model name, so one server serves every test:
  echo         answers "echo: <last user text>", reports usage (words counted as tokens)
  no-usage     like echo, but never reports usage (some compatible servers do that)
  fail-500     500 with an OpenAI error body
  reject-400   400 with an OpenAI error body (the request's own fault)
  rate-limited 429 with Retry-After
  hold         waits until the test releases it (`release()`), then answers like echo
  gated-stream streams its first chunk, then waits for `gate` before the rest
  cut-stream   streams two chunks, then breaks the connection
  slow         sleeps longer than the gateway's upstream timeout
  big-usage    like echo, but reports using every output token it was allowed (max_tokens)
  drip         streams like echo, a piece every DRIP_SECONDS (drip-no-usage: and never reports usage)
Any model given tools calls the first one with {"city": "Paris"} instead of answering, but `agent` (a
coding agent's model), which answers "Hi from the fake OpenAI." whatever it is given.
A prompt holding a marker of tests.support.scripted plays that marker's Behaviour instead, whatever the model.
POST /v1/responses and POST /v1/completions: see tests.support.fake_openai_responses.
POST /v1/embeddings answers three-dimensional embeddings, one per input.
POST /v1/audio/speech answers a few deterministic bytes of the asked format (a real WAV for wav).
POST /v1/audio/transcriptions answers verbose_json: "hello from <filename>" in two segments, lasting
the WAV header's duration (1.0 s for other files). Both are recorded in `requests`, the transcription
as its form fields with `file` as {filename, content_type, size}.
"""

from __future__ import annotations

import asyncio
import io
import json
import threading
import time
import wave
from collections.abc import AsyncIterator
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from tests.support.fake_openai_responses import ResponsesAPI
from tests.support.scripted import SCRIPT, Behaviour, Plan

PROVIDER_KEY = "sk-upstream-test-credential"
DRIP_SECONDS = 0.3


def words(text: str) -> int:
    return len(text.split())


class FakeOpenAI:
    def __init__(self, *keys: str) -> None:
        """`keys`: the API keys it accepts (PROVIDER_KEY when none are given)."""
        self.accepted = {f"Bearer {key}" for key in keys or (PROVIDER_KEY,)}
        self.requests: list[dict[str, Any]] = []
        self.headers: list[dict[str, str]] = []
        self.released = threading.Event()
        self.gate = threading.Event()
        self.held = 0
        self.lock = threading.Lock()
        self.usages: list[dict[str, Any]] = []  # of every answer that reported usage (chat, responses)
        api = ResponsesAPI(
            self._record,
            lambda request: request.headers.get("authorization") == f"Bearer {PROVIDER_KEY}",
            self.usages,
        )
        self.app = Starlette(
            routes=[
                Route("/v1/chat/completions", self.chat, methods=["POST"]),
                Route("/v1/responses", api.responses, methods=["POST"]),
                Route("/v1/completions", api.completions, methods=["POST"]),
                Route("/v1/embeddings", self.embeddings, methods=["POST"]),
                Route("/v1/audio/speech", self.speech, methods=["POST"]),
                Route("/v1/audio/transcriptions", self.transcriptions, methods=["POST"]),
            ]
        )

    def reset(self) -> None:
        with self.lock:
            self.requests.clear()
            self.headers.clear()
            self.held = 0
            self.usages.clear()
        self.released.clear()
        self.gate.clear()

    def release(self) -> None:
        self.released.set()

    def calls(self, model: str) -> list[dict[str, Any]]:
        with self.lock:
            return [body for body in self.requests if body.get("model") == model]

    def _record(self, body: dict[str, Any], request: Request) -> None:
        with self.lock:
            self.requests.append(body)
            self.headers.append(dict(request.headers))

    async def embeddings(self, request: Request) -> Response:
        body = await request.json()
        self._record(body, request)
        inputs = body["input"] if isinstance(body["input"], list) else [body["input"]]
        tokens = sum(words(text) if isinstance(text, str) else len(text) for text in inputs)
        data = [{"object": "embedding", "index": i, "embedding": [0.1, 0.2, 0.3]} for i in range(len(inputs))]
        usage = {"prompt_tokens": tokens, "total_tokens": tokens}
        return JSONResponse({"object": "list", "data": data, "model": body["model"], "usage": usage})

    async def speech(self, request: Request) -> Response:
        body = await request.json()
        self._record(body, request)
        if request.headers.get("authorization") not in self.accepted:
            return _error(401, "Incorrect API key provided.", "invalid_api_key")
        response_format = body.get("response_format", "mp3")
        if response_format not in SPEECH_AUDIO:
            return _error(400, "Unsupported response_format.", "invalid_value", "response_format")
        return Response(SPEECH_AUDIO[response_format], media_type=SPEECH_MEDIA_TYPES[response_format])

    async def transcriptions(self, request: Request) -> Response:
        async with request.form() as form:
            fields: dict[str, Any] = {}
            for name, value in form.multi_items():
                if isinstance(value, str):
                    fields[name] = [*fields.get(name, []), value] if name.endswith("[]") else value
                    continue
                content = await value.read()
                fields[name] = {"filename": value.filename, "content_type": value.content_type, "size": len(content)}
                fields["_audio"] = content
        audio = fields.pop("_audio", b"")
        self._record(fields, request)
        if request.headers.get("authorization") not in self.accepted:
            return _error(401, "Incorrect API key provided.", "invalid_api_key")
        if "file" not in fields or "model" not in fields:
            return _error(400, "file and model are required.", "invalid_value", "file")
        duration = _wav_seconds(audio)
        filename = fields["file"]["filename"]
        text = f"hello from {filename}"
        segments = [
            _segment(0, 0.0, duration / 2, " hello"),
            _segment(1, duration / 2, duration, f" from {filename}"),
        ]
        verbose = {
            "task": "transcribe",
            "language": fields.get("language", "english"),
            "duration": duration,
            "text": text,
            "segments": segments,
        }
        response_format = fields.get("response_format", "json")
        if response_format == "verbose_json":
            return JSONResponse(verbose)
        if response_format == "json":
            return JSONResponse({"text": text})
        return Response(text, media_type="text/plain")

    async def chat(self, request: Request) -> Response:
        body = await request.json()
        self._record(body, request)
        if request.headers.get("authorization") not in self.accepted:
            return _error(401, "Incorrect API key provided.", "invalid_api_key")
        scripted = SCRIPT.find(body.get("messages"))
        if scripted is not None:
            return await self._scripted(body, *scripted)
        model = body["model"]
        if model == "fail-500":
            return _error(500, "The server had an error while processing your request.", "server_error")
        if model == "reject-400":
            return _error(400, "Invalid value for 'temperature': must be at most 2.", "invalid_value", "temperature")
        if model == "rate-limited":
            return _error(429, "Rate limit reached.", "rate_limit_exceeded", headers={"retry-after": "7"})
        if model == "slow":
            await asyncio.sleep(30)
        if model == "hold":
            with self.lock:
                self.held += 1
            await asyncio.to_thread(self.released.wait, 30)
        reply = "Hi from the fake OpenAI." if model == "agent" else "echo: " + _last_user_text(body)
        prompt_tokens = sum(words(_text(m.get("content"))) for m in body.get("messages", []))
        if body.get("tools") and model != "agent":
            return self._tool_call(body, prompt_tokens)
        if body.get("stream"):
            return StreamingResponse(self._stream(body, reply, prompt_tokens), media_type="text/event-stream")
        payload: dict[str, Any] = {
            "id": "chatcmpl-fake",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": model,
            "choices": [{"index": 0, "message": {"role": "assistant", "content": reply}, "finish_reason": "stop"}],
        }
        if model == "big-usage":
            payload["usage"] = _usage(prompt_tokens, body.get("max_tokens") or 1000)
        elif model != "no-usage":
            payload["usage"] = _usage(prompt_tokens, words(reply))
            self.usages.append(payload["usage"])
        return JSONResponse(payload)

    async def _scripted(self, body: dict[str, Any], marker: str, behaviour: Behaviour) -> Response:
        caps = {name: body[name] for name in ("max_tokens", "max_completion_tokens") if name in body}
        produced = SCRIPT.start(marker, "openai", body, caps, body.get("n", 1))
        if behaviour.ending == "timeout":
            await SCRIPT.held(marker)
        if behaviour.ending in ("timeout", "status"):
            produced.status = behaviour.status
            return _error(behaviour.status, "Scripted failure.", "server_error", headers={"retry-after": "1"})
        plan = Plan(produced, behaviour)
        if body.get("stream"):
            return StreamingResponse(_scripted_stream(body, marker, plan), media_type="text/event-stream")
        choices = [
            {"index": index, "message": {"role": "assistant", "content": _words(plan)}, "finish_reason": "stop"}
            for index in range(produced.candidates)
        ]
        payload: dict[str, Any] = {
            "id": "chatcmpl-scripted", "object": "chat.completion", "created": int(time.time()),
            "model": body["model"], "choices": choices,
        }  # fmt: skip
        usage = plan.usage()
        if usage is not None:
            payload["usage"] = _usage(*usage)
            payload["usage"]["completion_tokens_details"] = {"reasoning_tokens": plan.hidden()}
        if behaviour.wire_usage is not None:
            payload["usage"] = behaviour.wire()
        encoded = json.dumps(payload).encode()
        if plan.stop_at is None:
            produced.sent = plan.rounds * produced.candidates
            plan.finish(usage)
            return Response(encoded, media_type="application/json")
        return StreamingResponse(_cut_body(encoded, marker, behaviour), media_type="application/json")

    def _tool_call(self, body: dict[str, Any], prompt_tokens: int) -> Response:
        name = body["tools"][0]["function"]["name"]
        call = {"id": "call_fake1", "type": "function", "function": {"name": name, "arguments": '{"city": "Paris"}'}}
        if not body.get("stream"):
            message = {"role": "assistant", "content": None, "tool_calls": [call]}
            return JSONResponse(
                {
                    "id": "chatcmpl-fake", "object": "chat.completion", "created": int(time.time()),
                    "model": body["model"],
                    "choices": [{"index": 0, "message": message, "finish_reason": "tool_calls"}],
                    "usage": _usage(prompt_tokens, 5),
                }
            )  # fmt: skip

        async def events() -> AsyncIterator[bytes]:
            model = body["model"]
            yield _event(_chunk(model, {"role": "assistant", "content": None}))
            opening = {**call, "index": 0, "function": {"name": name, "arguments": ""}}
            yield _event(_chunk(model, {"tool_calls": [opening]}))
            for piece in ('{"city": ', '"Paris"}'):
                yield _event(_chunk(model, {"tool_calls": [{"index": 0, "function": {"arguments": piece}}]}))
            yield _event(_chunk(model, {}, finish_reason="tool_calls"))
            if (body.get("stream_options") or {}).get("include_usage"):
                yield _event({**_chunk(model, {}), "choices": [], "usage": _usage(prompt_tokens, 5)})
            yield b"data: [DONE]\n\n"

        return StreamingResponse(events(), media_type="text/event-stream")

    async def _stream(self, body: dict[str, Any], reply: str, prompt_tokens: int) -> AsyncIterator[bytes]:
        model = body["model"]
        pieces = [piece + " " for piece in reply.split()]
        # vLLM's continuous usage: every chunk carries the usage so far
        continuous = (body.get("stream_options") or {}).get("continuous_usage_stats") is True
        yield _event(_chunk(model, {"role": "assistant", "content": ""}))
        for index, piece in enumerate(pieces):
            chunk = _chunk(model, {"content": piece})
            yield _event({**chunk, "usage": _usage(prompt_tokens, index + 1)} if continuous else chunk)
            if index == 0 and model == "gated-stream":
                await asyncio.to_thread(self.gate.wait, 10)
            if index == 1 and model == "cut-stream":
                raise ConnectionResetError("upstream went away")  # uvicorn drops the connection
            if model.startswith("drip"):
                await asyncio.sleep(DRIP_SECONDS)
        yield _event(_chunk(model, {}, finish_reason="stop"))
        include_usage = (body.get("stream_options") or {}).get("include_usage")
        if include_usage and not model.endswith("no-usage"):
            usage_chunk = {**_chunk(model, {}), "choices": [], "usage": _usage(prompt_tokens, len(pieces))}
            self.usages.append(usage_chunk["usage"])
            yield _event(usage_chunk)
        yield b"data: [DONE]\n\n"


def _words(plan: Plan) -> str:
    return "".join(plan.produced.word(index) + " " for index in range(plan.rounds))


async def _cut_body(encoded: bytes, marker: str, behaviour: Behaviour) -> AsyncIterator[bytes]:
    """A JSON answer that stops halfway: the connection drops, or it stalls until released."""
    yield encoded[: len(encoded) // 2]
    if behaviour.ending == "cut":
        raise ConnectionResetError("scripted cut")
    await SCRIPT.held(marker)


async def _scripted_stream(body: dict[str, Any], marker: str, plan: Plan) -> AsyncIterator[bytes]:
    model, produced = body["model"], plan.produced
    yield _event(_chunk(model, {"role": "assistant", "content": ""}))
    for index in range(plan.rounds + 1):
        if index == plan.stop_at:
            ending = plan.behaviour.ending
            if ending == "cut":
                raise ConnectionResetError("scripted cut")
            if ending == "error_event":
                yield _event({"error": {"message": "Scripted failure mid-stream.", "type": "server_error"}})
                return
            await SCRIPT.held(marker)  # stall, client_gone: nothing more until released, then nothing
            return
        if index == plan.rounds:
            break
        for candidate in range(produced.candidates):
            chunk = _chunk(model, {"content": produced.word(index) + " "})
            chunk["choices"][0]["index"] = candidate
            yield _event(chunk)
        plan.sent_round()
    for candidate in range(produced.candidates):
        chunk = _chunk(model, {}, finish_reason="stop")
        chunk["choices"][0]["index"] = candidate
        yield _event(chunk)
    usage = plan.usage() if (body.get("stream_options") or {}).get("include_usage") else None
    plan.finish(usage)
    if usage is not None:
        wire = plan.behaviour.wire()
        yield _event({**_chunk(model, {}), "choices": [], "usage": _usage(*usage) if wire is None else wire})
    yield b"data: [DONE]\n\n"


def _tiny_wav() -> bytes:
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as writer:
        writer.setnchannels(1)
        writer.setsampwidth(2)
        writer.setframerate(8000)
        writer.writeframes(b"\x00\x00" * 80)  # 10 ms of silence
    return buffer.getvalue()


SPEECH_AUDIO = {
    "wav": _tiny_wav(),
    "mp3": b"ID3\x04\x00\x00\x00\x00\x00\x00" + b"\xff\xfb\x90\x64" + b"\x00" * 32,
    "opus": b"OggS\x00\x02" + b"\x00" * 20 + b"OpusHead",
    "aac": b"\xff\xf1\x50\x80\x02\x1f\xfc" + b"\x00" * 16,
    "flac": b"fLaC\x80\x00\x00\x22" + b"\x00" * 34,
    "pcm": b"\x00\x00" * 240,
}
SPEECH_MEDIA_TYPES = {
    "wav": "audio/wav",
    "mp3": "audio/mpeg",
    "opus": "audio/ogg",
    "aac": "audio/aac",
    "flac": "audio/flac",
    "pcm": "audio/pcm",
}


def _wav_seconds(content: bytes) -> float:
    """The WAV header's duration; 1.0 for anything that is not a WAV."""
    try:
        with wave.open(io.BytesIO(content), "rb") as reader:
            return reader.getnframes() / reader.getframerate()
    except (wave.Error, EOFError):
        return 1.0


def _segment(index: int, start: float, end: float, text: str) -> dict[str, Any]:
    return {
        "id": index, "seek": 0, "start": start, "end": end, "text": text, "tokens": [50364, 2425],
        "temperature": 0.0, "avg_logprob": -0.2, "compression_ratio": 1.0, "no_speech_prob": 0.01,
    }  # fmt: skip


def _chunk(model: str, delta: dict[str, Any], finish_reason: str | None = None) -> dict[str, Any]:
    return {
        "id": "chatcmpl-fake",
        "object": "chat.completion.chunk",
        "created": int(time.time()),
        "model": model,
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish_reason}],
        "usage": None,
    }


def _event(payload: dict[str, Any]) -> bytes:
    return f"data: {json.dumps(payload)}\n\n".encode()


def _usage(prompt: int, completion: int) -> dict[str, Any]:
    return {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}


def _error(
    status: int, message: str, code: str, param: str | None = None, headers: dict[str, str] | None = None
) -> JSONResponse:
    body = {"error": {"message": message, "type": "invalid_request_error", "param": param, "code": code}}
    return JSONResponse(body, status_code=status, headers=headers)


def _text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return " ".join(part.get("text", "") for part in content if isinstance(part, dict))
    return ""


def _last_user_text(body: dict[str, Any]) -> str:
    users = [m for m in body.get("messages", []) if m.get("role") == "user"]
    return _text(users[-1].get("content")) if users else ""
