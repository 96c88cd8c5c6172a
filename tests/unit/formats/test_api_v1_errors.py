"""Error envelopes of the OpenAI-shaped routes: OpenAI's plus the HTTP `status` (poeti's envelope
has it); on the `/api/v1` routes (the credits platform's base URL) `type` equal to `code`, and an
unknown model `model_not_available`."""

from __future__ import annotations

import pytest

from gateway import errors
from gateway.formats.inbound import error_envelope


def test_openai_routes_answer_openais_envelope_with_the_http_status() -> None:
    body = error_envelope("openai", errors.InvalidApiKey("Invalid API key."))
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
        (errors.InvalidApiKey("Invalid API key."), "invalid_api_key", 401),
        (errors.InsufficientCredits("Top up."), "insufficient_credits", 402),
        (errors.ApiDisabled("Disabled."), "api_disabled", 403),
        (errors.ProviderNotConfigured("None."), "provider_not_configured", 503),
        (errors.ProviderError("Failed."), "provider_error", 502),
    ],
)
def test_every_api_v1_error_has_type_equal_to_code(error: errors.GatewayError, code: str, status: int) -> None:
    fields = error_envelope("api_v1", error)["error"]
    assert (fields["type"], fields["code"], fields["status"], fields["message"]) == (code, code, status, error.message)
