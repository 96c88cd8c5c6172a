"""One pooled httpx.AsyncClient per event loop (uvicorn in Lambda has one; the dev server may have more)."""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import Callable

import httpx

from gateway.config import get_settings
from gateway.providers.errors import UpstreamFailure, UpstreamRefusal, UpstreamTimeout

_clients: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, httpx.AsyncClient] = weakref.WeakKeyDictionary()


def shared_client() -> httpx.AsyncClient:
    loop = asyncio.get_running_loop()
    client = _clients.get(loop)
    if client is None or client.is_closed:
        settings = get_settings()
        client = httpx.AsyncClient(
            timeout=httpx.Timeout(
                settings.upstream_timeout_seconds,
                connect=settings.upstream_connect_timeout_seconds,
            ),
            limits=httpx.Limits(max_connections=200, max_keepalive_connections=50),
            follow_redirects=False,
            trust_env=False,
        )
        _clients[loop] = client
    return client


async def send_streaming(client: httpx.AsyncClient, request: httpx.Request) -> httpx.Response:
    try:
        return await client.send(request, stream=True)
    except httpx.TimeoutException as error:
        raise UpstreamTimeout("the provider did not answer in time") from error
    except httpx.HTTPError as error:
        raise UpstreamFailure(f"could not reach the provider ({type(error).__name__})") from error


async def fetch(url: str) -> bytes:
    """A file an upstream answered with a URL (an image), as an upstream call: failures are its own."""
    try:
        response = await shared_client().get(url)
    except httpx.TimeoutException as error:
        raise UpstreamTimeout("the provider's file did not arrive in time") from error
    except httpx.HTTPError as error:
        raise UpstreamFailure(f"could not fetch the provider's file ({type(error).__name__})") from error
    if not 200 <= response.status_code < 300:
        raise UpstreamFailure(f"the provider's file could not be fetched (HTTP {response.status_code})", status=502)
    return response.content


ErrorReader = Callable[[int, bytes], tuple[str, str | None, str | None]]


def raise_for_status(status: int, content: bytes, headers: httpx.Headers, error_from: ErrorReader) -> None:
    """Shared by the HTTP providers: 2xx passes; the upstream's own failures and rate limits are
    UpstreamFailure (material for a fallback); a refusal of the request itself is UpstreamRefusal."""
    if 200 <= status < 300:
        return
    message, code, param = error_from(status, content)
    if status in (401, 403):
        raise UpstreamFailure("the provider refused the gateway's credentials", status=status)
    if status in (408, 409, 429) or status >= 500:
        raise UpstreamFailure(f"the provider failed: {message}", status=status, retry_after=headers.get("retry-after"))
    raise UpstreamRefusal(status, message, code=code, param=param)
