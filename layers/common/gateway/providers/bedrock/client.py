"""boto3 to Amazon Bedrock Runtime (Converse / ConverseStream): the only network code of this provider.

Credentials are the Lambda role's (boto3's default chain); there is no provider key. boto3 blocks,
so each call, and each read of a ConverseStream event stream, runs in a worker thread. boto3 is
imported on first use, never at import time. No inbound format is Bedrock's own, so every call is
canonical (Chat only).
"""

from __future__ import annotations

import contextlib
import random
import threading
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from typing import Any, NoReturn

import anyio

from gateway.canonical import ChatCompletion, ChatRequest, StreamEvent
from gateway.config import get_settings
from gateway.providers.bedrock import request, response
from gateway.providers.capabilities import Events
from gateway.providers.credentials import Endpoint
from gateway.providers.errors import UpstreamFailure, UpstreamRefusal, UpstreamTimeout
from gateway.providers.streams import ENDED_EARLY

_clients: dict[tuple[str, str | None, float, float], Any] = {}
_clients_lock = threading.Lock()


def runtime_client(region: str, endpoint_url: str | None = None) -> Any:
    """One boto3 `bedrock-runtime` client per region, endpoint and timeout settings (clients are thread-safe)."""
    settings = get_settings()
    key = (region, endpoint_url, settings.upstream_timeout_seconds, settings.upstream_connect_timeout_seconds)
    with _clients_lock:
        client = _clients.get(key)
        if client is None:
            import boto3
            from botocore.config import Config

            config = Config(
                # botocore's retries would send a call that timed out reading again (a second
                # generation, billed): a throttled call is retried once by `_call`, and the gateway's
                # fallbacks try the next candidate on any other failure
                retries={"mode": "standard", "total_max_attempts": 1},
                read_timeout=settings.upstream_timeout_seconds,
                connect_timeout=settings.upstream_connect_timeout_seconds,
                max_pool_connections=50,
                tcp_keepalive=True,
            )
            session = boto3.session.Session()  # its own session: the default one is not thread-safe
            client = session.client("bedrock-runtime", region_name=region, endpoint_url=endpoint_url, config=config)
            _clients[key] = client
    return client


def forget_runtime_clients() -> None:
    with _clients_lock:
        _clients.clear()


class BedrockClient:
    """Chat through Converse. The endpoint gives the region (and an endpoint override, in tests);
    `runtime` replaces the boto3 client (tests), otherwise made on first use. Answers and chunks
    name the model id they were asked for."""

    def __init__(self, endpoint: Endpoint, *, runtime: Any = None) -> None:
        self.region = endpoint.region or "us-east-1"
        self.endpoint_url = endpoint.base_url or None
        self._client = runtime

    async def complete(self, body: ChatRequest, model: str) -> ChatCompletion:
        payload = await self._abandonable("converse", request.converse_request(body, model))
        return response.converse_response(payload, model)

    def stream(self, body: ChatRequest, model: str) -> Events:
        return self._stream(body, model)

    @asynccontextmanager
    async def _stream(self, body: ChatRequest, model: str) -> AsyncIterator[AsyncIterator[StreamEvent]]:
        """Opens the stream; yields its events once Bedrock accepted the request.

        The iterator raises UpstreamFailure (UpstreamTimeout) when the stream breaks; closing it, or
        leaving the context, closes the HTTP stream.
        """
        answer = await self._abandonable("converse_stream", request.converse_request(body, model))
        stream = answer.get("stream")
        if stream is None:
            raise UpstreamFailure("Amazon Bedrock answered without an event stream", status=502)
        metadata = answer.get("ResponseMetadata")
        request_id = metadata.get("RequestId") if isinstance(metadata, dict) else None
        translator = response.StreamTranslator(model, request_id=request_id)
        try:
            yield _events(stream, translator)
        finally:
            _close(stream)

    def _runtime(self) -> Any:
        if self._client is None:
            self._client = runtime_client(self.region, self.endpoint_url)
        return self._client

    async def _abandonable(self, operation: str, arguments: dict[str, Any]) -> dict[str, Any]:
        """The call in a worker thread that a deadline (or a client gone) does not wait for: boto3
        cannot be interrupted, so the request ends now and the thread finishes alone. A stream that
        opens after the request was left is closed, by whichever side is last."""
        lock, left, answered = threading.Lock(), threading.Event(), []

        def call() -> dict[str, Any]:
            answer = self._call(operation, arguments)
            with lock:
                if left.is_set():
                    _close(answer.get("stream"))
                answered.append(answer)
            return answer

        try:
            return await anyio.to_thread.run_sync(call, abandon_on_cancel=True)
        except BaseException:
            with lock:
                left.set()
                for answer in answered:  # it came back as the request was left
                    _close(answer.get("stream"))
            raise

    def _call(self, operation: str, arguments: dict[str, Any]) -> dict[str, Any]:
        for attempt in range(THROTTLED_ATTEMPTS):
            try:
                answer: dict[str, Any] = getattr(self._runtime(), operation)(**arguments)
            except Exception as error:
                if _throttled(error) and attempt < THROTTLED_ATTEMPTS - 1:
                    time.sleep(random.uniform(0, THROTTLED_PAUSE_SECONDS))  # Bedrock made nothing: ask again
                    continue
                _raise_failure(error)
            return answer
        raise AssertionError("unreachable")


THROTTLED_ATTEMPTS = 2
THROTTLED_PAUSE_SECONDS = 0.5


def _throttled(error: Exception) -> bool:
    from botocore.exceptions import ClientError

    return isinstance(error, ClientError) and error.response.get("Error", {}).get("Code") == "ThrottlingException"


async def _events(stream: Any, translator: response.StreamTranslator) -> AsyncIterator[StreamEvent]:
    events = iter(stream)
    try:
        while True:
            # abandon_on_cancel: a client that goes away does not wait for Bedrock's next event;
            # closing the stream below ends the blocked read in the worker thread.
            event = await anyio.to_thread.run_sync(_next_event, events, abandon_on_cancel=True)
            if event is None:
                if translator.finish_reason is None:  # no messageStop: the stream ended before the answer
                    raise UpstreamFailure(ENDED_EARLY)
                return
            for chunk in translator.feed(event):
                yield StreamEvent(chunks=[chunk])
    finally:
        _close(stream)


def _next_event(events: Iterator[Any]) -> dict[str, Any] | None:
    try:
        event = next(events, None)
    except Exception as error:
        _raise_failure(error)
    return event if isinstance(event, dict) else None


def _close(stream: Any) -> None:
    close = getattr(stream, "close", None)
    if callable(close):
        with contextlib.suppress(Exception):  # closing a broken stream may fail; nothing is left to do
            close()


def _raise_failure(error: Exception) -> NoReturn:
    failure = _failure(error)
    if failure is error:
        raise error
    raise failure from error


def _failure(error: Exception) -> Exception:
    """What a boto3 / botocore / urllib3 exception means for the gateway."""
    from botocore.exceptions import (
        BotoCoreError,
        ClientError,
        ConnectTimeoutError,
        EventStreamError,
        NoCredentialsError,
        ParamValidationError,
        ReadTimeoutError,
    )
    from urllib3.exceptions import HTTPError as Urllib3Error
    from urllib3.exceptions import ReadTimeoutError as Urllib3ReadTimeout

    if isinstance(error, EventStreamError):  # an exception event in the middle of a ConverseStream
        details = error.response.get("Error", {})
        return response.stream_failure(str(details.get("Code") or "exception"), details.get("Message"))
    if isinstance(error, ClientError):
        details = error.response.get("Error", {})
        metadata = error.response.get("ResponseMetadata", {})
        headers = metadata.get("HTTPHeaders") or {}
        return response.failure_from(
            str(details.get("Code") or ""),
            str(details.get("Message") or ""),
            metadata.get("HTTPStatusCode"),
            retry_after=headers.get("retry-after"),
        )
    if isinstance(error, ReadTimeoutError | ConnectTimeoutError | Urllib3ReadTimeout):
        return UpstreamTimeout("Amazon Bedrock did not answer in time")
    if isinstance(error, ParamValidationError):  # botocore checks the request against Bedrock's schema
        return UpstreamRefusal(400, f"Amazon Bedrock cannot take this request: {error}")
    if isinstance(error, NoCredentialsError):
        return UpstreamFailure("the gateway has no AWS credentials to call Amazon Bedrock")
    if isinstance(error, BotoCoreError | Urllib3Error | OSError):
        return UpstreamFailure(f"could not reach Amazon Bedrock ({type(error).__name__})")
    return error
