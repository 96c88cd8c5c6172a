"""Lambda entry points of the buffered functions: Mangum around the app, with Powertools' Logger
(Lambda context in every line) and Tracer (X-Ray) applied on the first invocation, not at import."""

from __future__ import annotations

from collections.abc import Callable
from contextvars import ContextVar
from typing import Any

from gateway.observability import logger, tracer

Handler = Callable[[dict[str, Any], Any], Any]
_invocation: ContextVar[Any] = ContextVar("lambda_context", default=None)


def lambda_context() -> Any:
    """The Lambda context of the invocation being served (None outside Lambda)."""
    return _invocation.get()


def observed(handler: Handler) -> Handler:
    """Wrap a Lambda handler with Logger and Tracer, lazily."""
    wrapped: Handler | None = None

    def entry(event: dict[str, Any], context: Any) -> Any:
        nonlocal wrapped
        if wrapped is None:
            wrapped = tracer().capture_lambda_handler(logger().inject_lambda_context(handler))
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
