"""Error bodies of the OpenAI-shaped paths (Anthropic's and Gemini's routes keep their own).

Every such body is OpenAI's `{"error": {"message", "type", "code", "param"}}` plus the HTTP `status`
(poeti's envelope). Under `/api/v1/` (the credits platform: "every /api/v1/* error") `type` is the
code, and an unknown model is `model_not_available`, the credits platform's name for it."""

from __future__ import annotations

from typing import Any

from gateway.errors import GatewayError

CREDITS_PLATFORM_PREFIX = "/api/v1/"
CREDITS_PLATFORM_CODES = {"model_not_found": "model_not_available"}


def error_body(path: str, error: GatewayError) -> dict[str, Any]:
    body = error.openai_body()
    fields = body["error"]
    fields["status"] = error.status
    if path.startswith(CREDITS_PLATFORM_PREFIX):
        code = CREDITS_PLATFORM_CODES.get(error.code, error.code)
        fields["type"] = fields["code"] = code
    return body
