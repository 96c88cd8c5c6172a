"""Gemini image models are asked once per image (n generateContent calls at once): an image one call
made is answered and paid for whatever its siblings did, and a failure of them all is the provider's
own (a 429 may fall back, a 400 is the client's), never the gateway's 502."""

from __future__ import annotations

import base64
import threading
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import pytest
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from tests.conftest import balance_of
from tests.support.fake_images import PNG

GRANT = 10_000_000
ONE_IMAGE = 39_000  # test/image-gemini: 0.039 credits an image


@contextmanager
def gemini_answering(fake_servers: Any, answer: Callable[[Request], Awaitable[JSONResponse]]) -> Iterator[None]:
    routes = fake_servers["gemini"].app.router.routes
    original = routes[0]
    routes[0] = Route("/v1beta/models/{target}", answer, methods=["POST"])
    try:
        yield
    finally:
        routes[0] = original


def images(url: str, key: str, n: int) -> httpx.Response:
    return httpx.post(
        f"{url}/v1/images/generations",
        json={"model": "test/image-gemini", "prompt": "a heron", "n": n, "response_format": "b64_json"},
        headers={"Authorization": f"Bearer {key}"},
        timeout=30,
    )


def test_an_image_made_is_answered_and_paid_when_its_sibling_call_answers_text_only(
    gateway_url: str, upstream: Any, fake_servers: Any, make_tenant: Any
) -> None:
    calls: list[int] = []
    lock = threading.Lock()

    async def generate(request: Request) -> JSONResponse:
        with lock:
            calls.append(len(calls) + 1)
            first = len(calls) == 1
        if first:  # Google makes (and bills) this image
            parts: list[dict[str, Any]] = [
                {"inlineData": {"mimeType": "image/png", "data": base64.b64encode(PNG).decode()}}
            ]
        else:  # a text-only answer, as Gemini image models give for a refusal
            parts = [{"text": "I can't draw that one."}]
        candidate = {"content": {"role": "model", "parts": parts}, "finishReason": "STOP", "index": 0}
        usage = {"promptTokenCount": 5, "candidatesTokenCount": 1290 if first else 8}
        return JSONResponse({"candidates": [candidate], "usageMetadata": usage})

    tenant = make_tenant("10")
    with gemini_answering(fake_servers, generate):
        answer = images(gateway_url, tenant.key, 2)
    assert len(calls) == 2
    assert answer.status_code == 200, answer.text
    assert [base64.b64decode(item["b64_json"]) for item in answer.json()["data"]] == [PNG]
    assert balance_of(tenant.account_id) == GRANT - ONE_IMAGE


@pytest.mark.parametrize(
    ("status", "error", "expected"),
    [
        (429, {"code": 429, "message": "Resource exhausted.", "status": "RESOURCE_EXHAUSTED"}, 429),
        (400, {"code": 400, "message": "Bad prompt.", "status": "INVALID_ARGUMENT"}, 400),
    ],
)
def test_a_failure_of_every_call_is_answered_as_the_providers(
    gateway_url: str, upstream: Any, fake_servers: Any, make_tenant: Any, status: int, error: Any, expected: int
) -> None:
    async def generate(request: Request) -> JSONResponse:
        return JSONResponse({"error": error}, status_code=status)

    tenant = make_tenant("10")
    with gemini_answering(fake_servers, generate):
        answer = images(gateway_url, tenant.key, 2)
    assert answer.status_code == expected, answer.text
    assert answer.json()["error"].get("code") != "interrupted"
    assert balance_of(tenant.account_id) == GRANT
