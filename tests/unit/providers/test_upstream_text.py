"""An upstream's error text goes to the client, the logs and the trace only once nothing in it can be
a credential: proxies behind a channel (LiteLLM, gemini-openai-proxy) quote their own upstream's URL,
with its `?key=`, in their errors. And Google's answer to a bad key (400) is the operator's failure."""

from __future__ import annotations

import json

import pytest

from gateway.errors import ProviderError, UpstreamRejected
from gateway.providers.errors import MAX_UPSTREAM_TEXT, UpstreamFailure, UpstreamRefusal, api_error, redacted
from gateway.providers.gemini import response as gemini
from gateway.providers.http import raise_for_status
from gateway.providers.openai import response as openai

GOOGLE_KEY = "AIzaSyD-operator-google-key-0123456789"
QUOTED_URL = f"https://generativelanguage.googleapis.com/v1beta/models/m:generateContent?key={GOOGLE_KEY}&alt=sse"


@pytest.mark.parametrize(
    ("text", "secret"),
    [
        (f"litellm.BadRequestError: Client error '400 Bad Request' for url '{QUOTED_URL}'", GOOGLE_KEY),
        ("proxy failed: https://user:hunter2@upstream.example/v1/chat", "hunter2"),
        ('invalid api_key: "sk-proj-abcdefghijk12345"', "sk-proj-abcdefghijk12345"),
        ("upstream said: Authorization: Bearer eyJhbGciOi.payload.sig rejected", "eyJhbGciOi.payload.sig"),
        ("x-goog-api-key=AIzaSyAnotherKey0123456789abcd was refused", "AIzaSyAnotherKey0123456789abcd"),
    ],
    ids=["url-query", "url-userinfo", "named-key", "bearer", "goog-header"],
)
def test_no_credential_survives_in_an_upstream_text(text: str, secret: str):
    assert secret not in redacted(text)


def test_an_upstream_text_keeps_what_the_client_needs_and_no_more():
    advice = "max_tokens is too large: 5000. This model supports at most 4096 completion tokens"
    assert redacted(advice) == advice
    assert redacted("The key 'messages' is required") == "The key 'messages' is required"
    assert len(redacted("x" * 10 * MAX_UPSTREAM_TEXT)) == MAX_UPSTREAM_TEXT


@pytest.mark.parametrize("status", [400, 503])
def test_a_refusal_or_failure_quoting_a_keyed_url_reaches_the_client_without_the_key(status: int):
    body = json.dumps({"error": {"message": f"Client error for url '{QUOTED_URL}'", "type": None}}).encode()
    with pytest.raises((UpstreamRefusal, UpstreamFailure)) as raised:
        raise_for_status(status, body, {}, openai.error_from)
    answered = api_error(raised.value)
    assert isinstance(answered, UpstreamRejected if status == 400 else ProviderError)
    assert GOOGLE_KEY not in answered.message
    assert GOOGLE_KEY not in str(raised.value)  # nor in what is logged or traced of it


def test_a_failure_raised_with_a_keyed_text_elsewhere_is_answered_without_it():
    assert GOOGLE_KEY not in api_error(UpstreamFailure(f"stream broke at {QUOTED_URL}")).message


def test_googles_answer_to_a_bad_key_is_the_operators_failure_not_the_clients_bad_request():
    body = {
        "error": {
            "code": 400,
            "message": "API key not valid. Please pass a valid API key.",
            "status": "INVALID_ARGUMENT",
            "details": [{"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": "API_KEY_INVALID"}],
        }
    }
    with pytest.raises(UpstreamFailure) as raised:
        raise_for_status(400, json.dumps(body).encode(), {}, gemini.error_from)
    assert raised.value.status == 401
    assert "API key not valid" not in api_error(raised.value).message
    # a reason of any JSON shape is read without failing
    body["error"]["details"] = [{"reason": ["x"]}, "text", {"fieldViolations": [{"field": "contents"}]}]
    with pytest.raises(UpstreamRefusal) as refused:
        raise_for_status(400, json.dumps(body).encode(), {}, gemini.error_from)
    assert refused.value.param == "contents"
