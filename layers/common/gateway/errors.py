"""Domain errors. Each maps to one HTTP status and one error code of docs/API.md."""

from __future__ import annotations

from typing import Any, ClassVar


class GatewayError(Exception):
    status: ClassVar[int] = 500
    code: ClassVar[str] = "internal_error"
    type: ClassVar[str] = "api_error"

    def __init__(
        self,
        message: str,
        *,
        param: str | None = None,
        headers: dict[str, str] | None = None,
        code: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.param = param
        self.headers = headers or {}
        if code is not None:
            self.code = code  # type: ignore[misc]

    def openai_body(self) -> dict[str, Any]:
        return {"error": {"message": self.message, "type": self.type, "code": self.code, "param": self.param}}


class InvalidRequest(GatewayError):
    status = 400
    code = "invalid_request"
    type = "invalid_request_error"


class InvalidJson(InvalidRequest):
    code = "invalid_json"


class ModelRequired(InvalidRequest):
    code = "model_required"


class MessagesRequired(InvalidRequest):
    code = "messages_required"


class PromptRequired(InvalidRequest):
    code = "prompt_required"


class InvalidApiKey(GatewayError):
    status = 401
    code = "invalid_api_key"
    type = "authentication_error"


class InsufficientCredits(GatewayError):
    status = 402
    code = "insufficient_credits"
    type = "insufficient_credits"


class ApiDisabled(GatewayError):
    status = 403
    code = "api_disabled"
    type = "permission_error"


class ModelNotAllowed(ApiDisabled):
    code = "model_not_allowed"


class Forbidden(ApiDisabled):
    code = "forbidden"


class NotFound(GatewayError):
    status = 404
    code = "not_found"
    type = "not_found_error"


class ModelNotFound(NotFound):
    code = "model_not_found"


class MethodNotAllowed(GatewayError):
    status = 405
    code = "method_not_allowed"
    type = "invalid_request_error"


class Conflict(GatewayError):
    status = 409
    code = "conflict"
    type = "invalid_request_error"


class RequestTooLarge(GatewayError):
    status = 413
    code = "request_too_large"
    type = "invalid_request_error"


class RateLimited(GatewayError):
    status = 429
    code = "rate_limit_exceeded"
    type = "rate_limit_error"


class ProviderError(GatewayError):
    status = 502
    code = "provider_error"
    type = "api_error"


class ServiceUnavailable(GatewayError):
    status = 503
    code = "service_unavailable"
    type = "api_error"


class ProviderNotConfigured(ServiceUnavailable):
    code = "provider_not_configured"


class ProviderTimeout(GatewayError):
    status = 504
    code = "provider_timeout"
    type = "api_error"


class DeadlineExceeded(GatewayError):
    """The invocation's time limit came before the answer did: ended and settled while we still can."""

    status = 504
    code = "deadline_exceeded"
    type = "api_error"


class UpstreamRejected(GatewayError):
    """The upstream refused the request itself (4xx): the client's to fix, passed on as is."""

    type = "invalid_request_error"

    def __init__(self, status: int, message: str, *, code: str | None = None, param: str | None = None):
        super().__init__(message, code=code or "invalid_request", param=param)
        self.status = status  # type: ignore[misc]
