"""HTTP to an OpenAI-compatible upstream's audio endpoints: POST {base}/audio/speech (JSON in, audio
bytes out) and POST {base}/audio/transcriptions (multipart in, JSON out)."""

from __future__ import annotations

from typing import Any

import httpx

from gateway.formats.audio import AudioUpload
from gateway.providers.credentials import Endpoint
from gateway.providers.errors import UpstreamFailure, UpstreamTimeout
from gateway.providers.http import raise_for_status, shared_client
from gateway.providers.openai import transform


async def speech(endpoint: Endpoint, body: dict[str, Any], model: str) -> bytes:
    """The audio; the body is the client's, with the upstream's model name."""
    response = await _post(endpoint, "/audio/speech", json={**body, "model": model}, accept="*/*")
    if not response.content:
        raise UpstreamFailure("the provider answered without audio", status=502)
    return response.content


async def transcription(endpoint: Endpoint, fields: dict[str, str | list[str]], upload: AudioUpload) -> dict[str, Any]:
    files = {"file": (upload.filename, upload.content, upload.content_type)}
    response = await _post(endpoint, "/audio/transcriptions", data=fields, files=files, accept="application/json")
    try:
        payload = response.json()
    except ValueError as error:
        raise UpstreamFailure("the provider sent a transcription that is not JSON", status=502) from error
    if not isinstance(payload, dict) or not isinstance(payload.get("text"), str):
        raise UpstreamFailure("the provider sent an unexpected transcription", status=502)
    return payload


async def _post(endpoint: Endpoint, path: str, *, accept: str, **content: Any) -> httpx.Response:
    headers = {"Accept": accept}
    if endpoint.api_key:
        headers["Authorization"] = f"Bearer {endpoint.api_key}"
    try:
        response = await shared_client().post(endpoint.base_url + path, headers=headers, **content)
    except httpx.TimeoutException as error:
        raise UpstreamTimeout("the provider did not answer in time") from error
    except httpx.HTTPError as error:
        raise UpstreamFailure(f"could not reach the provider ({type(error).__name__})") from error
    raise_for_status(response.status_code, response.content, response.headers, transform.error_from)
    return response
