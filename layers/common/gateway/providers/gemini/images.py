"""Gemini image models as an OpenAI images upstream: one generateContent per image, asking for the
IMAGE modality; the images come back inline (base64) and are answered as b64_json."""

from __future__ import annotations

import time
from typing import Any

import anyio

from gateway.providers.credentials import Endpoint
from gateway.providers.errors import UpstreamFailure
from gateway.providers.gemini import transform
from gateway.providers.sse import post_json


def image_request(prompt: str) -> dict[str, Any]:
    return {
        "contents": [{"role": "user", "parts": [{"text": prompt}]}],
        "generationConfig": {"responseModalities": ["IMAGE", "TEXT"]},
    }


def inline_images(payload: dict[str, Any]) -> list[dict[str, str]]:
    """The inline images of a GenerateContentResponse, as OpenAI image data."""
    found = []
    for candidate in payload.get("candidates") or []:
        for part in (candidate.get("content") or {}).get("parts") or []:
            inline = part.get("inlineData") or part.get("inline_data")
            if isinstance(inline, dict) and str(inline.get("mimeType", "")).startswith("image/"):
                found.append({"b64_json": str(inline.get("data", ""))})
    return found


async def generate_images(endpoint: Endpoint, prompt: str, n: int, model: str) -> dict[str, Any]:
    url = transform.endpoint(endpoint.base_url, model, stream=False)
    headers = transform.headers(endpoint.api_key or "")
    data: list[dict[str, str]] = []

    async def one() -> None:
        payload = await post_json(url, image_request(prompt), headers, transform.error_from)
        images = inline_images(payload)
        if not images:
            raise UpstreamFailure("the provider answered without an image")
        data.append(images[0])

    async with anyio.create_task_group() as group:
        for _ in range(n):
            group.start_soon(one)
    return {"created": int(time.time()), "data": data}
