"""FastAPI app factory shared by every function: trace ids, body limits, and errors answered in the
envelope of the format the route speaks (gateway.routes; OpenAI's by default)."""

from __future__ import annotations

import functools
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Annotated, Any

import anyio
from starlette.datastructures import MutableHeaders
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from gateway import afterwards
from gateway.auth.authenticate import Principal, Requirement, authenticate, authenticate_from_cache, credential_from
from gateway.config import get_settings
from gateway.deadline import CONTEXT_HEADER
from gateway.errors import (
    GatewayError,
    InvalidJson,
    InvalidRequest,
    MessagesRequired,
    MethodNotAllowed,
    ModelRequired,
    NotFound,
    PromptRequired,
    RequestTooLarge,
    ServiceUnavailable,
)
from gateway.ids import new_trace_id
from gateway.observability import adopt_trace_header, emit_cold_start, emit_count, logger
from gateway.routes import Routes, build_all
from gateway.storage.dynamo_client import DynamoError
from gateway.storage.errors import StorageUnavailable
from gateway.web import (
    Depends,
    FastAPI,
    JSONResponse,
    Request,
    RequestValidationError,
    StreamingResponse,
)

TRACE_HEADER = "X-Trace-ID"
INTERNAL_PATHS = frozenset({"/health"})  # served by every app, not exposed through API Gateway


def create_app(*routes: Routes, title: str = "AI Gateway", answers_before_settling: bool = False) -> FastAPI:
    """`answers_before_settling`: the app writes a buffered answer's settlement after it (chat); in
    Lambda it then keeps each invocation open until that is done (gateway.afterwards)."""
    app = _App(
        title=title,
        version="0.1.0",
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
        dependencies=[Depends(_refuse_oversized)],
        lifespan=_lifespan if answers_before_settling else None,
        # FastAPI's own OpenTelemetry spans (on once any tracer provider is set, as an operator's
        # tracing layer does) would carry the URL's query, where Gemini clients may put the key: the
        # gateway traces with X-Ray and its own redaction (gateway/observability.py)
        telemetry={"tracing": False, "metrics": False, "logs": False, "auto_configure": False},
    )
    for declared in routes:
        declared.add_to(app)  # each route built when a request first reaches it
    app.add_exception_handler(GatewayError, _gateway_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(DynamoError, _storage_error)
    app.add_exception_handler(StorageUnavailable, _storage_error)
    app.add_exception_handler(Exception, _unexpected_error)
    app.add_api_route("/health", _health, methods=["GET"], include_in_schema=False)
    app.add_middleware(RequestContextMiddleware)
    return app


@asynccontextmanager
async def _lifespan(_: FastAPI) -> AsyncIterator[None]:
    """Under uvicorn behind the Web Adapter (Mangum runs no lifespan): keep the environment awake
    while an answer's settlement is written."""
    afterwards.start_extension()
    yield


class _App(FastAPI):
    def openapi(self) -> dict[str, Any]:
        """The document of every route: the ones no request reached yet are built for it."""
        build_all(self)
        return super().openapi()


class RequestContextMiddleware:
    """Gives each request a trace id (state, logs, `X-Trace-ID`) and reads its body, up to the limit:
    an oversized body is dropped, and refused (413) once its route is known. Once the response is
    sent, the work the request left for after it (gateway.afterwards) runs."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        invocations = afterwards.request_ids(
            value.decode("latin-1") for name, value in scope["headers"] if name == CONTEXT_HEADER.encode()
        )
        await afterwards.serve(self._serve, scope, receive, send, invocations)

    async def _serve(self, scope: Scope, receive: Receive, send: Send) -> None:
        trace_id = new_trace_id()
        scope.setdefault("state", {})["trace_id"] = trace_id
        emit_cold_start()
        adopt_trace_header(_header(scope, b"x-amzn-trace-id"))
        logger().thread_safe_append_keys(trace_id=trace_id)

        started = False

        async def send_with_trace(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                MutableHeaders(scope=message)[TRACE_HEADER] = trace_id
            await send(message)

        body = await _read_body(receive, get_settings().max_body_bytes)
        if body is None:
            scope["state"]["oversized"] = True
            body = b""
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        try:
            await self.app(scope, replay, send_with_trace)
        except Exception as error:  # what no handler took: answered here, with the trace id it asks to quote
            if started:
                raise
            await _unexpected(error, Request(scope))(scope, replay, send_with_trace)


class EventStreamResponse(StreamingResponse):
    """SSE that always closes its source, so the stream's settlement runs even if the client left."""

    media_type = "text/event-stream"

    def __init__(self, events: AsyncIterator[bytes], headers: dict[str, str] | None = None) -> None:
        super().__init__(events, headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no", **(headers or {})})

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            close = getattr(self.body_iterator, "aclose", None)
            if close is not None:
                with anyio.CancelScope(shield=True):
                    await close()


async def _refuse_oversized(request: Request) -> None:
    """Every route's first dependency: before its key is read or its body checked (async: FastAPI
    runs a plain function's dependency in a worker thread)."""
    if request.scope.get("state", {}).get("oversized"):  # RequestContextMiddleware's mark (read from the
        # scope: a missing attribute of request.state raises and catches an AttributeError on every request)
        raise RequestTooLarge(f"Request body is larger than {get_settings().max_body_bytes} bytes.")


def trace_id_of(request: Request) -> str:
    return str(request.state.trace_id)


async def _principal(request: Request, require: Requirement, *, query_key: bool = False) -> Principal:
    """On the event loop when the key cache answers; a worker thread only for a table read."""
    credential = credential_from(request.headers, request.query_params if query_key else None)
    cached = authenticate_from_cache(credential, require=require)
    if cached is not None:
        return cached
    return await anyio.to_thread.run_sync(functools.partial(authenticate, credential, require=require))


async def inference_principal(request: Request) -> Principal:
    return await _principal(request, "inference")


async def gemini_principal(request: Request) -> Principal:
    """Gemini's routes also take `?key=`, as Google's API does; no other route reads the query string."""
    return await _principal(request, "inference", query_key=True)


async def any_principal(request: Request) -> Principal:
    return await _principal(request, "any")


async def gemini_any_principal(request: Request) -> Principal:
    return await _principal(request, "any", query_key=True)


async def management_principal(request: Request) -> Principal:
    return await _principal(request, "management")


async def operator_principal(request: Request) -> Principal:
    """The admin API: an operator key (`sk-gwo-`), read afresh on every call."""
    return await _principal(request, "operator")


def credential_of(request: Request) -> str:
    """The caller's key as presented (already authenticated by the route's dependency)."""
    return credential_from(request.headers) or ""


InferenceKey = Annotated[Principal, Depends(inference_principal)]
GeminiKey = Annotated[Principal, Depends(gemini_principal)]
AnyKey = Annotated[Principal, Depends(any_principal)]
GeminiAnyKey = Annotated[Principal, Depends(gemini_any_principal)]
ManagementKey = Annotated[Principal, Depends(management_principal)]
OperatorKey = Annotated[Principal, Depends(operator_principal)]


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", []):
        if key == name:
            return bytes(value).decode("latin-1")
    return None


async def _read_body(receive: Receive, limit: int) -> bytes | None:
    chunks: list[bytes] = []
    size = 0
    more = True
    while more:
        message = await receive()
        if message["type"] != "http.request":
            break
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
        more = message.get("more_body", False)
    return b"".join(chunks)


def _error_response(error: GatewayError, request: Request) -> JSONResponse:
    """The error in the envelope of the route's format; where no route matched, of the API its path
    is under (the credits platform's `/api/v1`, Gemini's `/v1beta`), else OpenAI's."""
    from gateway.formats.inbound import error_envelope  # the formats' encoders: not in a cold start's imports

    emit_count("ErrorResponses", code=error.code)
    route_format = getattr(request.scope.get("route"), "format", None)
    body = error_envelope(route_format or _format_of_path(request.url.path), error)
    return JSONResponse(body, status_code=error.status, headers=error.headers or None)


def _format_of_path(path: str) -> str:
    if path.startswith("/api/v1/"):
        return "api_v1"
    return "gemini" if path.startswith("/v1beta/") else "openai"


async def _health(request: Request) -> dict[str, str]:
    return {"status": "ok"}


async def _gateway_error(request: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, GatewayError)
    return _error_response(error, request)


async def _validation_error(request: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, RequestValidationError)
    return _error_response(_explain(error.errors()), request)


def _explain(errors: Sequence[Any]) -> GatewayError:
    """The first problem, in words a client can act on; never echoes the input back."""
    first = errors[0] if errors else {}
    kind = first.get("type", "")
    location = [str(part) for part in first.get("loc", ())][1:]  # after "body" / "query" / "path"
    field = ".".join(location)
    if kind == "json_invalid":
        return InvalidJson("The request body is not valid JSON.")
    if not location and kind in ("missing", "model_attributes_type", "dict_type"):
        return InvalidRequest("The request body must be a JSON object.")
    absent = kind in ("missing", "string_too_short", "too_short") or first.get("input", "") is None
    if field == "model" and absent:
        return ModelRequired("`model` is required.", param="model")
    if field == "prompt" and absent:
        return PromptRequired("`prompt` is required.", param="prompt")
    if field == "messages" and absent:
        return MessagesRequired("`messages` must be a non-empty array.", param="messages")
    return InvalidRequest(f"Invalid `{field or 'body'}`: {first.get('msg', 'invalid value')}.", param=field or None)


async def _http_error(request: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, StarletteHTTPException)
    path = request.url.path
    if error.status_code == 404:
        return _error_response(NotFound(f"No route for {request.method} {path}."), request)
    if error.status_code == 405:
        return _error_response(MethodNotAllowed(f"{request.method} is not allowed on {path}."), request)
    if 400 <= error.status_code < 500:
        return _error_response(InvalidRequest(f"The request could not be read: {error.detail}"), request)
    return _unexpected(error, request)


async def _storage_error(request: Request, error: Exception) -> JSONResponse:
    """DynamoDB throttled or unreachable after the client's retries (a key lookup, a transaction's
    conflicts): retry later. A ValidationException is no outage but a write nothing checked: a bug."""
    if getattr(error, "code", "") == "ValidationException":
        return _unexpected(error, request)
    logger().warning("storage unavailable", extra={"code": getattr(error, "code", "")})
    busy = ServiceUnavailable("The gateway's store is busy; retry shortly.", headers={"Retry-After": "1"})
    return _error_response(busy, request)


async def _unexpected_error(request: Request, error: Exception) -> JSONResponse:
    return _unexpected(error, request)


def _unexpected(error: Exception, request: Request) -> JSONResponse:
    logger().exception("unhandled error", extra={"error_type": type(error).__name__})
    message = "The gateway failed unexpectedly. Quote the X-Trace-ID header when reporting it."
    return _error_response(GatewayError(message), request)
