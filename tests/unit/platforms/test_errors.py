"""Error bodies by path: OpenAI's envelope plus `status` (poeti); under /api/v1/ the credits
platform's `type` equal to `code`, and its `model_not_available`."""

from __future__ import annotations

import pytest

from gateway import errors
from gateway.formats.inbound import error_envelope


@pytest.mark.parametrize("path", ["/v1/chat/completions", "/v1/embeddings", "/api/token", "/api/usage"])
def test_openai_shaped_paths_answer_openais_envelope_with_the_http_status(path: str) -> None:
    body = error_envelope(path, errors.InvalidApiKey("Invalid API key."))
    assert body == {
        "error": {
            "message": "Invalid API key.",
            "type": "authentication_error",
            "code": "invalid_api_key",
            "param": None,
            "status": 401,
        }
    }


@pytest.mark.parametrize(
    ("error", "code", "status"),
    [
        (errors.ModelNotFound("No such model.", param="model"), "model_not_available", 404),
        (errors.ModelRequired("`model` is required.", param="model"), "model_required", 400),
        (errors.MessagesRequired("`messages` is required."), "messages_required", 400),
        (errors.PromptRequired("`prompt` is required."), "prompt_required", 400),
        (errors.InsufficientCredits("Top up."), "insufficient_credits", 402),
        (errors.ApiDisabled("Disabled."), "api_disabled", 403),
        (errors.ProviderNotConfigured("None."), "provider_not_configured", 503),
        (errors.ProviderError("Failed."), "provider_error", 502),
    ],
)
def test_every_api_v1_error_has_type_equal_to_code(error: errors.GatewayError, code: str, status: int) -> None:
    for path in ("/api/v1/chat/completions", "/api/v1/models", "/api/v1/usage", "/api/v1/api-keys"):
        fields = error_envelope(path, error)["error"]
        assert (fields["type"], fields["code"], fields["status"]) == (code, code, status)
        assert fields["message"] == error.message


def test_anthropic_and_gemini_paths_keep_their_own_envelopes() -> None:
    anthropic = error_envelope("/v1/messages", errors.ModelNotFound("No such model."))
    gemini = error_envelope("/v1beta/models/x:generateContent", errors.ModelNotFound("No such model."))
    assert anthropic["type"] == "error"
    assert anthropic["error"]["type"] == "not_found_error"
    assert gemini["error"]["status"] == "NOT_FOUND"
