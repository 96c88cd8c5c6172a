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

    return observed(Mangum(app, lifespan="off"))
