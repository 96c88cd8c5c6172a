"""A fake OpenAI-compatible image upstream on loopback: POST /v1/images/generations answers `n`
tiny PNGs as b64_json, or as URLs it serves itself; model `image-fail` answers 500, `image-usage`
reports its prompt tokens (`usage.input_tokens`, 7) as gpt-image-1 does."""

from __future__ import annotations

import base64
import threading
import time
from typing import Any

import anyio
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from tests.support.fake_openai import PROVIDER_KEY

# a valid 1x1 PNG
PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="
)


class FakeImages:
    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        self.lock = threading.Lock()
        self.answering = threading.Event()  # cleared: requests are taken and wait for it
        self.answering.set()
        self.url = ""
        self.app = Starlette(
            routes=[
                Route("/v1/images/generations", self.generate, methods=["POST"]),
                Route("/files/{name}", self.file, methods=["GET"]),
            ]
        )

    def reset(self) -> None:
        with self.lock:
            self.requests.clear()

    async def generate(self, request: Request) -> Response:
        body = await request.json()
        with self.lock:
            self.requests.append(body)
        if not self.answering.is_set():
            await anyio.to_thread.run_sync(self.answering.wait, 30)
        if request.headers.get("authorization") != f"Bearer {PROVIDER_KEY}":
            return JSONResponse({"error": {"message": "bad key", "type": "invalid_request_error"}}, status_code=401)
        if body["model"] == "image-fail":
            return JSONResponse({"error": {"message": "boom", "type": "server_error"}}, status_code=500)
        n = body.get("n", 1)
        if body.get("response_format") == "b64_json":
            data = [{"b64_json": base64.b64encode(PNG).decode(), "revised_prompt": body["prompt"]} for _ in range(n)]
        else:
            data = [{"url": f"{self.url}/files/{i}.png", "revised_prompt": body["prompt"]} for i in range(n)]
        answer: dict[str, Any] = {"created": int(time.time()), "data": data}
        if body["model"] == "image-usage":  # as gpt-image-1 answers: the prompt's tokens
            answer["usage"] = {"input_tokens": 7, "input_tokens_details": {"text_tokens": 7, "image_tokens": 0},
                               "output_tokens": 272 * n, "total_tokens": 7 + 272 * n}  # fmt: skip
        return JSONResponse(answer)

    async def file(self, request: Request) -> Response:
        return Response(PNG, media_type="image/png")
