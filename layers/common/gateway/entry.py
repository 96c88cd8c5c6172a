"""Lambda entry points of the buffered functions: Mangum around the app, with Powertools' Logger
(Lambda context in every line) and Tracer (X-Ray) applied on first use, not at import."""

from __future__ import annotations

import gc
from collections.abc import Callable
from contextvars import ContextVar
from typing import Any

from gateway.observability import logger, traced, tracer

Handler = Callable[[dict[str, Any], Any], Any]
_invocation: ContextVar[Any] = ContextVar("lambda_context", default=None)


def lambda_context() -> Any:
    """The Lambda context of the invocation being served (None outside Lambda)."""
    return _invocation.get()


def observed(handler: Handler) -> Handler:
    """Wrap a Lambda handler with Logger, and with Tracer for invocations X-Ray samples; lazily."""
    logged: Handler | None = None
    traced_handler: Handler | None = None

    def entry(event: dict[str, Any], context: Any) -> Any:
        nonlocal logged, traced_handler
        if logged is None:
            # What the import made lives as long as the process: left out of every later collection,
            # the first of which would walk it all (~20 ms of a cold start) and free nothing.
            gc.freeze()
            logged = logger().inject_lambda_context(handler)
        wrapped = logged
        if traced():
            if traced_handler is None:
                # never the response: a new key's full text, usage, traces are no metadata for X-Ray
                traced_handler = tracer().capture_lambda_handler(logged, capture_response=False)
            wrapped = traced_handler
        token = _invocation.set(context)
        try:
            return wrapped(event, context)
        finally:
            _invocation.reset(token)

    return entry


def asgi_handler(app: Any) -> Handler:
    """API Gateway REST proxy events -> the FastAPI app (buffered responses)."""
    from mangum import Mangum

    adapter = Mangum(app, lifespan="off")

    def handle(event: dict[str, Any], context: Any) -> Any:
        try:
            return adapter(_readable(event), context)
        except ValueError:  # Mangum could not build the request: a body that is not the base64 it claims
            return _unreadable()

    return observed(handle)


def _readable(event: Any) -> Any:
    """The event with the header values Mangum reads as numbers made readable: the first port of an
    `X-Forwarded-Port` sent twice (API Gateway's after the client's, joined as "443, 80"), a `Host`
    without a port that is not one. The app reads neither."""
    if not isinstance(event, dict):
        return event
    event = dict(event)
    for field in ("headers", "multiValueHeaders"):
        headers = event.get(field)
        if isinstance(headers, dict):
            event[field] = {name: _readable_value(str(name).lower(), value) for name, value in headers.items()}
    return event


def _readable_value(name: str, value: Any) -> Any:
    if isinstance(value, list):
        values = [_readable_value(name, item) for item in value]
        return values[:1] if name in ("host", "x-forwarded-port") else values
    if not isinstance(value, str):
        return value
    if name == "x-forwarded-port":
        return next((port.strip() for port in value.split(",") if port.strip().isdecimal()), "443")
    if name == "host" and value.count(":") == 1 and not value.rpartition(":")[2].isdecimal():
        return value.rpartition(":")[0]
    return value


def _unreadable() -> dict[str, Any]:
    import json

    from gateway.errors import InvalidRequest
    from gateway.ids import new_trace_id

    body = InvalidRequest("The request could not be read: its body is not the base64 it claims to be.").openai_body()
    return {
        "statusCode": 400,
        "headers": {"content-type": "application/json", "x-trace-id": new_trace_id()},
        "body": json.dumps(body),
        "isBase64Encoded": False,
    }
